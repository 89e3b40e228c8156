"""ml.decode on the CPU (torchvision's libjpeg-turbo; on CUDA the same code runs nvJPEG):
the pixels and orientation of the OpenCV path, None for whatever it leaves to OpenCV; and
the Predictor's levers (tensor input, channels_last) giving the default path's detections."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from labeler.imaging import apply_orientation, decode_image
from labeler.ml import Predictor
from labeler.ml.decode import decode_jpegs, orient, plain_jpeg_orientation

from .test_predict import image, tiny


def smooth(height: int = 60, width: int = 80, seed: int = 0) -> np.ndarray:
    """RGB pixels a JPEG keeps well (noise would only test the codec)."""
    return cv2.GaussianBlur(image(height, width, seed), (7, 7), 3)


def save_jpeg(path: Path, rgb: np.ndarray, orientation: int = 1, **options) -> Path:
    im = Image.fromarray(rgb)
    exif = im.getexif()
    if orientation != 1:
        exif[0x0112] = orientation
    im.save(path, exif=exif, quality=90, **options)
    return path


def opencv_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(decode_image(path), cv2.COLOR_BGR2RGB)


def hwc(pixels: torch.Tensor) -> np.ndarray:
    return pixels.permute(1, 2, 0).cpu().numpy()


def test_orient_is_apply_orientation_for_every_exif_value():
    pixels = image(5, 7)
    for orientation in range(1, 9):
        turned = orient(torch.from_numpy(pixels).permute(2, 0, 1), orientation)
        assert np.array_equal(hwc(turned), apply_orientation(pixels.copy(), orientation)), orientation


def test_jpegs_decode_as_the_opencv_path_does_with_their_orientation(tmp_path):
    rgb = smooth()
    paths = [save_jpeg(tmp_path / f"o{o}.jpg", rgb, o) for o in range(1, 9)]
    paths.append(save_jpeg(tmp_path / "progressive.jpg", rgb, progressive=True))
    grey = tmp_path / "grey.jpg"
    Image.fromarray(rgb[:, :, 0]).save(grey)
    paths.append(grey)
    decoded = decode_jpegs(paths, "cpu")
    for path, pixels in zip(paths, decoded):
        assert pixels is not None and pixels.dtype == torch.uint8, path.name
        expected = opencv_rgb(path)
        assert pixels.shape == (3, *expected.shape[:2]), path.name
        # the same libjpeg-turbo in both here; other builds may round a level differently
        assert np.abs(hwc(pixels).astype(int) - expected).max() <= 2, path.name
    assert decoded[5].shape[1:] == (80, 60)  # orientation 6: displayed turned, as the project says


def test_files_it_does_not_take_are_left_to_opencv(tmp_path):
    rgb = smooth()
    cmyk = tmp_path / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(cmyk)
    png = tmp_path / "x.png"
    Image.fromarray(rgb).save(png)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(save_jpeg(tmp_path / "whole.jpg", rgb).read_bytes()[:300])
    good = save_jpeg(tmp_path / "good.jpg", rgb)
    paths = [cmyk, png, broken, tmp_path / "missing.jpg", good, good]
    decoded = decode_jpegs(paths, "cpu", sizes=[(80, 60)] * 5 + [(81, 60)])
    assert decoded[:4] == [None] * 4  # CMYK, not a JPEG, truncated, missing
    assert decoded[4] is not None
    assert decoded[5] is None  # not the size the project has: OpenCV's path says so
    assert plain_jpeg_orientation(cmyk) is plain_jpeg_orientation(png) is None


def test_the_orientation_is_read_behind_large_segments(tmp_path):
    path = save_jpeg(tmp_path / "big-exif.jpg", smooth(), 6)
    data = path.read_bytes()
    comment = b"\xff\xfe" + (60002).to_bytes(2, "big") + b"x" * 60000  # a 60 kB COM segment
    padded = tmp_path / "padded.jpg"
    padded.write_bytes(data[:2] + comment + data[2:])
    assert plain_jpeg_orientation(padded) == plain_jpeg_orientation(path) == 6
    (tmp_path / "cut.jpg").write_bytes(padded.read_bytes()[:1000])
    assert plain_jpeg_orientation(tmp_path / "cut.jpg") is None


def test_tensor_input_and_channels_last_give_the_default_detections():
    pixels = image(96, 128)
    reference = Predictor(tiny(mask_logit=20.0), score_threshold=0.0).predict([pixels])[0]
    tensor = torch.from_numpy(pixels).permute(2, 0, 1).contiguous()
    assert reference
    for found in (Predictor(tiny(mask_logit=20.0), score_threshold=0.0).predict([tensor])[0],
                  Predictor(tiny(mask_logit=20.0), score_threshold=0.0, channels_last=True).predict([pixels])[0]):
        assert [d.label for d in found] == [d.label for d in reference]
        assert np.allclose([d.score for d in found], [d.score for d in reference], atol=1e-5)
        assert np.allclose([d.box for d in found], [d.box for d in reference], atol=1e-3)
    with pytest.raises(ValueError):
        Predictor(tiny()).predict([tensor.float()])
    with pytest.raises(ValueError):
        Predictor(tiny()).predict([tensor[:2]])
