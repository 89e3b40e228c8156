"""EXIF orientation: one rule everywhere (imaging/files.py). A file with orientation N is
sized, decoded (in full and reduced) and labeled as Pillow's ImageOps.exif_transpose shows
it, which is what labelme draws on; old projects are moved onto the rule by
store/orientation.py."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from labeler import geometry
from labeler.core import ImageRecord, Instance, MaskRLE, Polygons
from labeler.formats import import_labelme
from labeler.imaging import read_image_info, scan_images
from labeler.formats.common import add_image_files
from labeler.imaging.files import (
    ORIENTATION_TAG, apply_orientation, decode_image, image_orientation, orient_point, oriented_size,
)
from labeler.store import ProjectStore
from labeler.store.orientation import orient_old_records, orient_shape

from ..conftest import write_json

ORIENTATIONS = range(1, 9)
RAW_W, RAW_H = 70, 45  # stored pixels: not square, not multiples of 8 (reduced sizes round)
MARK = (slice(6, 18), slice(9, 29))  # raw rows 6-17, columns 9-28: a red block, off-centre
MARK_BOX = (9, 6, 29, 18)  # the same block as x0, y0, x1, y1 in raw pixel coordinates


def raw_pixels() -> np.ndarray:
    """RGB: a smooth gradient (every pixel different enough to catch a wrong turn) with a
    red block that a person would outline."""
    y, x = np.mgrid[0:RAW_H, 0:RAW_W]
    rgb = np.stack([40 + x * 2, 60 + y * 3, 200 - x - y], axis=-1).clip(0, 255).astype(np.uint8)
    rgb[MARK] = (230, 20, 20)
    return rgb


def write_oriented(path, orientation: int, fmt: str = "JPEG"):
    """The raw pixels, saved with EXIF Orientation = orientation (tag 0x0112)."""
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    options = {"quality": 95, "subsampling": 0} if fmt == "JPEG" else {}
    Image.fromarray(raw_pixels()).save(path, fmt, exif=exif.tobytes(), **options)
    return path


def pillow_view(path) -> np.ndarray:
    """What labelme shows: exif_transpose of the file, as BGR like decode_image."""
    with Image.open(path) as im:
        return np.ascontiguousarray(np.asarray(ImageOps.exif_transpose(im).convert("RGB"))[:, :, ::-1])


def red_box(bgr: np.ndarray) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (pixel edges) of the red block, found as a person would see it."""
    red = (bgr[:, :, 2] > 180) & (bgr[:, :, 1] < 80) & (bgr[:, :, 0] < 80)
    ys, xs = np.nonzero(red)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.fixture
