"""Property tests (hypothesis) for the shape checks and for the readers that use them:
whatever a file holds, an import either stores only shapes that pass the checks or stops
with one FormatError; no other exception, no bad shape in the project."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from labeler import geometry
from labeler.core import InstanceStatus, MaskRLE, Polygons
from labeler.formats import FormatError, import_coco, import_labelme
from labeler.geometry import validate
from labeler.store import ProjectStore

from ..conftest import write_image

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
H, W = 48, 64

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-100, 200),
    st.integers(-10**12, 10**12),
    st.just(10**400),
)


# --- the checks --------------------------------------------------------------------

@SETTINGS
@given(st.integers(1, 40), st.integers(1, 40), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_compressed_runs_are_the_runs_pycocotools_encoded(h, w, density, seed):
    mask = (np.random.default_rng(seed).random((h, w)) < density).astype(np.uint8)
    counts = mask_utils.encode(np.asfortranarray(mask))["counts"].decode()
    runs = validate.compressed_runs(counts)
    flat = mask.flatten(order="F")
    expected = np.diff(np.r_[0, np.flatnonzero(np.diff(flat)) + 1, flat.size])
    if flat[0]:
        expected = np.r_[0, expected]
    assert runs.tolist() == expected.tolist()
    assert validate.check_mask(MaskRLE(h, w, counts), h, w).counts == counts


@SETTINGS
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=130), max_size=40))
def test_any_counts_string_is_refused_or_decodes_to_the_image(counts):
    try:
        rle = validate.check_mask(MaskRLE(H, W, counts), H, W)
    except validate.ShapeError as exc:
        assert "\n" not in str(exc)
        return
    mask = geometry.rle_to_mask(rle)  # only now is pycocotools' decoder trusted with it
    assert mask.shape == (H, W) and int(mask.sum()) == geometry.area(rle)


@SETTINGS
@given(st.lists(st.integers(-5, 4000) | st.integers(2**31, 2**70) | st.booleans() | st.floats(), max_size=8))
def test_uncompressed_counts_are_refused_or_add_up(counts):
    try:
        rle = validate.rle_from_coco({"size": [H, W], "counts": counts}, H, W)
    except validate.ShapeError:
        return
    assert sum(counts) == H * W and min(counts) >= 0
    assert geometry.area(rle) == sum(counts[1::2])


@SETTINGS
@given(st.lists(st.lists(numbers, min_size=6, max_size=16).filter(lambda r: len(r) % 2 == 0),
                min_size=1, max_size=4))
def test_polygons_are_refused_or_safe_to_rasterise(rings):
    try:
        shape = validate.polygons_from_flat(rings, H, W)
    except validate.ShapeError as exc:
        assert "\n" not in str(exc)
        return
    area = geometry.area(shape)
    assert math.isfinite(area) and area > 0
    xs = [x for part in shape.parts for ring in part for x, _ in ring]
    ys = [y for part in shape.parts for ring in part for _, y in ring]
    assert -W <= min(xs) and max(xs) <= 2 * W and -H <= min(ys) and max(ys) <= 2 * H
    assert geometry.to_mask(shape, H, W).any()


def test_limits_are_stated_in_the_errors():
    with pytest.raises(validate.ShapeError, match="100,000 vertices"):
        validate.check_counts([100_001], 1)
    with pytest.raises(validate.ShapeError, match="1,000 parts"):
        validate.check_counts([3] * 1001, 1001)
    with pytest.raises(validate.ShapeError, match="200,000 vertices in one instance"):
        validate.check_counts([100_000] * 3, 3)
    with pytest.raises(validate.ShapeError, match="larger than its image"):
        validate.check_mask_image_size(30000, 30000, H, W)


def test_a_collapsed_part_is_dropped_and_the_rest_kept():
    """make_valid refused this pair ("Overlay input is mixed-dimension"): found by hypothesis."""
    shape = validate.polygons_from_flat([[0, 0, 0, 0, 0, 0], [0, 2, 1, 0, 0, 1]], H, W)
    assert shape == Polygons.from_flat([[0, 2, 1, 0, 0, 1]])
    with pytest.raises(validate.EmptyShape):
        validate.polygons_from_flat([[0, 0, 5, 5, 10, 10]], H, W)


def test_a_bow_tie_is_repaired_not_refused():
    bow_tie = Polygons.from_flat([[0, 0, 10, 10, 10, 0, 0, 10]])
    assert validate.check_shape(bow_tie, H, W) == bow_tie
    assert geometry.area(bow_tie) == 50


# --- the readers -------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
segmentations = st.one_of(
    json_values,
    st.lists(st.lists(numbers, min_size=6, max_size=12), max_size=3),
    st.fixed_dictionaries({"size": st.sampled_from([[H, W], [W, H], [H, W, 1], ["48", 64]]),
                           "counts": st.text(max_size=12) | st.lists(st.integers(-3, 4000), max_size=5)}),
)
ids = st.one_of(st.just(1), st.just(3), st.integers(-2, 5), json_values)
annotations = st.fixed_dictionaries(
    {"id": ids, "image_id": ids, "category_id": ids, "segmentation": segmentations},
    optional={"bbox": st.lists(numbers, min_size=4, max_size=4) | json_values, "iscrowd": json_values})
names = st.text(max_size=6) | st.sampled_from(["cat", "dog", "\ud800", "\x1b[31m", "a" * 300]) | json_values
coco_files = st.fixed_dictionaries({
    "images": st.just([{"id": 1, "file_name": "a.png", "width": W, "height": H}]) | json_values,
    "categories": st.lists(st.fixed_dictionaries({"id": ids, "name": names}), max_size=3)
    | st.just([{"id": 3, "name": "cat"}]),
    "annotations": st.lists(annotations, max_size=4),
})


def fresh_store(folder: Path) -> ProjectStore:
    write_image(folder / "images" / "a.png", W, H)
    store = ProjectStore.create(folder / "project", folder / "images", ["cat"])
    return store


def assert_only_good_shapes(store: ProjectStore) -> None:
    for image in store.images():
        for instance in store.instances(image.id, statuses=list(InstanceStatus)):
            validate.check_shape(instance.shape, image.height, image.width)
    for row in store.instance_rows(statuses=list(InstanceStatus)):
        assert math.isfinite(row.area) and all(math.isfinite(v) for v in row.bbox)


def run_import(importer, store: ProjectStore, path: Path, content: str) -> None:
    path.write_text(content, encoding="utf-8", errors="surrogatepass")
    before = list(store.instance_rows(statuses=list(InstanceStatus)))
    try:
        importer(store, [path])
    except FormatError as exc:
        assert "\n" not in str(exc)
        assert list(store.instance_rows(statuses=list(InstanceStatus))) == before
    assert_only_good_shapes(store)


@SETTINGS
@given(coco_files)
def test_coco_reader_never_raises_anything_but_format_error(data):
    check_reader(import_coco, "in.json", data)


well_formed_coco = st.fixed_dictionaries({
    "images": st.just([{"id": 1, "file_name": "a.png", "width": W, "height": H}]),
    "categories": st.just([{"id": 3, "name": "cat"}]),
    "annotations": st.lists(st.fixed_dictionaries(
        {"id": st.integers(0, 9), "image_id": st.just(1), "category_id": st.just(3),
         "segmentation": segmentations | st.lists(st.lists(st.floats(-10, 80), min_size=6, max_size=10)
                                                  .filter(lambda r: len(r) % 2 == 0), min_size=1, max_size=3)},
        optional={"bbox": st.lists(numbers, min_size=4, max_size=4)}), max_size=4),
})


@SETTINGS
@given(well_formed_coco)
def test_coco_reader_stores_only_good_shapes(data):
    """Files whose structure is right and whose shapes are anything: each shape is
    imported or skipped with a warning."""
    check_reader(import_coco, "in.json", data)


labelme_shapes = st.fixed_dictionaries({
    "label": names,
    "points": st.lists(st.lists(numbers, min_size=2, max_size=2), max_size=6) | json_values,
    "shape_type": st.sampled_from(["polygon", "rectangle", "circle", "mask", "line", "point"]) | json_values,
}, optional={"group_id": st.none() | st.integers(0, 2) | json_values, "mask": json_values})
labelme_files = st.fixed_dictionaries({
    "shapes": st.lists(labelme_shapes, max_size=4) | json_values,
    "imagePath": st.sampled_from(["a.png", "missing.png", "x" * 300, None]) | json_values,
    "imageWidth": st.sampled_from([W, 10]) | json_values,
    "imageHeight": st.sampled_from([H, 10]) | json_values,
}, optional={"imageData": json_values})


@SETTINGS
@given(labelme_files)
def test_labelme_reader_never_raises_anything_but_format_error(data):
    check_reader(import_labelme, "images/a.json", data)


def png_b64(width: int, height: int) -> str:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (width, height), 255).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


well_formed_labelme = st.fixed_dictionaries({
    "shapes": st.lists(st.fixed_dictionaries({
        "label": st.sampled_from(["cat", "dog"]),
        "points": st.lists(st.lists(st.floats(-10, 80), min_size=2, max_size=2), max_size=6)
        | st.lists(st.lists(numbers, min_size=2, max_size=2), max_size=6),
        "shape_type": st.sampled_from(["polygon", "rectangle", "circle", "mask"]),
        "group_id": st.sampled_from([None, 1]),
        "mask": st.builds(png_b64, st.integers(1, 80), st.integers(1, 60)),
    }), max_size=5),
    "imagePath": st.just("a.png"), "imageWidth": st.just(W), "imageHeight": st.just(H),
})


@SETTINGS
@given(well_formed_labelme)
def test_labelme_reader_stores_only_good_shapes(data):
    check_reader(import_labelme, "images/a.json", data)


def check_reader(importer, name: str, data) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = fresh_store(Path(tmp))
        try:
            run_import(importer, store, Path(tmp) / name, json.dumps(data))
        finally:
            store.close()
