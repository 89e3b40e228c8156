"""Mask PNG export, read back with pypng (an independent, pure-Python PNG reader): 16-bit
instance ids, the palette class PNG, overlaps, the legend, the limits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from labeler import geometry
from labeler.core.entities import Category, ImageRecord, ImageStatus, Instance, Polygons
from labeler.formats import FormatError
from labeler.formats.masks import MAX_INSTANCES, export_masks
from labeler.store import ProjectStore

from ..conftest import write_image

png = pytest.importorskip("png", reason="pypng is not installed (test extra)")

HOLED = Polygons(((((10, 10), (90, 10), (90, 90), (10, 90)), ((30, 30), (60, 30), (60, 60), (30, 60))),))
BIG = Polygons.rectangle(100, 10, 180, 80)
OVER = Polygons.rectangle(150, 40, 195, 120)  # overlaps BIG, drawn after it


def read_png(path: Path) -> tuple[np.ndarray, dict]:
    width, height, rows, info = png.Reader(filename=str(path)).read()
    return np.vstack([np.asarray(r, np.int64) for r in rows]).reshape(height, width), info


def make_project(tmp_path: Path) -> ProjectStore:
    write_image(tmp_path / "images" / "a.png", 200, 150, seed=1)
    write_image(tmp_path / "images" / "sub" / "c.jpg", 120, 90, seed=2)
    store = ProjectStore.create(tmp_path / "project", tmp_path / "images", ["cat", "dog", "bird"])
    store.update_category(Category(store.category_by_name("dog").id, "dog", "#10A0f0"))
    a, c = store.add_images([ImageRecord(None, "a.png", 200, 150), ImageRecord(None, "sub/c.jpg", 120, 90)])
    store.set_image_status(a.id, ImageStatus.ACCEPTED)
    store.set_image_status(c.id, ImageStatus.ACCEPTED)
    cat, dog, bird = store.categories()
    ring = np.zeros((150, 200), np.uint8)
    ring[105:140, 15:75] = 1
    ring[115:125, 30:40] = 0
    for category, shape in ((cat, HOLED), (dog, BIG), (bird, OVER), (dog, geometry.mask_to_rle(ring))):
        store.put_instance(Instance(None, a.id, category.id, shape))
    return store


def test_instance_and_class_pngs(tmp_path):
    with make_project(tmp_path) as store:
        result = export_masks(store, tmp_path / "out")
        a = store.image_by_path("a.png")
        instances = store.instances(a.id)
        categories = store.categories()
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in result.files) == [
        "classes/a.png", "classes/sub/c.png", "instances/a.png", "instances/sub/c.png", "legend.json"]
    assert (result.images, result.annotations) == (2, 4)

    ids, info = read_png(out / "instances" / "a.png")
    assert (info["bitdepth"], info["greyscale"], info.get("palette"), ids.shape) == (16, True, None, (150, 200))
    masks = [geometry.to_mask(i.shape, 150, 200).astype(bool) for i in instances]
    assert masks[1][60, 160] and masks[2][60, 160]  # BIG and OVER overlap here ...
    assert ids[60, 160] == 3  # ... and the later one wins
    np.testing.assert_array_equal(ids == 1, masks[0])  # the hole stays background
    np.testing.assert_array_equal(ids == 2, masks[1] & ~masks[2])
    np.testing.assert_array_equal(ids == 3, masks[2])
    np.testing.assert_array_equal(ids == 4, masks[3])
    assert ids[35:55, 35:55].max() == 0 and (ids == 0).sum() == (~np.any(masks, axis=0)).sum()

    classes, info = read_png(out / "classes" / "a.png")
    assert info["bitdepth"] == 8 and "palette" in info
    palette = info["palette"]
    assert palette[0][:3] == (0, 0, 0)
    assert [palette[k][:3] for k in (1, 2, 3)] == [tuple(bytes.fromhex(c.color[1:])) for c in categories]
    assert palette[2][:3] == (0x10, 0xA0, 0xF0)
    class_of = np.array([0, 1, 2, 3, 2])  # background, cat, dog, bird, dog
    np.testing.assert_array_equal(classes, class_of[ids])
    assert 255 not in classes

    empty, _ = read_png(out / "instances" / "sub" / "c.png")
    assert empty.shape == (90, 120) and not empty.any()


def test_legend(tmp_path):
    with make_project(tmp_path) as store:
        export_masks(store, tmp_path / "out")
        project_ids = [i.id for i in store.instances(store.image_by_path("a.png").id)]
    legend = json.loads((tmp_path / "out" / "legend.json").read_text())
    assert legend["classes"] == [
        {"index": 0, "name": "_background_", "colour": "#000000"},
        {"index": 1, "name": "cat", "colour": "#e6194b"},
        {"index": 2, "name": "dog", "colour": "#10a0f0"},
        {"index": 3, "name": "bird", "colour": "#ffe119"}]
    assert (legend["background"], legend["void"]) == (0, 255)
    first, second = legend["images"]
    assert (first["image"], first["instance_png"], first["class_png"]) == ("a.png", "instances/a.png", "classes/a.png")
    assert (second["image"], second["instances"]) == ("sub/c.jpg", [])
    ids, _ = read_png(tmp_path / "out" / first["instance_png"])
    assert [(e["id"], e["class"], e["instance_id"]) for e in first["instances"]] == \
        list(zip([1, 2, 3, 4], [1, 2, 3, 2], project_ids))
    assert [e["pixels"] for e in first["instances"]] == [int((ids == k).sum()) for k in (1, 2, 3, 4)]


def test_ids_above_255_are_kept(tmp_path):
    """300 instances in one image: 16 bits on disk, no id cut to 8."""
    write_image(tmp_path / "images" / "grid.png", 200, 120)
    with ProjectStore.create(tmp_path / "project", tmp_path / "images", ["cell"]) as store:
        image = store.add_images([ImageRecord(None, "grid.png", 200, 120)])[0]
        store.set_image_status(image.id, ImageStatus.ACCEPTED)
        cell = store.categories()[0]
        store.add_instances(Instance(None, image.id, cell.id, Polygons.rectangle(x, y, x + 6, y + 6))
                            for y in range(0, 120, 8) for x in range(0, 160, 8))
        export_masks(store, tmp_path / "out")
    ids, info = read_png(tmp_path / "out" / "instances" / "grid.png")
    assert info["bitdepth"] == 16
    assert ids.max() == 300 and len(np.unique(ids)) == 301
    assert ids[-6, 152] == 300 and ids[2, 2] == 1


def test_more_instances_than_16_bits_refuse_the_export(tmp_path):
    write_image(tmp_path / "images" / "a.png", 300, 240)
    with ProjectStore.create(tmp_path / "project", tmp_path / "images", ["dot"]) as store:
        image = store.add_images([ImageRecord(None, "a.png", 300, 240)])[0]
        store.set_image_status(image.id, ImageStatus.ACCEPTED)
        dot = store.categories()[0].id
        store.add_instances(Instance(None, image.id, dot, Polygons.rectangle(x, y, x + 1, y + 1))
                            for y in range(240) for x in range(300) if y * 300 + x <= MAX_INSTANCES)
        with pytest.raises(FormatError, match="65,536 instances; a 16-bit instance PNG holds at most 65,535"):
            export_masks(store, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_too_many_classes_refuse_the_export(tmp_path):
    with make_project(tmp_path) as store:
        for k in range(252):
            store.add_category(f"class {k}")
        with pytest.raises(FormatError, match="255 classes; a class PNG holds at most 254"):
            export_masks(store, tmp_path / "out")


def test_a_new_export_removes_the_old_legend_first(tmp_path):
    with make_project(tmp_path) as store:
        export_masks(store, tmp_path / "out")

        def stop(done, total):
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            export_masks(store, tmp_path / "out", progress=stop)
    assert not (tmp_path / "out" / "legend.json").exists()
