from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from labeler import geometry
from labeler.core import ImageStatus, MaskRLE
from labeler.formats import FormatError, import_labelme

from ..conftest import write_json


def labelme(shapes, image_path="a.png", **extra):
    return {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image_path,
            "imageData": None, "imageHeight": 48, "imageWidth": 64, **extra}


def shape(label, points, kind="polygon", group=None, **extra):
    return {"label": label, "points": points, "group_id": group, "shape_type": kind, "flags": {}, **extra}


def png_b64(array: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def by_category(store, image):
    names = {c.id: c.name for c in store.categories()}
    return sorted(((names[i.category_id], i.shape) for i in store.instances(image.id)), key=lambda p: p[0])


def test_every_area_shape_and_groups(store):
    mask_patch = np.zeros((4, 6), np.uint8)
    mask_patch[1:3, 1:5] = 1
    shapes = [
        shape("cat", [[1, 1], [11, 1], [11, 11]]),
        shape("dog", [[20, 20], [30, 25]], "rectangle"),
        shape("bird", [[40, 20], [40, 30]], "circle"),
        shape("mole", [[50, 40], [55, 43]], "mask", mask=png_b64(mask_patch * 255)),
        shape("person", [[0, 30], [5, 30], [5, 35], [0, 35]], group=1),
        shape("person", [[10, 30], [15, 30], [15, 35], [10, 35]], group=1),
        shape("person", [[0, 40], [5, 40], [5, 45]], group=2),
        shape("edge", [[0, 0], [10, 10]], "line"),
        shape("__ignore__", [[0, 0], [3, 0], [3, 3]]),
    ]
    write_json(store.image_root / "a.json", labelme(shapes))
    report = import_labelme(store, [store.image_root / "a.json"])
    assert report.instances_added == 6
    assert "line shape has no area" in "\n".join(report.warning_lines())
    image = store.image_by_path("a.png")
    assert image.status == ImageStatus.ACCEPTED
    got = dict((name, s) for name, s in by_category(store, image) if name != "person")
    assert geometry.area(got["cat"]) == 50
    assert geometry.area(got["dog"]) == 50
    assert abs(geometry.area(got["bird"]) - np.pi * 100) < 1.0
    assert isinstance(got["mole"], MaskRLE) and geometry.area(got["mole"]) == 8
    assert geometry.bbox(got["mole"]) == (51, 41, 4, 2)
    persons = [s for name, s in by_category(store, image) if name == "person"]
    assert sorted(len(p.parts) for p in persons) == [1, 2]  # group 1 is one instance of two parts


def test_image_path_mismatch_resolves_by_stem(store):
    write_json(store.image_root / "b.json", labelme([shape("cat", [[1, 1], [9, 1], [9, 9]])], "b.jpeg",
                                                   imageWidth=80, imageHeight=60))
    report = import_labelme(store, [store.image_root])
    assert report.instances_added == 1
    assert "matched by name" in "\n".join(report.warning_lines())


def test_embedded_image_data_is_extracted(store):
    pixels = np.full((12, 16, 3), 200, np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    data = labelme([shape("cat", [[1, 1], [9, 1], [9, 9]])], "elsewhere/gone.png",
                   imageData=base64.b64encode(buf.getvalue()).decode(), imageWidth=16, imageHeight=12)
    write_json(store.image_root / "emb" / "photo.json", data)
    report = import_labelme(store, [store.image_root / "emb" / "photo.json"])
    assert report.instances_added == 1 and report.images_added == 1
    assert (store.image_root / "emb" / "photo.png").is_file()
    assert store.image_by_path("emb/photo.png").status == ImageStatus.ACCEPTED


@pytest.mark.parametrize("data, expected", [
    ({"shapes": "nope"}, "no 'shapes' list"),
    (labelme([{"points": [[0, 0], [1, 1], [2, 0]]}]), "shape 0 has no label"),
    (labelme([shape("cat", [[0, 0], [1]])]), "'points' must be a list of [x, y]"),
    (labelme([shape("cat", [[0, 0]], "rectangle")]), "a rectangle needs 2 points"),
    (labelme([shape("cat", [[0, 0], [2, 2]], "mask", mask="!!notbase64png")]), "mask is not a readable PNG"),
    (labelme([shape("cat", [[0, 0], [1, 0], [1, 1]], group="x")]), "group_id must be an integer"),
])
def test_malformed_labelme_imports_nothing(store, data, expected):
    good = write_json(store.image_root / "good.json", labelme([shape("cat", [[1, 1], [9, 1], [9, 9]])]))
    bad = write_json(store.image_root / "b.json", data | {"imagePath": "b.png", "imageWidth": 80,
                                                          "imageHeight": 60})
    with pytest.raises(FormatError) as info:
        import_labelme(store, [good, bad])
    assert str(info.value).startswith(str(bad)) and expected in str(info.value)
    assert all(not store.instances(im.id) for im in store.images())


def test_degenerate_shapes_are_skipped_with_warnings(store):
    write_json(store.image_root / "a.json", labelme([
        shape("cat", [[1, 1], [5, 5]]),  # two-point polygon
        shape("cat", [[1, 1], [1, 1]], "circle"),  # zero radius
        shape("cat", [[1, 1], [2, 2], [3, 3]]),  # collinear
    ]))
    report = import_labelme(store, [store.image_root / "a.json"])
    assert report.instances_added == 0
    assert report.warnings["degenerate polygon (no area); skipped"] == 2