def jpegs(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    return root, {o: write_oriented(root / f"o{o}.jpg", o) for o in ORIENTATIONS}


# --- sizes and pixels ---------------------------------------------------------------------

@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_size_and_pixels_are_those_exif_transpose_shows(jpegs, orientation):
    path = jpegs[1][orientation]
    view = pillow_view(path)
    info = read_image_info(path)
    assert image_orientation(path) == info.orientation == orientation
    assert (info.width, info.height) == (view.shape[1], view.shape[0])
    assert (info.width, info.height) == oriented_size(RAW_W, RAW_H, orientation)
    pixels = decode_image(path)
    assert pixels.shape == view.shape
    assert np.array_equal(pixels, view)  # same libjpeg output, turned the same way


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_scan_gives_the_displayed_sizes(jpegs, orientation):
    infos, errors = scan_images([jpegs[1][orientation]])
    assert not errors
    assert (infos[0].width, infos[0].height) == oriented_size(RAW_W, RAW_H, orientation)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("reduce", [2, 4, 8])
def test_reduced_decoding_agrees_with_the_full_one(jpegs, orientation, reduce):
    path = jpegs[1][orientation]
    full = decode_image(path)
    small = decode_image(path, reduce)
    height, width = full.shape[:2]
    assert small.shape == (-(-height // reduce), -(-width // reduce), 3)  # libjpeg rounds up
    # The same picture, not a turned or mirrored one: compare with the full decode shrunk
    # to the same size; the red block is where it is on the full image.
    shrunk = cv2.resize(full, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(shrunk.astype(int) - small.astype(int)).mean() < 12
    x0, y0, x1, y1 = red_box(full)
    cy, cx = (y0 + y1) // 2 // reduce, (x0 + x1) // 2 // reduce
    assert tuple(int(c) for c in small[cy, cx]) == pytest.approx((20, 20, 230), abs=40)
    # and exactly what OpenCV's own EXIF-applying reduced decode gives
    assert np.array_equal(small, cv2.imread(str(path), {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                                                         8: cv2.IMREAD_REDUCED_COLOR_8}[reduce]))


@pytest.mark.parametrize("fmt, suffix", [("PNG", ".png"), ("WEBP", ".webp"), ("TIFF", ".tif")])
@pytest.mark.parametrize("orientation", [3, 6, 7])
def test_other_formats_follow_the_same_rule(tmp_path, fmt, suffix, orientation):
    path = tmp_path / f"o{orientation}{suffix}"
    if fmt == "TIFF":  # TIFF keeps the orientation as a TIFF tag
        Image.fromarray(raw_pixels()).save(path, fmt, tiffinfo={ORIENTATION_TAG: orientation})
    else:
        write_oriented(path, orientation, fmt)
    view = pillow_view(path)
    info = read_image_info(path)
    assert (info.width, info.height) == (view.shape[1], view.shape[0]) == oriented_size(RAW_W, RAW_H, orientation)
    assert np.array_equal(decode_image(path), view)
    small = decode_image(path, 2)
    assert small.shape[:2] == (view.shape[0] // 2, view.shape[1] // 2)  # non-JPEG: shrunk, rounded down


@pytest.mark.parametrize("value", [0, 9, 65535])
def test_an_orientation_outside_1_to_8_is_ignored_as_exif_transpose_does(tmp_path, value):
    path = write_oriented(tmp_path / "odd.jpg", value)
    assert read_image_info(path).orientation == 1
    assert np.array_equal(decode_image(path), pillow_view(path))


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_points_move_with_the_pixels(orientation):
    """orient_point (labels) and apply_orientation (pixels) are one transform: the centre
    of every raw pixel lands on the centre of the displayed pixel with that value."""
    index = np.arange(RAW_W * RAW_H, dtype=np.int32).reshape(RAW_H, RAW_W)
    shown = apply_orientation(index.copy(), orientation)
    assert shown.shape[::-1] == oriented_size(RAW_W, RAW_H, orientation)
    for y, x in [(0, 0), (3, 50), (44, 69), (20, 7)]:
        u, v = orient_point(x + 0.5, y + 0.5, RAW_W, RAW_H, orientation)
        assert shown[int(v), int(u)] == index[y, x]


# --- labelme files made on the oriented image ----------------------------------------------

@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_labelme_file_made_on_the_oriented_photo_lands_on_the_object(tmp_path, jpegs, orientation):
    root, files = jpegs
    path = files[orientation]
    view = pillow_view(path)  # labelme: PIL.Image.open + exif_transpose, then the person draws
    x0, y0, x1, y1 = red_box(view)
    labelme = {"version": "5.4.1", "flags": {}, "imagePath": path.name, "imageData": None,
               "imageHeight": view.shape[0], "imageWidth": view.shape[1],
               "shapes": [{"label": "block", "points": [[x0, y0], [x1, y1]], "group_id": None,
                           "shape_type": "rectangle", "flags": {}}]}
    write_json(root / f"o{orientation}.json", labelme)
    store = ProjectStore.create(tmp_path / "project", root)
    try:
        infos, errors = scan_images([path])  # as labeler init does
        assert not errors
        add_image_files(store, infos)
        report = import_labelme(store, [root / f"o{orientation}.json"])
        assert report.instances_added == 1, report.warning_lines()  # not skipped for its size
        image = store.image_by_path(path.name)
        assert (image.width, image.height) == (view.shape[1], view.shape[0])
        (instance,) = store.instances(image.id)
        assert geometry.bbox(instance.shape) == (x0, y0, x1 - x0, y1 - y0)
        # Under the label, the pixels the window and the model get are the red block.
        mask = geometry.to_mask(instance.shape, image.height, image.width).astype(bool)
        pixels = decode_image(store.image_path(image))
        assert mask.sum() == (x1 - x0) * (y1 - y0) == 12 * 20
        assert (pixels[mask][:, 2] > 180).mean() > 0.95 and (pixels[mask][:, 1] < 80).mean() > 0.95
        assert (pixels[~mask][:, 2] > 180).mean() < 0.5  # and the block is not elsewhere too
    finally:
        store.close()


# --- projects made before the rule ---------------------------------------------------------

def _old_project(tmp_path, root, files):
    """A project as labeler made it before: raw sizes, labels in raw pixel coordinates."""
    store = ProjectStore.create(tmp_path / "project", root, ["block"])
    cat = store.category_by_name("block").id
    images = store.add_images(ImageRecord(None, p.name, RAW_W, RAW_H) for p in files.values())
    mask = np.zeros((RAW_H, RAW_W), np.uint8)
    mask[MARK] = 1
    for image in images:
        store.put_instance(Instance(None, image.id, cat, Polygons.rectangle(*MARK_BOX)))
        store.put_instance(Instance(None, image.id, cat, geometry.mask_to_rle(mask)))
    return store


def _upgrade(store, paths=None):
    """What the schema migration does, on an open store (records known to be raw)."""
    with store.transaction():
        return orient_old_records(store.db, store.image_root, paths)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_upgrade_turns_old_sizes_and_labels_onto_the_displayed_image(tmp_path, jpegs, orientation):
    root, files = jpegs
    store = _old_project(tmp_path, root, files)
    try:
        report = _upgrade(store)
        assert len(report.fixed) == 7 and not report.skipped  # every file but orientation 1
        image = store.image_by_path(f"o{orientation}.jpg")
        pixels = decode_image(store.image_path(image))
        assert (image.width, image.height) == (pixels.shape[1], pixels.shape[0])
        x0, y0, x1, y1 = red_box(pixels)
        polygon, mask = (i.shape for i in store.instances(image.id))
        assert isinstance(polygon, Polygons) and isinstance(mask, MaskRLE)
        assert (mask.width, mask.height) == (image.width, image.height)
        expected = np.zeros(pixels.shape[:2], bool)
        expected[y0:y1, x0:x1] = True
        assert np.array_equal(geometry.rle_to_mask(mask).astype(bool), expected)
        assert geometry.bbox(polygon) == (x0, y0, x1 - x0, y1 - y0)
        assert geometry.area(polygon) == geometry.area(mask) == 12 * 20
        # Stored area and bbox were recomputed from the moved shapes.
        rows = list(store.instance_rows([image.id]))
        assert [r.bbox for r in rows] == [(x0, y0, x1 - x0, y1 - y0)] * 2
    finally:
        store.close()


def test_upgrade_reads_the_image_root_from_the_project_and_leaves_what_it_cannot_read(tmp_path, jpegs):
    root, files = jpegs
    store = _old_project(tmp_path, root, files)
    files[6].unlink()  # gone at upgrade time
    (root / "o3.jpg").write_bytes(b"not an image")
    store.close()
    import sqlite3

    db = sqlite3.connect(str(tmp_path / "project" / "labeler.db"), isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    report = orient_old_records(db)  # as a schema migration would call it: no image root given
    db.execute("COMMIT")
    db.close()
    assert sorted(f.orientation for f in report.fixed) == [2, 4, 5, 7, 8]
    assert len(report.skipped) == 2 and all("left as it was" in line for line in report.skipped)
    with ProjectStore.open(tmp_path / "project") as reopened:
        assert (reopened.image_by_path("o6.jpg").width, reopened.image_by_path("o6.jpg").height) == (RAW_W, RAW_H)
        assert (reopened.image_by_path("o8.jpg").width, reopened.image_by_path("o8.jpg").height) == (RAW_H, RAW_W)
        untouched = reopened.instances(reopened.image_by_path("o1.jpg").id)[0].shape
        assert untouched == Polygons.rectangle(*MARK_BOX)


def test_upgrade_refuses_an_image_whose_file_was_replaced(tmp_path, jpegs):
    root, files = jpegs
    store = _old_project(tmp_path, root, files)
    try:
        Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(files[5], exif=_exif(5))  # another size
        report = _upgrade(store)
        assert any("o5.jpg" in line and "was the image replaced" in line for line in report.skipped)
        assert store.image_by_path("o5.jpg").width == RAW_W
        assert store.instances(store.image_by_path("o5.jpg").id)[0].shape == Polygons.rectangle(*MARK_BOX)
    finally:
        store.close()


def test_a_new_project_is_left_alone(tmp_path):
    store = ProjectStore.create(tmp_path / "project", tmp_path)
    try:
        assert _upgrade(store).fixed == []
    finally:
        store.close()


def test_a_mask_of_another_size_is_refused():
    rle = geometry.mask_to_rle(np.zeros((10, 12), np.uint8))
    with pytest.raises(ValueError, match="mask is 12x10"):
        orient_shape(rle, RAW_W, RAW_H, 6)


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    return exif.tobytes()


def test_images_left_by_the_upgrade_can_be_turned_later(tmp_path, jpegs):
    root, files = jpegs
    store = _old_project(tmp_path, root, files)
    try:
        away = files[6].read_bytes()
        files[6].unlink()
        first = _upgrade(store)
        assert [line.split(":")[0] for line in first.skipped] == ["o6.jpg"]
        files[6].write_bytes(away)  # the drive is back
        second = _upgrade(store, paths=["o6.jpg"])
        assert [f.path for f in second.fixed] == ["o6.jpg"]
        image = store.image_by_path("o6.jpg")
        assert (image.width, image.height) == (RAW_H, RAW_W)
        x0, y0, x1, y1 = red_box(decode_image(store.image_path(image)))
        assert geometry.bbox(store.instances(image.id)[0].shape) == (x0, y0, x1 - x0, y1 - y0)
        assert store.image_by_path("o3.jpg").width == RAW_W  # the others were not turned twice
        assert geometry.bbox(store.instances(store.image_by_path("o3.jpg").id)[0].shape) == \
            (RAW_W - 29, RAW_H - 18, 20, 12)
    finally:
        store.close()


def test_png_orientation_is_read_from_the_header_without_decoding(tmp_path, monkeypatch):
    from PIL import PngImagePlugin

    plain = tmp_path / "plain.png"
    Image.fromarray(raw_pixels()).save(plain)
    turned = write_oriented(tmp_path / "turned.png", 6, "PNG")

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("the pixels were decoded to read the orientation")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)
    assert image_orientation(plain) == 1
    assert image_orientation(turned) == 6
    info = read_image_info(turned, verify=False)
    assert (info.width, info.height, info.orientation) == (RAW_H, RAW_W, 6)


def test_opening_a_version_3_project_moves_it_onto_the_rule_once(tmp_path, jpegs, monkeypatch):
    """The wiring: the schema upgrade to version 4 runs orient_old_records in its
    transaction, and a second open changes nothing (it would turn 180-degree photos back)."""
    from labeler.store import project_store
    from labeler.store.schema import SCHEMA_VERSION

    root, files = jpegs
    with monkeypatch.context() as m:
        m.setattr(project_store, "MIGRATIONS", project_store.MIGRATIONS[:3])
        m.setattr(project_store, "SCHEMA_VERSION", 3)
        _old_project(tmp_path, root, files).close()
    for _ in range(2):
        with ProjectStore.open(tmp_path / "project") as store:
            assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 4
            for orientation in ORIENTATIONS:
                image = store.image_by_path(f"o{orientation}.jpg")
                pixels = decode_image(store.image_path(image))
                assert (image.width, image.height) == (pixels.shape[1], pixels.shape[0])
                x0, y0, x1, y1 = red_box(pixels)
                assert geometry.bbox(store.instances(image.id)[0].shape) == (x0, y0, x1 - x0, y1 - y0)
