"""YOLO segmentation (Ultralytics layout): export, import, round trips, bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from labeler import geometry
from labeler.core import ImageStatus, Instance, InstanceStatus, Polygons
from labeler.formats import FormatError, import_labelme
from labeler.formats.yolo import bridged, export_yolo
from labeler.formats.yolo_import import import_yolo
from labeler.store import ProjectStore
from labeler.store.training import split_value

OUTER = ((10.0, 10.0), (40.0, 10.0), (40.0, 40.0), (10.0, 40.0))
HOLE = ((20.0, 20.0), (30.0, 20.0), (30.0, 30.0), (20.0, 30.0))
HOLE2 = ((32.0, 12.0), (38.0, 12.0), (38.0, 18.0), (32.0, 18.0))


def ring_mask():
    mask = np.zeros((60, 80), np.uint8)
    cv2.circle(mask, (40, 30), 20, 1, -1)
    cv2.circle(mask, (40, 30), 8, 0, -1)
    cv2.rectangle(mask, (2, 2), (9, 12), 1, -1)  # a second component
    return mask


def label(store):
    """a.png: rectangle, donut with two holes, two parts, a shape over the border;
    b.png: a mask with a hole and a second component; sub/c.jpg: nothing. All accepted."""
    a, b, c = store.images()
    shapes_a = [(1, Polygons.rectangle(1, 2, 11, 7)),
                (2, Polygons(((OUTER, HOLE, HOLE2),))),
                (1, Polygons.from_flat([[0, 0, 4, 0, 4, 4], [50, 5, 60, 5, 60, 15, 50, 15]])),
                (2, Polygons.rectangle(55, 40, 70, 52))]  # past the right and bottom edges
    for cat, shape in shapes_a:
        store.put_instance(Instance(None, a.id, cat, shape))
    store.put_instance(Instance(None, b.id, 2, geometry.mask_to_rle(ring_mask())))
    for im in (a, b, c):
        store.set_image_status(im.id, ImageStatus.ACCEPTED)
    return a, b, c


def fresh(tmp_path, image_root, name="again"):
    return ProjectStore.create(tmp_path / name, image_root)


def shapes_of(store):
    """image path -> [(category name, shape)] of accepted instances."""
    names = {c.id: c.name for c in store.categories()}
    paths = {im.id: im for im in store.images()}
    out: dict[str, list] = {im.path: [] for im in paths.values()}
    for row in store.instance_rows():
        inst = store.get_instance(row.id)
        out[paths[row.image_id].path].append((names[row.category_id], inst.shape))
    return out


def assert_same(a_store, b_store, min_iou=0.98):
    a, b = shapes_of(a_store), shapes_of(b_store)
    sizes = {im.path: (im.height, im.width) for im in a_store.images()}
    for path, theirs in a.items():
        ours = b.get(path, [])
        assert sorted(n for n, _ in ours) == sorted(n for n, _ in theirs), path
        if theirs:
            iou = geometry.mask_iou([s for _, s in theirs], [s for _, s in ours], *sizes[path])
            assert iou.max(axis=1).min() >= min_iou, (path, iou)


def test_export_layout_and_lines(store, tmp_path):
    label(store)
    out = tmp_path / "yolo"
    result = export_yolo(store, out)
    assert (result.images, result.annotations) == (3, 5)
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data == {"train": "images/train", "val": "images/train", "nc": 2, "names": {0: "cat", 1: "dog"}}
    assert (out / "images/train/a.png").stat().st_ino == (store.image_root / "a.png").stat().st_ino
    assert (out / "labels/train/sub/c.txt").read_text() == ""  # background image
    lines = (out / "labels/train/a.txt").read_text().splitlines()
    assert lines[0] == "0 0.015625 0.041667 0.171875 0.041667 0.171875 0.145833 0.015625 0.145833"
    assert len(lines) == 4
    for line in lines:
        values = [float(v) for v in line.split()[1:]]
        assert all(0 <= v <= 1 for v in values) and all(len(v.split(".")[1]) == 6 for v in line.split()[1:])
    # the two-part instance is one line: a bridge walked there and back joins the parts
    two_parts = lines[2].split()[1:]
    assert len(two_parts) == 2 * (3 + 4 + 2)
    assert result.warnings == []


def test_bridges_fill_like_ultralytics():
    """The loader fills a line with cv2.fillPoly: the holes stay empty, and the line differs
    from the rings filled apart only by the pixels of its bridges (here about 14 + 3)."""
    shape = Polygons(((OUTER, HOLE, HOLE2),))
    line = np.zeros((48, 64), np.uint8)
    cv2.fillPoly(line, [np.round(bridged(shape)).astype(np.int32)], 1)
    rings = np.zeros((48, 64), np.uint8)
    cv2.fillPoly(rings, [np.array(r, np.int32) for r in (OUTER, HOLE, HOLE2)], 1)
    assert line[25, 25] == 0 and line[15, 35] == 0 and line[35, 15] == 1
    assert (line == rings).all()  # these bridges run inside the object (fillPoly fills edges)
    two = Polygons.from_flat([[2, 2, 8, 2, 8, 8, 2, 8], [30, 2, 36, 2, 36, 8, 30, 8]])
    line[:] = rings[:] = 0
    cv2.fillPoly(line, [np.round(bridged(two)).astype(np.int32)], 1)
    cv2.fillPoly(rings, [np.array(p[0], np.int32) for p in two.parts], 1)
    assert (line & ~rings).sum() == 30 - 8 - 1 and not (rings & ~line).any()  # a 1-pixel bridge


def test_round_trip_gives_every_instance_back(store, image_root, tmp_path):
    label(store)
    export_yolo(store, tmp_path / "yolo", all_images=True)
    with fresh(tmp_path, image_root) as again:
        report = import_yolo(again, [tmp_path / "yolo"])
        assert (report.images_labeled, report.instances_added) == (3, 5)
        assert [c.name for c in again.categories()] == ["cat", "dog"]
        assert report.warning_lines() == []
        assert_same(store, again)
        shapes = {n: s for n, s in shapes_of(again)["a.png"] if isinstance(s, Polygons) and s.has_holes}
        donut = shapes["dog"]
        assert [len(p) for p in donut.parts] == [3]  # exterior and two holes, back apart
        rings = [s for n, s in shapes_of(again)["a.png"] if len(s.parts) == 2]
        assert len(rings) == 1  # the two-part instance has two parts again
        mask_back = shapes_of(again)["b.png"][0][1]
        assert sorted(len(p) for p in mask_back.parts) == [1, 2]  # component, ring with hole


def test_import_into_the_same_project_adds_nothing(store, tmp_path):
    label(store)
    export_yolo(store, tmp_path / "yolo")
    report = import_yolo(store, [tmp_path / "yolo" / "data.yaml"])
    assert report.instances_added == 0 and report.warnings


def test_val_split_follows_the_path_rule(store, tmp_path):
    label(store)
    result = export_yolo(store, tmp_path / "yolo", val_fraction=0.5)
    data = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    for im in store.images():
        split = "val" if split_value(im.path) < 0.5 else "train"
        assert (tmp_path / "yolo" / "labels" / split / Path(im.path).with_suffix(".txt")).is_file()
        assert (tmp_path / "yolo" / "images" / split / im.path).is_file()
    splits = {("val" if split_value(im.path) < 0.5 else "train") for im in store.images()}
    assert data["val"] == ("images/val" if "val" in splits else "images/train")
    assert result.images == 3


def test_mask_that_does_not_trace_exactly_warns(store, tmp_path):
    a = store.images()[0]
    mask = np.zeros((48, 64), np.uint8)
    for x, y, r in [(45, 34, 9), (55, 41, 3), (11, 10, 9)]:  # leaves a 1-pixel hole touching a corner
        cv2.circle(mask, (x, y), r, 1, -1)
    store.put_instance(Instance(None, a.id, 1, geometry.mask_to_rle(mask)))
    store.set_image_status(a.id, ImageStatus.ACCEPTED)
    result = export_yolo(store, tmp_path / "yolo")
    assert any("differs from the mask" in w for w in result.warnings), result.warnings


def test_re_export_replaces_and_foreign_folder_is_refused(store, tmp_path):
    label(store)
    out = tmp_path / "yolo"
    export_yolo(store, out, all_images=True)
    store.set_image_status(store.images()[2].id, ImageStatus.IN_REVIEW)
    export_yolo(store, out)
    assert not (out / "labels/train/sub/c.txt").exists()  # no stale label left behind
    assert not list(tmp_path.glob(".yolo.*"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FormatError, match="not a YOLO export"):
        export_yolo(store, other)
    with pytest.raises(FormatError, match="image root"):
        export_yolo(store, store.image_root / "out")


def test_box_lines_become_proposals(store, image_root, tmp_path):
    root = tmp_path / "ds"
    (root / "labels" / "train").mkdir(parents=True)
    (root / "images" / "train").mkdir(parents=True)
    shutil.copy(image_root / "a.png", root / "images" / "train" / "a.png")
    (root / "labels" / "train" / "a.txt").write_text("1 0.5 0.5 0.25 0.5\n")
    (root / "data.yaml").write_text("names: [cat, dog]\n")
    report = import_yolo(store, [root])
    assert report.instances_added == 1
    [row] = store.instance_rows(statuses=[InstanceStatus.PROPOSED])
    assert row.bbox == pytest.approx((24, 12, 16, 24))
    assert store.images()[0].status == ImageStatus.IN_REVIEW


def test_an_ultralytics_keyhole_line_comes_back_with_its_hole(store, image_root, tmp_path):
    """A square 10..40 with a hole 20..30, written by hand as merge_multi_segment does."""
    w, h = 64, 48
    pts = [(10, 10), (20, 20), (30, 20), (30, 30), (20, 30), (20, 20), (10, 10), (40, 10), (40, 40), (10, 40)]
    line = "0 " + " ".join(f"{x / w:.6f} {y / h:.6f}" for x, y in pts)
    root = tmp_path / "ds"
    (root / "labels").mkdir(parents=True)
    (root / "labels" / "a.txt").write_text(line + "\n")
    (root / "data.yaml").write_text("names: {0: donut}\n")
    import_yolo(store, [root / "data.yaml"])  # image found in the project by its path
    [row] = store.instance_rows()
    shape = store.get_instance(row.id).shape
    assert [len(p) for p in shape.parts] == [2] and row.area == pytest.approx(800, abs=0.01)


BAD_LINES = {
    "0 0.1 0.1 0.2 abc 0.3 0.3": "'abc' is not a number",
    "0 0.1 0.1 0.2 0.1 0.3 0.3 0.4": "odd number of coordinates",
    "5 0.1 0.1 0.2 0.1 0.3 0.3": "class '5' is not in data.yaml's names",
    "0 0.1 0.1 2.5 0.1 0.3 0.3": "coordinates outside",
    "0 0.1 0.1 0.2 0.1 nan 0.3": "not a finite number",
    "0 0.1 0.1": "3 values",
}


@pytest.mark.parametrize("line", list(BAD_LINES))
def test_bad_label_file_is_one_line_and_imports_nothing(store, tmp_path, line):
    root = tmp_path / "ds"
    (root / "labels").mkdir(parents=True)
    (root / "labels" / "b.txt").write_text("0 0.1 0.1 0.2 0.1 0.2 0.2\n")
    (root / "labels" / "a.txt").write_text("1 0.1 0.1 0.2 0.1 0.2 0.2\n" + line + "\n")
    (root / "data.yaml").write_text("names: {0: x, 1: y}\n")
    with pytest.raises(FormatError) as info:
        import_yolo(store, [root])
    assert BAD_LINES[line] in str(info.value) and "a.txt: line 2" in str(info.value)
    assert "\n" not in str(info.value)
    assert list(store.instance_rows()) == [] and [c.name for c in store.categories()] == ["cat", "dog"]


@pytest.mark.parametrize("text, problem", [
    ("- a\n- b\n", "top level is not a mapping"),
    ("names: [a\n", "not valid YAML (line"),
    ("train: images\n", "'names' must be a list or a mapping"),
    ("names: {x: a}\n", "is not a whole number"),
])
def test_bad_yaml_is_one_line(store, tmp_path, text, problem):
    root = tmp_path / "ds"
    (root / "labels").mkdir(parents=True)
    (root / "labels" / "a.txt").write_text("0 0.1 0.1 0.2 0.1 0.2 0.2\n")
    (root / "data.yaml").write_text(text)
    with pytest.raises(FormatError, match=problem.replace("(", r"\(").replace("[", r"\[")):
        import_yolo(store, [root])
    assert list(store.instance_rows()) == []


def test_supervision_reads_the_export(store, tmp_path):
    sv = pytest.importorskip("supervision")
    label(store)
    out = tmp_path / "yolo"
    export_yolo(store, out, all_images=True)
    names = {c.id: c.name for c in store.categories()}
    expected = {}
    for im in store.images():
        expected[Path(im.path).name] = sorted(names[r.category_id] for r in store.instance_rows([im.id]))
    for sub in ("", "sub"):
        ds = sv.DetectionDataset.from_yolo(str(out / "images" / "train" / sub), str(out / "labels" / "train" / sub),
                                           str(out / "data.yaml"), force_masks=True)
        for path, _, detections in ds:
            assert sorted(ds.classes[k] for k in detections.class_id) == expected[Path(path).name]
            if len(detections):
                assert detections.mask is not None and detections.mask.any(axis=(1, 2)).all()


def test_labelme_examples_round_trip(tmp_path, shared_data):
    source = shared_data / "labelme-examples" / "instance_segmentation" / "data_annotated"
    shutil.copytree(source, tmp_path / "images")
    with ProjectStore.create(tmp_path / "project", tmp_path / "images") as store:
        import_labelme(store, [tmp_path / "images"])
        assert len(list(store.instance_rows())) > 0
        result = export_yolo(store, tmp_path / "yolo")
        assert result.images == 3 and result.annotations == len(list(store.instance_rows()))
        with fresh(tmp_path, tmp_path / "images") as again:
            report = import_yolo(again, [tmp_path / "yolo"])
            assert report.instances_added == result.annotations
            assert [c.name for c in again.categories()] == [c.name for c in store.categories()]
            assert_same(store, again)
