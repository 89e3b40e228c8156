"""The one choice of libjpeg reduction (imaging/reduced.py), pinned for the three places that
make it: the model worker (the shorter side stays at the model's min_size), the canvas preview
(at most so many pixels) and the browser's thumbnails (the longer side stays at THUMB_SIZE).
The figures were computed with each caller's own code before they shared one function."""

from __future__ import annotations

import pytest

from labeler.gui.canvas.image_layer import preview_reduction
from labeler.gui.widgets.image_browser import THUMB_SIZE
from labeler.imaging.reduced import is_jpeg_name, reduction

SIZES = [(100, 80), (200, 150), (640, 480), (1600, 900), (3200, 2400), (4000, 3000), (4001, 4000),
         (6000, 4000), (8000, 8000), (20000, 20000), (800, 100)]
FOR_MODEL_512 = [1, 1, 1, 1, 4, 4, 4, 4, 8, 8, 1]
FOR_MODEL_800 = [1, 1, 1, 1, 2, 2, 4, 4, 8, 8, 1]
PREVIEW = [1, 1, 1, 1, 1, 1, 4, 4, 4, 8, 1]
THUMBNAIL = [1, 2, 4, 8, 8, 8, 8, 8, 8, 8, 8]


@pytest.mark.parametrize("size, model_512, model_800, preview, thumbnail",
                         list(zip(SIZES, FOR_MODEL_512, FOR_MODEL_800, PREVIEW, THUMBNAIL)))
def test_the_reductions_each_caller_gets(size, model_512, model_800, preview, thumbnail):
    assert reduction(*size, min_side=512) == model_512
    assert reduction(*size, min_side=800) == model_800
    assert preview_reduction(*size) == preview
    assert reduction(*size, min_side=THUMB_SIZE, longer=True) == thumbnail


def test_preview_thresholds_and_edges():
    assert preview_reduction(1000, 1000, above=500_000, target=2_000_000) == 2  # a preview is at least halved
    assert preview_reduction(3000, 2000, above=1_000_000, target=400_000) == 4
    assert reduction(0, 0, min_side=THUMB_SIZE, longer=True) == 1  # size unknown: decoded whole
    with pytest.raises(ValueError):
        reduction(100, 100)


def test_jpeg_names():
    assert is_jpeg_name("a/B.JPG") and is_jpeg_name("x.jpe") and is_jpeg_name("x.jpeg")
    assert not is_jpeg_name("x.png") and not is_jpeg_name("jpg")
