"""Instance attributes and image tags through CVAT for images XML and labelme JSON: what is
written, what the formats' own readers (cvat-sdk's attribute validator, datumaro, labelme)
see, and what labeler's import gives back. COCO's are in test_coco_attributes.py."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from labeler import geometry
from labeler.core import AttributeKind, AttributeSpec, ImageStatus, Instance, Polygons
from labeler.formats import export_cvat, export_labelme, import_cvat, import_labelme
from labeler.store import ProjectStore

from ..conftest import write_json
from .test_labelme_export import read_with_labelme

SPECS = (AttributeSpec("occluded", AttributeKind.BOOLEAN),
         AttributeSpec("colour", AttributeKind.CHOICE, ("red", "green")),
         AttributeSpec("note", AttributeKind.TEXT, default="none"), AttributeSpec("speed", AttributeKind.NUMBER),
         AttributeSpec("parked", AttributeKind.BOOLEAN, default=True))


def labeled(store, speed: float = 3.0):
    """a.png accepted, tagged "night" and "blurry": a cat with values set, a two-part cat
    with one value set, a masked cat with none, and a dog (a class without attributes)."""
    cat, dog = store.categories()
    store.set_attribute_specs(cat.id, SPECS)
    a = store.images()[0]
    store.put_instance(Instance(None, a.id, cat.id, Polygons.rectangle(1, 1, 9, 9),
                                attributes={"occluded": True, "colour": "green", "speed": speed, "note": "a & b <c>"}))
    store.put_instance(Instance(None, a.id, cat.id, Polygons.from_flat([[20, 2, 26, 2, 26, 8], [30, 2, 36, 2, 36, 8]]),
                                attributes={"speed": -2.0}))
    mask = np.zeros((48, 64), np.uint8)
    mask[30:40, 5:15] = 1
    store.put_instance(Instance(None, a.id, cat.id, geometry.mask_to_rle(mask)))
    store.put_instance(Instance(None, a.id, dog.id, Polygons.rectangle(40, 30, 50, 40)))
    store.set_image_status(a.id, ImageStatus.ACCEPTED)
    store.set_image_tags(a.id, ["night", "blurry"])
    return a


def stored(store, image_path):
    image = store.image_by_path(image_path)
    names = {c.id: c.name for c in store.categories()}
    return [(names[i.category_id], dict(i.attributes)) for i in store.instances(image.id)], store.image_tags(image.id)


WANT = [("cat", {"occluded": True, "colour": "green", "speed": 3.0, "note": "a & b <c>"}),
        ("cat", {"speed": -2.0}), ("cat", {}), ("dog", {})]


# --- CVAT for images 1.1 XML ----------------------------------------------------------

def test_cvat_export_writes_label_attributes_and_shape_values(store, tmp_path):
    labeled(store)
    result = export_cvat(store, tmp_path / "out.xml")
    assert result.warnings == []
    root = ET.parse(tmp_path / "out.xml").getroot()
    labels = {lb.findtext("name"): lb for lb in root.iterfind("meta/task/labels/label")}
    assert {n: lb.findtext("type") for n, lb in labels.items()} == {
        "cat": "any", "dog": "any", "blurry": "tag", "night": "tag"}
    meta = [(a.findtext("name"), a.findtext("input_type"), a.findtext("default_value"), a.findtext("values"))
            for a in labels["cat"].iterfind("attributes/attribute")]
    assert meta == [("colour", "select", "red", "red\ngreen"), ("note", "text", "none", "none"),
                    ("speed", "number", "0", "-2\n3\n1"), ("parked", "checkbox", "true", "false\ntrue")]
    (image,) = root.iterfind("image")
    shapes = [el for el in image if el.tag != "tag"]
    assert [el.get("occluded") for el in shapes] == ["1", "0", "0", "0", "0"]  # occluded is CVAT's own flag
    values = [{a.get("name"): a.text or "" for a in el.iterfind("attribute")} for el in shapes]
    defaults = {"colour": "red", "note": "none", "speed": "0", "parked": "true"}
    assert values == [{**defaults, "colour": "green", "speed": "3", "note": "a & b <c>"},
                      {**defaults, "speed": "-2"}, {**defaults, "speed": "-2"}, defaults, {}]
    assert [(t.get("label"), t.get("source")) for t in image.iterfind("tag")] == [("blurry", "manual"),
                                                                                   ("night", "manual")]


def test_cvat_sdk_accepts_every_definition_and_value(store, tmp_path):
    """cvat-sdk's own validator (what CVAT checks on upload) on each spec and each value."""
    pytest.importorskip("cvat_sdk")
    from cvat_sdk.attributes import attribute_value_validator
    from cvat_sdk.models import AttributeRequest

    labeled(store)
    export_cvat(store, tmp_path / "out.xml")
    root = ET.parse(tmp_path / "out.xml").getroot()
    validators = {}
    for a in root.iterfind("meta/task/labels/label/attributes/attribute"):
        spec = AttributeRequest(name=a.findtext("name"), mutable=False, input_type=a.findtext("input_type"),
                                default_value=a.findtext("default_value"), values=a.findtext("values").split("\n"))
        validators[spec.name] = attribute_value_validator(spec)
        assert validators[spec.name](spec.default_value), spec.name
    checked = 0
    for a in root.iterfind("image/*/attribute"):
        assert validators[a.get("name")](a.text or ""), (a.get("name"), a.text)
        checked += 1
    assert checked == 4 * 4


