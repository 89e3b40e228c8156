from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from labeler import geometry
from labeler.core import ImageStatus, Instance, InstanceStatus, Polygons, Provenance
from labeler.formats import FormatError, export_coco, import_coco
from labeler.formats.coco import split_value

from ..conftest import write_image, write_json


def label_images(store):
    """a.png accepted with a polygon, a donut and a mask; b.png in review; c.jpg untouched."""
    a, b, _ = store.images()
    outer = ((10.0, 10.0), (40.0, 10.0), (40.0, 40.0), (10.0, 40.0))
    hole = ((20.0, 20.0), (30.0, 20.0), (30.0, 30.0), (20.0, 30.0))
    mask = np.zeros((48, 64), np.uint8)
    mask[5:9, 50:60] = 1
    store.put_instance(Instance(None, a.id, 1, Polygons.rectangle(1, 2, 11, 7)))
    store.put_instance(Instance(None, a.id, 2, Polygons(((outer, hole),))))
    store.put_instance(Instance(None, a.id, 2, geometry.mask_to_rle(mask)))
    store.put_instance(Instance(None, a.id, 1, Polygons.rectangle(0, 0, 3, 3), 0.4, Provenance.model(1),
                                InstanceStatus.PROPOSED))
    store.put_instance(Instance(None, a.id, 1, Polygons.rectangle(0, 0, 4, 4), 0.3, Provenance.model(1),
                                InstanceStatus.REJECTED))
    store.put_instance(Instance(None, b.id, 1, Polygons.rectangle(0, 0, 8, 8)))
    store.set_image_status(a.id, ImageStatus.ACCEPTED)
    store.set_image_status(b.id, ImageStatus.IN_REVIEW)


def test_export_writes_valid_coco(store, tmp_path):
    label_images(store)
    out = tmp_path / "out.json"
    result = export_coco(store, out)
    assert (result.images, result.annotations) == (1, 3)
    data = json.loads(out.read_text())
    assert [c["id"] for c in data["categories"]] == [1, 2]
    anns = data["annotations"]
    assert [a["id"] for a in anns] == [1, 2, 3]
    assert all(a["iscrowd"] == 0 for a in anns)
    polygon, donut, mask = anns
    assert polygon["segmentation"] == [[1, 2, 11, 2, 11, 7, 1, 7]]
    assert polygon["area"] == 50 and polygon["bbox"] == [1, 2, 10, 5]
    assert isinstance(donut["segmentation"], dict) and donut["area"] == 800  # holes -> RLE
    assert isinstance(mask["segmentation"]["counts"], str) and mask["area"] == 40
    coco = COCO(str(out))
    assert coco.annToMask(coco.anns[2]).sum() == 800
    assert coco.annToMask(coco.anns[3]).sum() == 40
    assert not list(tmp_path.glob(".out.json.*"))  # no temp file left behind


def test_export_multi_part_polygon(store, tmp_path):
    a = store.images()[0]
    two_parts = Polygons.from_flat([[0, 0, 4, 0, 4, 4], [10.5, 10, 14, 10, 14, 14.25, 10, 14]])
    store.put_instance(Instance(None, a.id, 2, two_parts))
    store.set_image_status(a.id, ImageStatus.ACCEPTED)
    export_coco(store, tmp_path / "out.json")
    (ann,) = json.loads((tmp_path / "out.json").read_text())["annotations"]
    assert ann["segmentation"] == [[0, 0, 4, 0, 4, 4], [10.5, 10, 14, 10, 14, 14.25, 10, 14]]
    assert ann["category_id"] == 2 and ann["bbox"] == [0, 0, 14, 14.25]


def test_export_all_and_force_rle(store, tmp_path):
    label_images(store)
    result = export_coco(store, tmp_path / "all.json", all_images=True, force_rle=True)
    assert (result.images, result.annotations) == (3, 4)
    data = json.loads((tmp_path / "all.json").read_text())
    assert all(isinstance(a["segmentation"], dict) for a in data["annotations"])


