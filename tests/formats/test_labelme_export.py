"""labelme JSON export: the file's keys and shapes, labeler's own import of it, labelme's
own reader (in a subprocess: its PyQt5 must not share a process with PySide6), and the
labelme examples from ../shared/data (skipped when absent)."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labeler import geometry
from labeler.core.entities import ImageRecord, ImageStatus, Instance, Polygons
from labeler.formats import FormatError, import_labelme
from labeler.formats.labelme_export import LABELME_VERSION, export_labelme
from labeler.formats.masks import export_masks
from labeler.store import ProjectStore

from ..conftest import write_image

HOLED = Polygons(((((10, 10), (90, 10), (90, 90), (10, 90)), ((30, 30), (60, 30), (60, 60), (30, 60))),))
TWO_PARTS = Polygons(((((100, 10), (140, 10), (140, 50), (100, 50)),),
                      (((150, 60), (190, 60), (190, 100), (150, 100)),)))
TRIANGLE = Polygons(((((110, 110), (190, 112), (150, 145.5)),),))


def ring_mask(height=150, width=200) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[105:140, 15:75] = 1
    mask[115:125, 30:40] = 0
    return mask


def make_project(tmp_path: Path) -> ProjectStore:
    """Three images (one in a sub-folder, one not accepted); polygons, a multi-part polygon,
    a polygon with a hole and a mask, none overlapping."""
    write_image(tmp_path / "images" / "a.png", 200, 150, seed=1)
    write_image(tmp_path / "images" / "sub" / "c.jpg", 120, 90, seed=2)
    write_image(tmp_path / "images" / "b.png", 80, 60, seed=3)
    store = ProjectStore.create(tmp_path / "project", tmp_path / "images", ["cat", "dog"])
    a, b, c = store.add_images([ImageRecord(None, "a.png", 200, 150), ImageRecord(None, "b.png", 80, 60),
                                ImageRecord(None, "sub/c.jpg", 120, 90)])
    cat, dog = store.categories()
    for image in (a, c):
        store.set_image_status(image.id, ImageStatus.ACCEPTED)
    for category, shape in ((cat, HOLED), (dog, TWO_PARTS), (dog, geometry.mask_to_rle(ring_mask())),
                            (cat, TRIANGLE)):
        store.put_instance(Instance(None, a.id, category.id, shape))
    store.put_instance(Instance(None, c.id, cat.id, Polygons.rectangle(5, 5, 50, 40)))
    store.put_instance(Instance(None, b.id, dog.id, Polygons.rectangle(5, 5, 50, 40)))
    return store


def test_file_keys_shapes_and_groups(tmp_path):
    with make_project(tmp_path) as store:
        result = export_labelme(store, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in result.files) == ["a.json", "sub/c.json"]
    assert (result.images, result.annotations) == (2, 5)
    data = json.loads((tmp_path / "out" / "a.json").read_text())
    assert set(data) == {"version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth"}
    assert (data["version"], data["flags"], data["imageData"]) == (LABELME_VERSION, {}, None)
    assert (data["imageWidth"], data["imageHeight"]) == (200, 150)
    assert (tmp_path / "out" / data["imagePath"]).resolve() == (tmp_path / "images" / "a.png").resolve()
    sub = json.loads((tmp_path / "out" / "sub" / "c.json").read_text())
    assert (tmp_path / "out" / "sub" / sub["imagePath"]).resolve() == (tmp_path / "images" / "sub" / "c.jpg").resolve()

    kinds = [(s["label"], s["shape_type"], s["group_id"]) for s in data["shapes"]]
    assert kinds == [("cat", "mask", None), ("dog", "polygon", 1), ("dog", "polygon", 1),
                     ("dog", "mask", None), ("cat", "polygon", None)]
    assert data["shapes"][1]["points"] == [[100, 10], [140, 10], [140, 50], [100, 50]]
    assert data["shapes"][4]["points"] == [[110, 110], [190, 112], [150, 145.5]]
    # The mask shape: its inclusive pixel box and a 0/1 "L" PNG of that box only.
    ring = data["shapes"][3]
    assert ring["points"] == [[15, 105], [74, 139]]
    with Image.open(io.BytesIO(base64.b64decode(ring["mask"]))) as im:
        assert (im.mode, im.size) == ("L", (60, 35))
        patch = np.asarray(im)
    assert set(np.unique(patch)) == {0, 1}
    np.testing.assert_array_equal(patch, ring_mask()[105:140, 15:75])
    # The holed polygon becomes the mask pycocotools makes of it.
    holed = data["shapes"][0]
    (x0, y0), (x1, y1) = holed["points"]
    with Image.open(io.BytesIO(base64.b64decode(holed["mask"]))) as im:
        patch = np.asarray(im)
    full = geometry.to_mask(HOLED, 150, 200)
    assert full.sum() == patch.sum() and patch[25, 25] == 0  # the hole
    np.testing.assert_array_equal(full[y0:y1 + 1, x0:x1 + 1], patch)


def test_all_images_and_empty_images(tmp_path):
    with make_project(tmp_path) as store:
        store.set_image_status(store.image_by_path("sub/c.jpg").id, ImageStatus.IN_REVIEW)
        only = export_labelme(store, tmp_path / "accepted")
        every = export_labelme(store, tmp_path / "all", all_images=True)
    assert [p.name for p in only.files] == ["a.json"]
    assert sorted(p.name for p in every.files) == ["a.json", "b.json", "c.json"]
    assert len(json.loads((tmp_path / "all" / "b.json").read_text())["shapes"]) == 1


def same_instances(source: ProjectStore, target: ProjectStore) -> None:
    """Every image's instances in target are source's, in order, same class, IoU >= 0.98."""
    names = {c.id: c.name for c in source.categories()}
    target_names = {c.id: c.name for c in target.categories()}
    for image in source.images(ImageStatus.ACCEPTED):
        ours = source.instances(image.id)
        back = target.instances(target.image_by_path(image.path).id)
        assert [target_names[i.category_id] for i in back] == [names[i.category_id] for i in ours]
        iou = geometry.mask_iou([i.shape for i in ours], [i.shape for i in back], image.height, image.width)
        assert np.all(np.diag(iou) >= 0.98), (image.path, np.diag(iou))


def test_labelers_own_import_reads_it_back(tmp_path):
    with make_project(tmp_path) as store:
        export_labelme(store, tmp_path / "out")
        with ProjectStore.create(tmp_path / "again", tmp_path / "images") as again:
            report = import_labelme(again, [tmp_path / "out"])
            assert (report.images_labeled, report.instances_added, report.warning_lines()) == (2, 5, [])
            same_instances(store, again)
            parts = [i.shape for i in again.instances(again.image_by_path("a.png").id)]
            assert len(parts[1].parts) == 2  # the two parts are one instance again


def test_export_into_the_image_root_sits_beside_the_images(tmp_path):
    with make_project(tmp_path) as store:
        export_labelme(store, tmp_path / "images")
    assert json.loads((tmp_path / "images" / "sub" / "c.json").read_text())["imagePath"] == "c.jpg"


def test_two_images_with_one_stem_refuse_the_export(tmp_path):
    with make_project(tmp_path) as store:
        write_image(tmp_path / "images" / "A.jpg", 20, 20)
        image = store.add_images([ImageRecord(None, "A.jpg", 20, 20)])[0]
        store.set_image_status(image.id, ImageStatus.ACCEPTED)
        with pytest.raises(FormatError, match="'A.jpg' and 'a.png' would both"):
            export_labelme(store, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_error_from_progress_writes_nothing(tmp_path):
    calls = []

    def stop(done, total):
        calls.append((done, total))
        if done == total:
            raise KeyboardInterrupt

    with make_project(tmp_path) as store, pytest.raises(KeyboardInterrupt):
        export_labelme(store, tmp_path / "out", progress=stop)
    assert calls[0] == (0, 5) and calls[-1] == (5, 5)
    assert not (tmp_path / "out").exists()


# --- labelme's own reader --------------------------------------------------------------

LABELME_READER = r"""
import json, sys
import numpy as np
from labelme._label_file import read_label_file
from labelme.utils import shapes_to_label

