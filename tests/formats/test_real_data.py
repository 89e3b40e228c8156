"""Round trips on real annotation files from ../shared/data (skipped when it is absent)."""

from __future__ import annotations

import collections
import json
import os
import shutil
from pathlib import Path

import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from labeler.core import InstanceStatus
from labeler.formats import export_coco, import_coco, import_labelme
from labeler.store import ProjectStore


def make_project(tmp_path: Path, source: Path) -> ProjectStore:
    shutil.copytree(source, tmp_path / "images")
    return ProjectStore.create(tmp_path / "project", tmp_path / "images")


def segm_ap(ground_truth: Path, exported: Path) -> float:
    """COCOeval of our export (as detections, score 1) against the original file."""
    gt, ours = COCO(str(ground_truth)), COCO(str(exported))
    # Our file_name is relative to the image root; the original's may be relative elsewhere.
    image_ids = {os.path.basename(im["file_name"]): im["id"] for im in gt.dataset["images"]}
    category_ids = {c["name"]: c["id"] for c in gt.dataset["categories"]}
    detections = []
    for ann in ours.dataset["annotations"]:
        rle = ours.annToRLE(ann)
        rle["counts"] = rle["counts"].decode() if isinstance(rle["counts"], bytes) else rle["counts"]
        detections.append({"image_id": image_ids[os.path.basename(ours.imgs[ann["image_id"]]["file_name"])],
                           "category_id": category_ids[ours.cats[ann["category_id"]]["name"]],
                           "segmentation": rle, "score": 1.0})
    evaluator = COCOeval(gt, gt.loadRes(detections), "segm")
    evaluator.params.imgIds = sorted({d["image_id"] for d in detections})
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return float(evaluator.stats[0])


def test_sahi_combined_round_trip_gives_ap_1(tmp_path, shared_data):
    source = shared_data / "sahi-terrain-coco"
    with make_project(tmp_path, source) as store:
        report = import_coco(store, [tmp_path / "images" / "combined_coco.json"])
        assert (report.images_labeled, report.instances_added) == (2, 12)
        rows = list(store.instance_rows())
        # The file's areas are wrong (the whole image); ours come from the polygons.
        assert all(r.area < 2048 * 1365 / 10 for r in rows)
        export_coco(store, tmp_path / "out.json")
    assert segm_ap(source / "combined_coco.json", tmp_path / "out.json") == pytest.approx(1.0, abs=1e-9)


def test_sahi_missing_image_is_reported(tmp_path, shared_data):
    with make_project(tmp_path, shared_data / "sahi-terrain-coco") as store:
        report = import_coco(store, [tmp_path / "images" / "terrain_all_coco.json"])
        assert report.images_labeled == 2
        assert "terrain3.png" in "\n".join(report.warning_lines())


def test_datumaro_coco_instances_round_trip(tmp_path, shared_data):
    source = shared_data / "datumaro-coco-fixtures" / "coco_dataset" / "coco_instances"
    with make_project(tmp_path, source) as store:
        report = import_coco(store, [tmp_path / "images"])  # the folder: annotations/*.json
        assert report.images_labeled == 2
        assert [c.name for c in store.categories()] == ["a", "b", "c"]  # ids 1, 2, 4
        # val: a polygon and a crowd RLE; train: a box without a mask (kept as a proposal)
        statuses = collections.Counter(r.status for r in store.instance_rows(statuses=list(InstanceStatus)))
        assert statuses == {"accepted": 2, "proposed": 1}
        export_coco(store, tmp_path / "out.json", all_images=True)
    # The valid input (val) comes back exactly. Its crowd region is exported as an ordinary
    # mask, so compare against the file with iscrowd cleared.
    original = json.loads((source / "annotations" / "instances_val.json").read_text())
    for ann in original["annotations"]:
        ann["iscrowd"] = 0
    (tmp_path / "val_gt.json").write_text(json.dumps(original))
    assert segm_ap(tmp_path / "val_gt.json", tmp_path / "out.json") == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("layout", ["coco_dataset/coco_roboflow", "roboflow_dataset/coco"])
def test_roboflow_layouts(tmp_path, shared_data, layout):
    with make_project(tmp_path, shared_data / "datumaro-coco-fixtures" / layout) as store:
        report = import_coco(store, [tmp_path / "images"])
        assert report.images_labeled == len(store.images()) >= 2
        assert report.instances_added >= 2


def test_labelme_examples_match_labelmes_own_coco(tmp_path, shared_data):
    source = shared_data / "labelme-examples" / "instance_segmentation"
    with make_project(tmp_path, source / "data_annotated") as store:
        report = import_labelme(store, [tmp_path / "images"])
        assert report.images_labeled == 3
        export_coco(store, tmp_path / "out.json")
    ours = COCO(str(tmp_path / "out.json"))
    theirs = COCO(str(source / "data_dataset_coco" / "annotations.json"))

    def per_image_and_class(coco):
        return collections.Counter((os.path.basename(coco.imgs[a["image_id"]]["file_name"]),
                                    coco.cats[a["category_id"]]["name"]) for a in coco.dataset["annotations"])

    assert per_image_and_class(ours) == per_image_and_class(theirs)
    ours_by_image = collections.defaultdict(list)
    for ann in ours.dataset["annotations"]:
        ours_by_image[ours.imgs[ann["image_id"]]["file_name"]].append(ann)
    for ann in theirs.dataset["annotations"]:
        name = os.path.basename(theirs.imgs[ann["image_id"]]["file_name"])
        mask = theirs.annToMask(ann).astype(bool)
        best = max(((mask & ours.annToMask(o).astype(bool)).sum() / (mask | ours.annToMask(o).astype(bool)).sum())
                   for o in ours_by_image[name])
        assert best > 0.98, (name, ann["id"], best)


def test_labelme_embedded_image_and_wrong_image_path(tmp_path, shared_data):
    with make_project(tmp_path, shared_data / "labelme-examples" / "tutorial") as store:
        report = import_labelme(store, [tmp_path / "images" / "apc2016_obj3.json"])
        assert report.instances_added == 4
    with make_project(tmp_path / "t", shared_data / "sahi-terrain-coco") as store:
        report = import_labelme(store, [tmp_path / "t" / "images" / "terrain1.json"])
        assert report.instances_added == 7
        assert "terrain1.jpg" in "\n".join(report.warning_lines())