def test_export_loads_in_torchvision(store, tmp_path):
    from torchvision.datasets import CocoDetection

    label_images(store)
    export_coco(store, tmp_path / "out.json", all_images=True)
    dataset = CocoDetection(str(store.image_root), str(tmp_path / "out.json"))
    image, target = dataset[0]
    assert image.size == (64, 48) and len(target) == 3


def test_split_is_stable_and_disjoint(store, tmp_path):
    paths = [f"img_{k:04d}.png" for k in range(2000)]
    fraction = sum(split_value(p) < 0.2 for p in paths) / len(paths)
    assert 0.17 < fraction < 0.23
    assert split_value("x/y.png") == split_value("x/y.png")
    label_images(store)
    result = export_coco(store, tmp_path / "d.json", all_images=True, val_fraction=0.5)
    assert [f.name for f in result.files] == ["d_train.json", "d_val.json"]
    train, val = (json.loads(f.read_text()) for f in result.files)
    names = [im["file_name"] for im in train["images"]], [im["file_name"] for im in val["images"]]
    assert not set(names[0]) & set(names[1]) and len(names[0]) + len(names[1]) == 3
    again = export_coco(store, tmp_path / "e.json", all_images=True, val_fraction=0.5)
    assert [im["file_name"] for im in json.loads(again.files[1].read_text())["images"]] == names[1]


def test_failed_export_keeps_the_old_file(store, tmp_path, monkeypatch):
    label_images(store)
    out = tmp_path / "out.json"
    out.write_text("previous export")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", fail)
    with pytest.raises(OSError):
        export_coco(store, out)
    assert out.read_text() == "previous export"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def coco_file(images, annotations, categories=None):
    return {"images": images, "annotations": annotations,
            "categories": categories or [{"id": 3, "name": "cat"}, {"id": 7, "name": "bird"}]}


def test_import_all_segmentation_kinds(store, tmp_path):
    images = [{"id": 10, "file_name": "a.png", "width": 64, "height": 48},
              {"id": 11, "file_name": "sub/c.jpg", "width": 40, "height": 30}]
    uncompressed = {"counts": [0, 30 * 2, 30 * 38], "size": [30, 40]}  # the first 2 columns
    compressed = geometry.mask_to_rle(np.pad(np.ones((4, 4), np.uint8), ((0, 44), (0, 60))))
    anns = [
        {"id": 1, "image_id": 10, "category_id": 3, "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]],
         "area": 99999, "bbox": [0, 0, 1, 1], "iscrowd": 0},
        {"id": 2, "image_id": 10, "category_id": 7, "segmentation": compressed.to_json(), "iscrowd": 0},
        {"id": 3, "image_id": 11, "category_id": 7, "segmentation": uncompressed, "iscrowd": 1},
        {"id": 4, "image_id": 11, "category_id": 3, "segmentation": [], "bbox": [5, 5, 10, 4]},
        {"id": 5, "image_id": 10, "category_id": 3, "segmentation": [[1, 1, 2, 2]]},
    ]
    report = import_coco(store, [write_json(tmp_path / "in.json", coco_file(images, anns))])
    assert report.instances_added == 4 and report.images_labeled == 2
    assert report.categories_added == ["bird"]  # "cat" already existed
    text = "\n".join(report.warning_lines())
    assert "crowd" in text and "rectangle proposal" in text and "degenerate" in text
    a = store.image_by_path("a.png")
    c = store.image_by_path("sub/c.jpg")
    assert store.get_image(a.id).status == ImageStatus.ACCEPTED
    assert store.get_image(c.id).status == ImageStatus.IN_REVIEW  # it holds a box proposal
    rows = {r.id: r for r in store.instance_rows(statuses=list(InstanceStatus))}
    areas = sorted((r.area, r.status) for r in rows.values())
    assert areas == [(16.0, "accepted"), (40.0, "proposed"), (60.0, "accepted"), (100.0, "accepted")]
    # importing the same file again adds nothing
    again = import_coco(store, [tmp_path / "in.json"])
    assert again.instances_added == 0 and "not imported again" in "\n".join(again.warning_lines())