def test_cvat_attributes_and_tags_come_back_on_import(store, tmp_path, image_root):
    a = labeled(store)
    export_cvat(store, tmp_path / "out.xml")
    with ProjectStore.create(tmp_path / "other", image_root, []) as other:
        report = import_cvat(other, [tmp_path / "out.xml"])
        assert report.instances_added == 4  # occluded is CVAT's flag, not in the meta: so, defined here
        assert list(report.warnings) == ["attribute 'occluded' of class 'cat' not defined in the project: "
                                         "defined as boolean"]
        assert [c.name for c in other.categories()] == ["cat", "dog"]  # tag labels are not classes
        assert other.attribute_specs(other.category_by_name("cat").id) == (*SPECS[1:], SPECS[0])
        instances, tags = stored(other, a.path)
        defaults = {"colour": "red", "note": "none", "speed": 0.0, "parked": True, "occluded": False}
        assert instances == [("cat", {**defaults, **WANT[0][1]}), ("cat", {**defaults, "speed": -2.0}),
                             ("cat", {**defaults, "occluded": False}), ("dog", {})]
        assert tags == ("blurry", "night")


def test_a_fractional_number_is_written_as_text(store, tmp_path, image_root):
    a = labeled(store, speed=2.5)
    result = export_cvat(store, tmp_path / "out.xml")
    assert result.warnings == ["number attribute 'speed' of class 'cat' has fractional values: written as a "
                               "CVAT text attribute (CVAT's numbers are integers)"]
    with ProjectStore.create(tmp_path / "other", image_root, []) as other:
        import_cvat(other, [tmp_path / "out.xml"])
        speed = [s for s in other.attribute_specs(other.category_by_name("cat").id) if s.name == "speed"]
        assert speed == [AttributeSpec("speed", "text", default="0")]
    with ProjectStore.create(tmp_path / "same", image_root, ["cat", "dog"]) as same:
        same.set_attribute_specs(same.category_by_name("cat").id, SPECS)  # a project that knows it is a number
        assert not import_cvat(same, [tmp_path / "out.xml"]).warnings
        assert stored(same, a.path)[0][0][1]["speed"] == 2.5


def test_cvat_values_that_do_not_fit_are_dropped_with_a_warning(store, tmp_path):
    store.set_attribute_specs(store.category_by_name("cat").id, SPECS)
    meta = ("<meta><task><labels><label><name>cat</name><attributes><attribute><name>speed</name>"
            "<input_type>number</input_type><default_value>0</default_value><values>0\n9\n1</values></attribute>"
            "<attribute><name>size</name><input_type>slider</input_type></attribute></attributes></label>"
            "</labels></task></meta>")
    path = tmp_path / "in.xml"
    path.write_text(f"<annotations>{meta}<image id='0' name='a.png' width='64' height='48'>"
                    "<polygon label='cat' points='1,1;9,1;9,9'><attribute name='speed'>fast</attribute>"
                    "<attribute name='colour'>blue</attribute><attribute name='parked'>false</attribute></polygon>"
                    "<tag label='sunny'><attribute name='x'>1</attribute></tag></image></annotations>")
    report = import_cvat(store, [path])
    text = "\n".join(report.warning_lines())
    assert "a number attribute needs a number, got 'fast'" in text
    assert "attribute 'colour' is one of red, green; got 'blue'" in text
    assert "attribute of an unknown input type" in text and "attributes of an image tag not kept" in text
    image = store.images()[0]
    (inst,) = store.instances(image.id)
    assert inst.attributes == {"parked": False, "occluded": False} and store.image_tags(image.id) == ("sunny",)


