"""Which decoder the Suggester uses: OpenCV on the CPU, always; the device path (ml.decode,
forced here onto the CPU, where it is torchvision's libjpeg-turbo) gives the same suggestions,
with PNGs and unreadable files going the OpenCV way within the same batch."""

from __future__ import annotations

from labeler.store import ProjectStore
from labeler.workers.protocol import Failed
from labeler.workers.suggest import Suggester

from .conftest import tiny_config


def results(suggester: Suggester, images) -> list:
    out = []
    for ready in suggester.batches(images):
        out += [(item.image_id, item.message) if isinstance(item, Failed) else
                (item[0], [(s.category_id, round(s.score, 6), s.shape.to_json()) for s in item[1]])
                for item in ready]
    return sorted(out, key=lambda r: r[0])


def test_the_cpu_decodes_with_opencv_and_the_device_path_gives_the_same_suggestions(model_project):
    with ProjectStore.open(model_project) as store:
        images = store.images()  # JPEGs and PNGs in turn
        store.image_path(images[3]).write_bytes(b"\xff\xd8\xff\xe0 no longer a JPEG")
        suggester = Suggester(store, tiny_config(model_project, batch_size=3, decode_on_device=True))
        try:
            assert suggester.config.decode_on_device and not suggester.decode_on_device  # CPU: OpenCV
            opencv = results(suggester, images)
            suggester.decode_on_device = True
            on_device = results(suggester, images)
            decoded = suggester._decode_on_device(images)
        finally:
            suggester.close()
    assert on_device == opencv
    assert sum(isinstance(found, str) for _, found in opencv) == 1 and "img3.jpg" in opencv[3][1]
    assert sum(len(found) for _, found in opencv if not isinstance(found, str)) > 0
    kinds = [type(d).__name__ if isinstance(d, BaseException) else type(d[0]).__name__ for d in decoded]
    assert kinds == ["ndarray", "Tensor", "ndarray", "ImageReadError"]  # png, jpg, png, broken jpg