def test_import_adds_images_under_the_root_and_skips_missing(store, tmp_path):
    write_image(store.image_root / "new" / "d.png", 20, 10)
    images = [{"id": 1, "file_name": "d.png", "width": 20, "height": 10},
              {"id": 2, "file_name": "missing.png", "width": 20, "height": 10},
              {"id": 3, "file_name": "b.png", "width": 81, "height": 60}]
    anns = [{"id": k, "image_id": k, "category_id": 3, "segmentation": [[0, 0, 5, 0, 5, 5]]} for k in (1, 2, 3)]
    report = import_coco(store, [write_json(tmp_path / "in.json", coco_file(images, anns))])
    assert report.images_added == 1 and report.instances_added == 1
    assert store.image_by_path("new/d.png").status == ImageStatus.ACCEPTED
    text = "\n".join(report.warning_lines())
    assert "missing.png" in text and "size" in text


def test_roboflow_layout(store, tmp_path):
    for split, name in (("train", "a.png"), ("valid", "b.png")):
        size = (64, 48) if name == "a.png" else (80, 60)
        write_json(store.image_root / "rf" / split / "_annotations.coco.json", coco_file(
            [{"id": 0, "file_name": name, "width": size[0], "height": size[1]}],
            [{"id": 0, "image_id": 0, "category_id": 7, "segmentation": [[1, 1, 9, 1, 9, 9]]}]))
    report = import_coco(store, [store.image_root / "rf"])
    assert report.images_labeled == 2 and report.instances_added == 2


BAD_INPUTS = {
    "not json": (b"{\"images\": [", "not valid JSON"),
    "not utf-8": (b"\xff\xfe\x00garbage", "not valid JSON"),
    "a list": (b"[]", "top level is not an object"),
    "no annotations": (json.dumps({"images": [], "categories": []}).encode(), "no 'annotations' list"),
    "bad image": (json.dumps(coco_file([{"id": 1, "file_name": "a.png"}], [])).encode(), "image entry"),
    "unknown image": (json.dumps(coco_file([], [{"id": 1, "image_id": 5, "category_id": 3}])).encode(),
                      "unknown image id"),
    "unknown category": (json.dumps(coco_file([{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
                                              [{"id": 9, "image_id": 1, "category_id": 99}])).encode(),
                         "annotation 9 refers to unknown category id 99"),
    "bad segmentation": (json.dumps(coco_file([{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
                                              [{"id": 4, "image_id": 1, "category_id": 3,
                                                "segmentation": "oops"}])).encode(), "annotation 4"),
}
# An RLE whose counts do not add up is a bad shape, not a bad file: it is skipped with a
# warning (tests/formats/test_malformed.py).


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_malformed_input_is_one_clear_error_and_imports_nothing(store, tmp_path, case):
    content, expected = BAD_INPUTS[case]
    good = write_json(tmp_path / "good.json", coco_file(
        [{"id": 1, "file_name": "b.png", "width": 80, "height": 60}],
        [{"id": 1, "image_id": 1, "category_id": 7, "segmentation": [[0, 0, 5, 0, 5, 5]]}]))
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    before = (store.images(), store.categories())
    with pytest.raises(FormatError) as info:
        import_coco(store, [good, bad])  # the good file is not half-imported either
    message = str(info.value)
    assert message.startswith(str(bad)) and expected in message and "\n" not in message
    assert (store.images(), store.categories()) == before
    assert list(store.instance_rows(statuses=list(InstanceStatus))) == []


def test_missing_file_and_empty_folder(store, tmp_path):
    with pytest.raises(FormatError, match="file not found"):
        import_coco(store, [tmp_path / "nope.json"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no _annotations.coco.json"):
        import_coco(store, [tmp_path / "empty"])