def test_datumaro_reads_the_attributes(store, tmp_path, image_root):
    dm = pytest.importorskip("datumaro")
    labeled(store)
    (tmp_path / "dm").mkdir()
    (tmp_path / "dm" / "images").symlink_to(image_root)
    export_cvat(store, tmp_path / "dm" / "train.xml")
    (item,) = dm.Dataset.import_from(str(tmp_path / "dm"), "cvat")
    first = item.annotations[0]
    assert first.attributes == {"occluded": True, "colour": "green", "note": "a & b <c>", "speed": 3.0,
                                "parked": True}
    assert sorted(a.attributes.get("speed") for a in item.annotations if "speed" in a.attributes) == [-2, -2, 0, 3]


# --- labelme JSON -----------------------------------------------------------------------

def test_labelme_export_writes_flags_and_other_attributes(store, tmp_path):
    labeled(store)
    export_labelme(store, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "a.json").read_text())
    assert data["flags"] == {"blurry": True, "night": True}
    others = {"colour": "red", "note": "none", "speed": 0.0}
    assert [(s["flags"], s.get("attributes")) for s in data["shapes"]] == [
        ({"occluded": True, "parked": True}, {"colour": "green", "note": "a & b <c>", "speed": 3.0}),
        ({"occluded": False, "parked": True}, {**others, "speed": -2.0}),
        ({"occluded": False, "parked": True}, {**others, "speed": -2.0}),  # the second part
        ({"occluded": False, "parked": True}, others), ({}, None)]


def test_labelme_reads_the_flags(store, tmp_path):
    labeled(store)
    export_labelme(store, tmp_path / "out")
    seen = read_with_labelme([tmp_path / "out" / "a.json"], tmp_path / "npz")
    assert seen[str(tmp_path / "out" / "a.json")]["instances"] == ["cat", "cat", "cat", "dog"]
    reader = ("import sys, json; from labelme._label_file import read_label_file; d = read_label_file(sys.argv[1]); "
              "print(json.dumps([d.flags, [[s['flags'], s['other_data']] for s in d.shapes]]))")
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", reader, str(tmp_path / "out" / "a.json")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    flags, shapes = json.loads(done.stdout.strip().splitlines()[-1])
    assert flags == {"blurry": True, "night": True}
    assert shapes[0] == [{"occluded": True, "parked": True},
                         {"attributes": {"colour": "green", "note": "a & b <c>", "speed": 3.0}}]


def test_labelme_attributes_and_tags_come_back_on_import(store, tmp_path, image_root):
    a = labeled(store)
    export_labelme(store, tmp_path / "out")
    with ProjectStore.create(tmp_path / "other", image_root, []) as other:
        report = import_labelme(other, [tmp_path / "out"])
        assert report.instances_added == 4
        assert sum("not defined in the project" in line for line in report.warning_lines()) == 5
        assert other.attribute_specs(other.category_by_name("cat").id) == (
            SPECS[0], AttributeSpec("parked", "boolean"), AttributeSpec("colour", "text"),
            AttributeSpec("note", "text"), AttributeSpec("speed", "number"))
        instances, tags = stored(other, a.path)
        assert [values["speed"] for _, values in instances[:3]] == [3.0, -2.0, 0.0]
        assert instances[0][1]["colour"] == "green" and instances[0][1]["occluded"] is True
        assert tags == ("blurry", "night")
    with ProjectStore.create(tmp_path / "same", image_root, ["cat", "dog"]) as same:
        same.set_attribute_specs(same.category_by_name("cat").id, SPECS)
        assert not import_labelme(same, [tmp_path / "out"]).warnings
        instances, _ = stored(same, a.path)
        defaults = {"colour": "red", "note": "none", "speed": 0.0, "parked": True, "occluded": False}
        assert instances == [("cat", {**defaults, **WANT[0][1]}), ("cat", {**defaults, "speed": -2.0}),
                             ("cat", defaults), ("dog", {})]


def test_labelme_flags_of_the_wrong_type_are_ignored(store, tmp_path):
    square = [[1, 1], [9, 1], [9, 9]]
    write_json(store.image_root / "a.json", {
        "flags": {"night": True, "day": False, "wet": "yes"}, "imagePath": "a.png", "shapes": [
            {"label": "cat", "points": square, "flags": {"occluded": True}, "attributes": {"colour": "grey"}},
            {"label": "cat", "points": square, "flags": ["occluded"], "attributes": "red"}]})
    report = import_labelme(store, [store.image_root / "a.json"])
    text = "\n".join(report.warning_lines())
    assert text.count("flags are not an object of true/false values") == 1  # the image's and a shape's: 2 x
    assert "shape attributes are not an object" in text
    image = store.images()[0]
    assert [dict(i.attributes) for i in store.instances(image.id)] == [{"occluded": True, "colour": "grey"}, {}]
    assert store.image_tags(image.id) == ()
