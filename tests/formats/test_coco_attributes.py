"""COCO with instance attributes (as CVAT writes them) and image tags: export, load in
pycocotools and torchvision, import back."""

from __future__ import annotations

import json

from pycocotools.coco import COCO

from labeler.core import AttributeKind, AttributeSpec, ImageStatus, Instance, Polygons
from labeler.formats import export_coco, import_coco
from labeler.store import ProjectStore

from ..conftest import write_json

SPECS = (AttributeSpec("occluded", AttributeKind.BOOLEAN),
         AttributeSpec("colour", AttributeKind.CHOICE, ("red", "green")),
         AttributeSpec("note", AttributeKind.TEXT), AttributeSpec("speed", AttributeKind.NUMBER))


def labeled(store):
    """a.png accepted and tagged "night": a cat with attributes set, a cat without, a dog."""
    cat, dog = store.categories()
    store.set_attribute_specs(cat.id, SPECS)
    a = store.images()[0]
    store.put_instance(Instance(None, a.id, cat.id, Polygons.rectangle(1, 1, 9, 9),
                                attributes={"occluded": True, "colour": "green", "speed": 2.5}))
    store.put_instance(Instance(None, a.id, cat.id, Polygons.rectangle(10, 10, 20, 20)))
    store.put_instance(Instance(None, a.id, dog.id, Polygons.rectangle(30, 30, 40, 40)))
    store.set_image_status(a.id, ImageStatus.ACCEPTED)
    store.set_image_tags(a.id, ["night", "blurry"])
    return a


def test_export_writes_cvat_style_attributes_and_image_tags(store, tmp_path):
    labeled(store)
    export_coco(store, tmp_path / "out.json")
    data = json.loads((tmp_path / "out.json").read_text())
    assert [a["attributes"] for a in data["annotations"]] == [
        {"occluded": True, "colour": "green", "note": "", "speed": 2.5},
        {"occluded": False, "colour": "red", "note": "", "speed": 0.0},
        {}]
    assert data["images"][0]["tags"] == ["blurry", "night"]


def test_the_export_still_loads_in_pycocotools_and_torchvision(store, tmp_path):
    from torchvision.datasets import CocoDetection

    labeled(store)
    export_coco(store, tmp_path / "out.json")
    coco = COCO(str(tmp_path / "out.json"))
    assert len(coco.getAnnIds()) == 3
    assert coco.annToMask(coco.loadAnns(coco.getAnnIds())[0]).sum() == 64
    image, target = CocoDetection(str(store.image_root), str(tmp_path / "out.json"))[0]
    assert image.size == (64, 48) and [t["attributes"]["occluded"] for t in target[:2]] == [True, False]


def test_attributes_and_tags_come_back_on_import(store, tmp_path, image_root):
    a = labeled(store)
    export_coco(store, tmp_path / "out.json")
    with ProjectStore.create(tmp_path / "other", image_root, []) as other:
        report = import_coco(other, [tmp_path / "out.json"])
        cat = other.category_by_name("cat")
        assert other.attribute_specs(cat.id) == (
            AttributeSpec("occluded", "boolean"), AttributeSpec("colour", "text"),
            AttributeSpec("note", "text"), AttributeSpec("speed", "number"))
        assert sum("not defined in the project" in line for line in report.warning_lines()) == 4
        image = other.image_by_path(a.path)
        got = [i.attributes for i in other.instances(image.id)]
        assert got == [{"occluded": True, "colour": "green", "note": "", "speed": 2.5},
                       {"occluded": False, "colour": "red", "note": "", "speed": 0.0}, {}]
        assert other.image_tags(image.id) == ("blurry", "night")


def test_import_checks_values_against_the_projects_specs(store, tmp_path):
    store.set_attribute_specs(store.category_by_name("cat").id, SPECS)
    images = [{"id": 1, "file_name": "a.png", "width": 64, "height": 48, "tags": "night"}]
    square = [[0, 0, 10, 0, 10, 10, 0, 10]]
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": square,
             "attributes": {"occluded": "yes", "colour": "red", "rotation": 90}},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": square, "attributes": {"rotation": 45.5}}]
    path = write_json(tmp_path / "in.json", {"images": images, "annotations": anns,
                                             "categories": [{"id": 1, "name": "cat"}]})
    report = import_coco(store, [path])
    text = "\n".join(report.warning_lines())
    assert "attribute value dropped (attribute 'occluded' is true or false" in text
    assert text.count("'rotation'") == 1 and "tags are not a list" in text
    image = store.image_by_path("a.png")
    assert [i.attributes for i in store.instances(image.id)] == [{"colour": "red", "rotation": 90.0},
                                                                {"rotation": 45.5}]
    assert store.attribute_specs(store.category_by_name("cat").id)[-1] == AttributeSpec("rotation", "number")
    assert store.image_tags(image.id) == ()