out = {}
for path in sys.argv[2:]:
    raw = json.load(open(path, encoding="utf-8"))
    data = read_label_file(path)  # reads the image through imagePath and checks its size
    names = sorted({s["label"] for s in data.shapes})
    cls, ins = shapes_to_label((raw["imageHeight"], raw["imageWidth"]), data.shapes,
                               {"_background_": 0, **{n: k for k, n in enumerate(names, 1)}})
    keys = [(s["label"], s["group_id"] if s["group_id"] is not None else ("shape", k))
            for k, s in enumerate(data.shapes)]
    instances = list(dict.fromkeys(keys))
    out[path] = {"instances": [label for label, _ in instances], "classes": names,
                 "types": sorted({s["shape_type"] for s in data.shapes})}
    np.savez_compressed(sys.argv[1] + "/" + str(len(out)) + ".npz", cls=cls, ins=ins)
    out[path]["npz"] = sys.argv[1] + "/" + str(len(out)) + ".npz"
print(json.dumps(out))
"""


def read_with_labelme(files: list[Path], scratch: Path) -> dict:
    """labelme 6's reader on each file, in a subprocess: per file its instances' labels (in
    labelme's instance order), class names, shape types, and the label arrays."""
    if importlib.util.find_spec("labelme") is None:
        pytest.skip("labelme is not installed (test extra)")
    scratch.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", LABELME_READER, str(scratch), *map(str, files)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_labelme_reads_it(tmp_path):
    with make_project(tmp_path) as store:
        result = export_labelme(store, tmp_path / "out")
        got = read_with_labelme(result.files, tmp_path / "npz")
        names = {c.id: c.name for c in store.categories()}
        for image in store.images(ImageStatus.ACCEPTED):
            path = tmp_path / "out" / Path(image.path).with_suffix(".json")
            ours = store.instances(image.id)
            seen = got[str(path)]
            assert seen["instances"] == [names[i.category_id] for i in ours]
            assert seen["classes"] == sorted({names[i.category_id] for i in ours})
            ins = np.load(seen["npz"])["ins"]
            for k, instance in enumerate(ours, 1):
                mask = geometry.to_mask(instance.shape, image.height, image.width).astype(bool)
                if isinstance(instance.shape, Polygons) and not instance.shape.has_holes:
                    # labelme draws polygons with Pillow, outline included; COCO's
                    # rasteriser does not: the same polygon, a pixel's border apart.
                    iou = (mask & (ins == k)).sum() / (mask | (ins == k)).sum()
                    assert iou >= 0.9, (path, k, iou)
                else:  # a mask shape: exact
                    np.testing.assert_array_equal(ins == k, mask)
    assert got[str(tmp_path / "out" / "a.json")]["types"] == ["mask", "polygon"]


# --- the labelme examples (../shared/data) ------------------------------------------

def test_labelme_examples_export_both_ways(tmp_path, shared_data):
    source = shared_data / "labelme-examples" / "instance_segmentation"
    shutil.copytree(source / "data_annotated", tmp_path / "images")
    with ProjectStore.create(tmp_path / "project", tmp_path / "images") as store:
        report = import_labelme(store, [tmp_path / "images"])
        assert report.images_labeled == 3
        result = export_labelme(store, tmp_path / "out")
        assert (result.images, result.annotations) == (3, report.instances_added)
        with ProjectStore.create(tmp_path / "again", tmp_path / "images") as again:
            import_labelme(again, [tmp_path / "out"])
            same_instances(store, again)
        names = {c.id: c.name for c in store.categories()}
        masks = export_masks(store, tmp_path / "masks")
        assert masks.annotations == report.instances_added
        got = read_with_labelme(result.files, tmp_path / "npz")
        voc_names = (source / "data_dataset_voc" / "class_names.txt").read_text().splitlines()
        for image in store.images():
            ours = store.instances(image.id)
            assert got[str(tmp_path / "out" / Path(image.path).with_suffix(".json"))]["instances"] == \
                [names[i.category_id] for i in ours]
            # Our class PNG against labelme's own VOC export (labelme2voc): the same class on
            # all but the pixels where Pillow's outline and COCO's rasteriser differ.
            stem = Path(image.path).stem
            with Image.open(tmp_path / "masks" / "classes" / f"{stem}.png") as im:
                classes = np.asarray(im)
            with Image.open(source / "data_dataset_voc" / "SegmentationClass" / f"{stem}.png") as im:
                theirs = np.asarray(im)
            ours_names = np.array(["_background_"] + [c.name for c in store.categories()])[classes]
            known = theirs != 255  # labelme2voc's __ignore__ regions
            agree = (ours_names[known] == np.array(voc_names)[theirs[known]]).mean()
            assert agree >= 0.98, (image.path, agree)
