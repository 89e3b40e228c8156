"""One regression test per kind of bad input that once got in (issue 13): each failed on
the importers as they were, with a traceback, a hang, a crash later on, or labels stored
where they did not belong. A few guards (marked so) check that what the new rules keep
allowed still gets in."""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from labeler.cli import main
from labeler.core import InstanceStatus
from labeler.formats import FormatError, export_coco, import_coco, import_labelme
from labeler.store import ProjectStore

from ..conftest import write_json

A_PNG = {"id": 1, "file_name": "a.png", "width": 64, "height": 48}  # the fixture's a.png


def coco(annotations, images=(A_PNG,), categories=({"id": 3, "name": "cat"},)):
    return {"images": list(images), "annotations": list(annotations), "categories": list(categories)}


def ann(segmentation, ann_id=1, **extra):
    return {"id": ann_id, "image_id": 1, "category_id": 3, "segmentation": segmentation, **extra}


def stored(store):
    return list(store.instance_rows(statuses=list(InstanceStatus)))


def import_one_bad_annotation(store, tmp_path, bad):
    """Import a file with one good square and one bad annotation (id 2); the square must go
    in, the bad one must be skipped with a warning naming the file and the annotation."""
    good = ann([[1, 1, 9, 1, 9, 9, 1, 9]], ann_id=1)
    path = tmp_path / "in.json"
    path.write_text(json.dumps(coco([good, bad | {"id": 2}])))  # NaN and 10**400 as JSON allows
    report = import_coco(store, [path])
    assert report.instances_added == 1, report.warning_lines()
    (row,) = stored(store)
    assert row.area == 64.0
    rejected = [line for line in report.warning_lines() if "in.json: annotation 2" in line]
    assert len(rejected) == 1 and "\n" not in rejected[0]
    return rejected[0]


def assert_refused(store, path, expected, importer=import_coco):
    before = (store.images(), store.categories())
    with pytest.raises(FormatError) as info:
        importer(store, [path])
    message = str(info.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message
    assert len(message) < 400
    assert (store.images(), store.categories()) == before and stored(store) == []
    return message


# --- COCO: bad shapes are skipped with a warning --------------------------------------

@pytest.mark.parametrize("value", [1e8, 1e300, 10**400], ids=["1e8", "1e300", "10**400"])
def test_huge_coordinates_are_skipped(store, tmp_path, value):
    line = import_one_bad_annotation(store, tmp_path, ann([[0, 0, value, 0, value, value]]))
    assert "outside the image" in line or "too large" in line


def test_huge_coordinates_never_reach_the_export(store, tmp_path):
    import_one_bad_annotation(store, tmp_path, ann([[0, 0, 1e300, 0, 1e300, 1e300]]))
    store.set_image_status(store.image_by_path("a.png").id, "accepted")
    export_coco(store, tmp_path / "out.json")
    text = (tmp_path / "out.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert [a["area"] for a in json.loads(text)["annotations"]] == [64.0]


def test_nan_coordinates_are_skipped(store, tmp_path):
    line = import_one_bad_annotation(store, tmp_path, ann([[0, 0, float("nan"), 0, 5, 5]]))
    assert "not a finite number" in line


def test_nan_box_is_skipped(store, tmp_path):
    line = import_one_bad_annotation(store, tmp_path, ann([], bbox=[0, 0, float("inf"), 5]))
    assert "not a finite number" in line


def test_polygon_entirely_outside_the_image_is_skipped(store, tmp_path):
    line = import_one_bad_annotation(store, tmp_path, ann([[70, 0, 90, 0, 90, 20]]))
    assert "entirely outside the image" in line


def test_small_overshoot_is_kept_as_drawn(store, tmp_path):
    """Guard: a click just past the border is kept as drawn, not clipped."""
    report = import_coco(store, [write_json(tmp_path / "in.json", coco([ann([[-2, -2, 66, -2, 66, 50, -2, 50]])]))])
    assert report.instances_added == 1
    (row,) = stored(store)
    assert row.bbox == (-2.0, -2.0, 68.0, 52.0)


def test_malformed_compressed_rle_is_skipped(store, tmp_path):
    line = import_one_bad_annotation(store, tmp_path, ann({"size": [48, 64], "counts": "zzzz"}))
    assert "outside '0'..'o'" in line


def test_rle_of_another_size_is_skipped(store, tmp_path):
    """The counts of a 40x50 mask, labelled with the image's 48x64: pycocotools' area
    reads them without complaint."""
    small = mask_utils.encode(np.asfortranarray(np.ones((40, 50), np.uint8)))["counts"].decode()
    line = import_one_bad_annotation(store, tmp_path, ann({"size": [48, 64], "counts": small}))
    assert "sum to 2000, not 48*64" in line


@pytest.mark.parametrize("counts", [[3082, -10], [0, 20, 30], [2**32, 2**32 - 1]])
def test_bad_uncompressed_rle_is_skipped(store, tmp_path, counts):
    line = import_one_bad_annotation(store, tmp_path, ann({"size": [48, 64], "counts": counts}))
    assert "RLE" in line


def test_million_vertex_self_intersecting_polygon_is_refused_fast(store, tmp_path):
    rng = np.random.default_rng(0)
    flat = rng.uniform(0, 48, 2_000_000).round(2).tolist()
    start = time.monotonic()
    line = import_one_bad_annotation(store, tmp_path, ann([flat]))
    assert time.monotonic() - start < 60  # was more than 180 s
    assert "more than 100,000 vertices" in line


def test_self_intersecting_polygon_within_the_vertex_limit_is_refused_fast(store, tmp_path):
    rng = np.random.default_rng(1)
    flat = rng.uniform(0, 48, 2_000).round(2).tolist()  # 1,000 random vertices: ~100,000 crossings
    start = time.monotonic()
    line = import_one_bad_annotation(store, tmp_path, ann([flat]))
    assert time.monotonic() - start < 20  # make_valid alone took minutes
    assert "too many to repair" in line


def test_twenty_thousand_parts_are_refused_fast(store, tmp_path):
    parts = [[x % 60, 0, x % 60 + 3, 0, x % 60 + 3, 3] for x in range(20_000)]
    start = time.monotonic()
    line = import_one_bad_annotation(store, tmp_path, ann(parts))
    assert time.monotonic() - start < 20  # was 86 s, then std::bad_alloc
    assert "more than 1,000 parts" in line


# --- COCO: malformed files are refused with one line ----------------------------------

def test_deeply_nested_json(store, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"images": ' + "[" * 1000 + "]" * 1000 + "}")
    assert_refused(store, path, "nested too deeply")


def test_integer_of_more_than_4300_digits(store, tmp_path):
    path = tmp_path / "digits.json"
    path.write_text(json.dumps(coco([ann([[0, 0, 5, 0, 5, 5]])])).replace('"id": 1,', '"id": ' + "9" * 5000 + ",", 1))
    assert_refused(store, path, "4300 digits")


@pytest.mark.parametrize("field", ["image_id", "category_id"])
def test_list_where_an_id_belongs(store, tmp_path, field):
    path = write_json(tmp_path / "ids.json", coco([ann([[0, 0, 5, 0, 5, 5]]) | {field: [1]}]))
    assert_refused(store, path, "annotation 1 refers to unknown")


def test_list_as_a_category_id(store, tmp_path):
    """Guard: categories were already checked; annotations (above) were not."""
    path = write_json(tmp_path / "ids.json", coco([], categories=[{"id": [3], "name": "cat"}]))
    assert_refused(store, path, "category entry needs an integer 'id'")


def test_lone_surrogate_in_a_class_name(store, tmp_path):
    path = tmp_path / "surrogate.json"
    path.write_text(json.dumps(coco([ann([[0, 0, 5, 0, 5, 5]])], categories=[{"id": 3, "name": "ca\ud800t"}])))
    message = assert_refused(store, path, "lone surrogate")
    message.encode("utf-8")  # printable as it is


@pytest.mark.parametrize("name, expected", [
    ("x" * 10_000_000, "longer than 200 characters"),
    ("\x1b[2J\x1b[31mcat", "control characters"),
    ("cat\ndog", "control characters"),
    ("cat\u202egod", "control characters"),
])
def test_class_names_that_cannot_be_shown(store, tmp_path, name, expected):
    path = write_json(tmp_path / "names.json", coco([ann([[0, 0, 5, 0, 5, 5]])],
                                                    categories=[{"id": 3, "name": name}]))
    message = assert_refused(store, path, expected)
    assert "\x1b" not in message


def test_file_name_over_255_bytes(store, tmp_path):
    image = A_PNG | {"file_name": "é" * 200 + ".png"}  # 404 bytes in UTF-8
    path = write_json(tmp_path / "long.json", coco([ann([[0, 0, 5, 0, 5, 5]])], images=[image]))
    assert_refused(store, path, "too long for a file name")


def test_duplicate_category_id_refuses_the_file(store, tmp_path):
    path = write_json(tmp_path / "dup.json", coco([ann([[0, 0, 5, 0, 5, 5]])],
                                                  categories=[{"id": 3, "name": "cat"}, {"id": 3, "name": "dog"}]))
    assert_refused(store, path, "category id 3 appears twice")


def test_cli_exits_2_with_one_line_and_stores_nothing(store, tmp_path, capsys):
    store.close()
    path = tmp_path / "surrogate.json"
    path.write_text(json.dumps(coco([ann([[0, 0, 5, 0, 5, 5]])], categories=[{"id": 3, "name": "\ud800"}])))
    code = main(["import", str(tmp_path / "project"), "--format", "coco", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "lone surrogate" in err


# --- labelme ------------------------------------------------------------------------

def labelme(shapes, image_path="a.png", **extra):
    return {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image_path,
            "imageData": None, "imageHeight": 48, "imageWidth": 64, **extra}


def shape(label, points, kind="polygon", group=None, **extra):
    return {"label": label, "points": points, "group_id": group, "shape_type": kind, "flags": {}, **extra}


SQUARE = [[1, 1], [9, 1], [9, 9], [1, 9]]


def import_one_bad_shape(store, bad):
    path = store.image_root / "a.json"
    path.write_text(json.dumps(labelme([shape("cat", SQUARE), bad])))
    report = import_labelme(store, [path])
    assert report.instances_added == 1, report.warning_lines()
    assert [r.area for r in stored(store)] == [64.0]
    rejected = [line for line in report.warning_lines() if "a.json: shape 1" in line or "a.json: group" in line]
    assert len(rejected) == 1 and "\n" not in rejected[0]
    return rejected[0]


@pytest.mark.parametrize("points, expected", [
    ([[0, 0], [float("nan"), 0], [5, 5]], "not a finite number"),
    ([[0, 0], [10**400, 0], [5, 5]], "too large"),
    ([[0, 0], [1e8, 0], [1e8, 1e8]], "outside the image"),
])
def test_labelme_bad_coordinates_are_skipped(store, points, expected):
    assert expected in import_one_bad_shape(store, shape("cat", points))


def test_labelme_nan_rectangle_is_skipped(store):
    assert "not a finite number" in import_one_bad_shape(store, shape("cat", [[0, 0], [float("nan"), 5]], "rectangle"))


def test_labelme_twenty_thousand_shapes_in_one_group(store):
    many = [shape("cat", [[x % 60, 0], [x % 60 + 3, 0], [x % 60 + 3, 3]], group=7) for x in range(20_000)]
    path = write_json(store.image_root / "a.json", labelme(many + [shape("dog", SQUARE)]))
    start = time.monotonic()
    report = import_labelme(store, [path])
    assert time.monotonic() - start < 30  # was 86 s, then std::bad_alloc
    assert report.instances_added == 1
    assert any("a.json: group 7 (cat)" in line and "more than 1,000 parts" in line
               for line in report.warning_lines())


def absurd_png(width, height):
    """A 1x1 PNG whose header says width x height (its pixels could never be decoded)."""
    buf = io.BytesIO()
    Image.new("1", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr:ihdr + 17])))
    return base64.b64encode(bytes(data)).decode()


def test_labelme_absurd_mask_png_is_refused_before_decoding(store, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("the mask PNG was decoded")

    mask = absurd_png(30000, 30000)
    monkeypatch.setattr(Image.Image, "convert", no_decoding)
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    line = import_one_bad_shape(store, shape("cat", [[0, 0], [5, 5]], "mask", mask=mask))
    assert "mask PNG is 30000x30000, larger than its image (64x48)" in line


def test_labelme_mask_starting_left_of_the_image_is_clipped(store):
    patch = np.zeros((4, 6), np.uint8)
    patch[:, :3] = 255  # the left half lies outside the image
    buf = io.BytesIO()
    Image.fromarray(patch).save(buf, format="PNG")
    mask = base64.b64encode(buf.getvalue()).decode()
    write_json(store.image_root / "a.json", labelme([shape("cat", [[-3, 10], [2, 13]], "mask", mask=mask)]))
    report = import_labelme(store, [store.image_root / "a.json"])
    assert report.instances_added == 0  # only the outside half was set: nothing of it is on the image
    rows_before = stored(store)
    patch[:, 3:] = 255
    buf = io.BytesIO()
    Image.fromarray(patch).save(buf, format="PNG")
    write_json(store.image_root / "b.json", labelme([shape("cat", [[-3, 10], [2, 13]], "mask",
                                                           mask=base64.b64encode(buf.getvalue()).decode())],
                                                    "b.png", imageWidth=80, imageHeight=60))
    assert import_labelme(store, [store.image_root / "b.json"]).instances_added == 1
    (row,) = [r for r in stored(store) if r not in rows_before]
    assert row.area == 12 and row.bbox == (0, 10, 3, 4)  # the old code wrapped -3 to the far right


@pytest.mark.parametrize("label, expected", [
    ("ca\ud800t", "lone surrogate"),
    ("\x1b[31mcat", "control characters"),
    ("c" * 1000, "longer than 200 characters"),
])
def test_labelme_labels_that_cannot_be_class_names(store, label, expected):
    path = store.image_root / "a.json"
    path.write_text(json.dumps(labelme([shape(label, SQUARE)])))
    assert_refused(store, path, expected, import_labelme)


def test_labelme_image_path_over_255_bytes(store):
    path = write_json(store.image_root / "a.json", labelme([shape("cat", SQUARE)], "x" * 300 + ".png"))
    assert_refused(store, path, "too long for a file name", import_labelme)


# --- labelme imageData ----------------------------------------------------------------

def png_bytes(value, width=16, height=12):
    buf = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def with_image_data(raw, width=16, height=12):
    return labelme([shape("cat", SQUARE)], "elsewhere/gone.png", imageData=base64.b64encode(raw).decode(),
                   imageWidth=width, imageHeight=height)


def test_image_data_never_writes_through_a_dangling_symlink(store, tmp_path):
    outside = tmp_path / "outside" / "planted.png"
    outside.parent.mkdir()
    folder = store.image_root / "emb"
    folder.mkdir()
    os.symlink(outside, folder / "photo.png")
    write_json(folder / "photo.json", with_image_data(png_bytes(200)))
    report = import_labelme(store, [folder / "photo.json"])
    assert not outside.exists()
    assert report.instances_added == 1
    (image,) = [im for im in store.images() if im.path.startswith("emb/")]
    assert image.path.startswith("emb/photo-") and image.path.endswith(".png")
    assert "written under a new name" in "\n".join(report.warning_lines())


def test_image_data_never_writes_through_a_symlink_in_the_image_root(store, tmp_path):
    """The JSON outside the root: its image goes to the root, where the name is a link."""
    outside = tmp_path / "outside" / "planted.png"
    outside.parent.mkdir()
    os.symlink(outside, store.image_root / "photo.png")
    write_json(tmp_path / "labels" / "photo.json", with_image_data(png_bytes(200)))
    report = import_labelme(store, [tmp_path / "labels" / "photo.json"])
    assert not outside.exists() and report.instances_added == 1
    assert [im.path for im in store.images() if im.path.startswith("photo")][0].startswith("photo-")


def test_image_data_clashing_with_another_image_gets_a_new_name(store, tmp_path):
    """The JSON lies outside the image root, so the image goes to the root, where a.png
    (other pixels, same size as the embedded image) already is: the labels must not go
    onto a.png."""
    a_before = (store.image_root / "a.png").read_bytes()
    outside = tmp_path / "labels" / "a.json"
    write_json(outside, with_image_data(png_bytes(7, 64, 48), 64, 48))
    report = import_labelme(store, [outside])
    assert (store.image_root / "a.png").read_bytes() == a_before
    assert not store.instances(store.image_by_path("a.png").id)
    (new,) = [im for im in store.images() if im.path.startswith("a-")]
    assert store.instances(new.id) and "a.png is taken" in "\n".join(report.warning_lines())
    again = import_labelme(store, [outside])  # the same file again: the same image, nothing new
    assert again.instances_added == 0 and again.images_added == 0


def test_image_data_with_the_same_pixels_reuses_the_file(store):
    """Guard: an image already there with the embedded pixels is used, not copied."""
    folder = store.image_root / "emb"
    folder.mkdir()
    raw = png_bytes(99)
    Image.open(io.BytesIO(raw)).save(folder / "photo.png")  # same pixels, other bytes maybe
    write_json(folder / "photo.json", with_image_data(raw) | {"imagePath": None})
    report = import_labelme(store, [folder / "photo.json"])
    assert report.instances_added == 1 and sorted(p.name for p in folder.iterdir()) == ["photo.json", "photo.png"]


def test_image_data_is_removed_when_the_import_fails(store):
    folder = store.image_root / "emb"
    write_json(folder / "photo.json", with_image_data(png_bytes(200)))
    bad = write_json(folder / "zz_bad.json", {"shapes": "nope"})
    with pytest.raises(FormatError):
        import_labelme(store, [folder / "photo.json", bad])
    assert sorted(p.name for p in folder.iterdir()) == ["photo.json", "zz_bad.json"]
    assert not [im for im in store.images() if im.path.startswith("emb/")]


def test_image_data_of_another_size_than_declared_is_not_written(store):
    folder = store.image_root / "emb"
    write_json(folder / "photo.json", with_image_data(png_bytes(200), 30000, 30000))
    report = import_labelme(store, [folder / "photo.json"])
    assert report.instances_added == 0 and sorted(p.name for p in folder.iterdir()) == ["photo.json"]
    assert "not the size the file says" in "\n".join(report.warning_lines())


def test_export_of_imported_labels_loads_in_pycocotools(store, tmp_path):
    """What got in after validation rasterises: the export opens in pycocotools."""
    from pycocotools.coco import COCO

    import_one_bad_annotation(store, tmp_path, ann({"size": [48, 64], "counts": "zzzz"}))
    store.set_image_status(store.image_by_path("a.png").id, "accepted")
    export_coco(store, tmp_path / "out.json")
    data = COCO(str(tmp_path / "out.json"))
    assert [int(data.annToMask(a).sum()) for a in data.anns.values()] == [64]


def test_a_killed_export_leaves_no_temporary_file_after_the_next_one(tmp_path):
    """kill -9 during write_text_atomic leaves its .tmp; the next write of the same file
    removes it (its process is gone) and keeps a live writer's."""
    import os
    import subprocess
    import sys

    from labeler.formats.common import write_text_atomic

    target = tmp_path / "export.json"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    orphan = tmp_path / f".export.json.{dead}.abc123.tmp"
    orphan.write_text("half")
    alive = tmp_path / f".export.json.{os.getpid()}.def456.tmp"
    alive.write_text("mine")
    another_files = tmp_path / f".other.json.{dead}.ghi789.tmp"  # another file's: its own write removes it
    another_files.write_text("half")
    write_text_atomic(target, "{}")
    assert target.read_text() == "{}"
    assert not orphan.exists() and alive.exists() and another_files.exists()


def test_a_mask_on_an_image_over_the_mask_pixel_limit_is_refused_before_it_is_made():
    from labeler.geometry import validate

    with pytest.raises(validate.ShapeError, match="limit for masks"):
        validate.check_mask_image_size(10, 10, 30000, 30000)
    validate.check_mask_image_size(10, 10, 4000, 3000)  # 12 MP: fine


def test_the_train_and_val_files_are_replaced_together_or_not_at_all(tmp_path):
    from labeler.formats.common import write_texts_atomic

    train, val = tmp_path / "out_train.json", tmp_path / "blocked" / "out_val.json"
    train.write_text("old train")
    (tmp_path / "blocked").write_text("a file where the folder should be")  # the second write fails
    with pytest.raises(OSError):
        write_texts_atomic({train: "new train", val: "new val"})
    assert train.read_text() == "old train"  # not a new train beside an old (or no) val
    assert not list(tmp_path.glob(".*.tmp"))
    (tmp_path / "blocked").unlink()
    write_texts_atomic({train: "new train", val: "new val"})
    assert (train.read_text(), val.read_text()) == ("new train", "new val")


def test_init_skips_a_link_out_of_the_image_folder_and_never_leaves_a_half_made_project(tmp_path, capsys):
    import os

    from labeler import cli

    from ..conftest import write_image

    images, outside = tmp_path / "images", tmp_path / "outside"
    write_image(images / "a.png")
    write_image(outside / "b.png")
    os.symlink(outside / "b.png", images / "b.png")
    assert cli.main(["init", str(tmp_path / "p"), "--images", str(images), "--labels", "x"]) == 0
    err = capsys.readouterr().err
    assert "outside the image folder; skipped" in err and "Traceback" not in err
    with ProjectStore.open(tmp_path / "p") as store:
        assert [i.path for i in store.images()] == ["a.png"]
    only_link = tmp_path / "links"
    only_link.mkdir()
    os.symlink(outside / "b.png", only_link / "b.png")
    assert cli.main(["init", str(tmp_path / "q"), "--images", str(only_link)]) == 2
    assert not (tmp_path / "q" / "labeler.db").exists()  # so a later init is not told it exists


def test_a_float32_tiff_is_refused_at_init_with_what_to_do(tmp_path):
    import numpy as np
    from PIL import Image

    from labeler.imaging import scan_images

    path = tmp_path / "f32.tif"
    Image.fromarray(np.random.default_rng(0).random((20, 30)).astype(np.float32), mode="F").save(path)
    infos, errors = scan_images([path])
    assert infos == [] and len(errors) == 1
    assert "32-bit floating-point samples" in errors[0] and "convert it" in errors[0]
