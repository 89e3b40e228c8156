"""Attribute specs, values and image tags in the core: checks, the command, undo."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labeler.core import AttributeKind, AttributeSpec, Attributes, Histories, Instance, Polygons, commands
from labeler.core.attributes import check_values, infer_spec, kind_from_text, normal_tags, value_from_text, value_text
from labeler.core.commands import CommandKind
from tests.core.test_commands import MemoryDocument


class TaggedDocument(MemoryDocument):
    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[int, tuple[str, ...]] = {}

    def set_image_tags(self, image_id, tags):
        self.tags[image_id] = tuple(tags)


COLOUR = AttributeSpec("colour", AttributeKind.CHOICE, ("red", "green"))
SPECS = (AttributeSpec("occluded", AttributeKind.BOOLEAN), COLOUR,
         AttributeSpec("note", "text"), AttributeSpec("speed", "number", default=3))


def test_specs_have_defaults_and_check_values_in_one_line():
    assert [s.default for s in SPECS] == [False, "red", "", 3.0]
    assert check_values(SPECS, {"speed": 2, "occluded": True}) == {"occluded": True, "speed": 2.0}
    for values, match in [({"occluded": 1}, "true or false"), ({"colour": "blue"}, "one of red, green"),
                          ({"speed": True}, "a number"), ({"speed": float("nan")}, "finite"),
                          ({"note": "a\nb"}, "control characters"), ({"size": 1}, "no attribute 'size'")]:
        with pytest.raises(ValueError, match=match) as caught:
            check_values(SPECS, values)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("make, match", [
    (lambda: AttributeSpec(" x", "text"), "surrounding spaces"),
    (lambda: AttributeSpec("x\x1b[31m", "text"), "control characters"),
    (lambda: AttributeSpec("x", "colour"), "kind must be one of"),
    (lambda: AttributeSpec("x", "choice"), "at least one option"),
    (lambda: AttributeSpec("x", "choice", ("a", "a")), "given twice"),
    (lambda: AttributeSpec("x", "text", ("a",)), "only a choice"),
    (lambda: AttributeSpec("x", "boolean", default="yes"), "true or false"),
])
def test_a_bad_spec_is_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_spec_json_round_trip_and_inference():
    assert [AttributeSpec.from_json(s.to_json()) for s in SPECS] == list(SPECS)
    assert [infer_spec("a", v).kind for v in (True, 2, 2.5, "x", [1])] == [
        AttributeKind.BOOLEAN, AttributeKind.NUMBER, AttributeKind.NUMBER, AttributeKind.TEXT, AttributeKind.TEXT]


def test_attributes_are_immutable_hashable_and_typed():
    a = Attributes({"b": 1.0, "a": True})
    assert list(a) == ["a", "b"] and a["a"] is True and a == {"a": True, "b": 1.0}
    assert hash(a) == hash(Attributes([("a", True), ("b", 1.0)]))
    assert a != Attributes({"a": 1.0, "b": 1.0})  # True is not the number 1
    assert a.set("a", None) == {"b": 1.0} and a == {"a": True, "b": 1.0}
    assert Attributes.from_text(a.to_text()) == a
    with pytest.raises(TypeError):
        a["c"] = 1  # type: ignore[index]
    instance = Instance(None, 1, 1, Polygons.rectangle(0, 0, 5, 5), attributes={"a": True})
    assert isinstance(instance.attributes, Attributes)
    assert len({instance, replace(instance)}) == 1
    assert Instance(None, 1, 1, Polygons.rectangle(0, 0, 5, 5)).attributes == {}


def test_set_attributes_on_a_selection_is_one_undo_step():
    doc = TaggedDocument()
    histories = Histories(doc)
    made = [histories.push(commands.add_instance(Instance(None, 1, 1, Polygons.rectangle(0, 0, k, k))))
            .changes[0][1] for k in (5, 6)]
    command = histories.push(commands.set_attributes(made, "occluded", True))
    assert command.kind == CommandKind.ATTRIBUTE and command.label == "Set occluded = true on 2"
    assert all(i.attributes == {"occluded": True} for i in doc.instances.values())
    assert all(i.provenance == m.provenance and i.status == m.status for i, m in zip(doc.instances.values(), made))
    histories.for_image(1).undo()
    assert all(i.attributes == {} for i in doc.instances.values())
    histories.for_image(1).redo()
    again = commands.set_attributes(list(doc.instances.values()), "occluded", True)
    assert again.empty  # nothing left to change
    cleared = histories.push(commands.set_attributes(list(doc.instances.values()), "occluded", None))
    assert cleared.label.startswith("Set occluded = default")
    assert all(i.attributes == {} for i in doc.instances.values())


def test_image_tags_add_remove_undo():
    doc = TaggedDocument()
    history = Histories(doc).for_image(1)
    command = history.push(commands.tag_image(1, (), add=["night", "blurry", "night"]))
    assert command.kind == CommandKind.TAG_IMAGE and doc.tags[1] == ("blurry", "night")
    assert doc.images[1].status.value == "unlabeled"  # a tag does not start a review
    history.push(commands.tag_image(1, doc.tags[1], remove=["night"]))
    assert doc.tags[1] == ("blurry",)
    history.undo()
    assert doc.tags[1] == ("blurry", "night")
    history.undo()
    assert doc.tags[1] == ()
    assert commands.tag_image(1, ("a",), add=["a"]).empty
    with pytest.raises(ValueError, match="an image tag"):
        commands.tag_image(1, (), add=[""])
    assert normal_tags(["b", "a", "b"]) == ("a", "b")


# --- text forms (CVAT XML) --------------------------------------------------------------

@pytest.mark.parametrize("kind, text, value", [
    ("boolean", "true", True), ("boolean", "False", False), ("number", "3", 3.0), ("number", "-2.5", -2.5),
    ("choice", "red", "red"), ("text", " spaced ", " spaced ")])
def test_value_from_text(kind, text, value):
    got = value_from_text(AttributeKind(kind), text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("kind, text", [("boolean", "yes"), ("boolean", "1"), ("number", "fast"), ("number", "")])
def test_value_from_text_refuses_what_the_kind_cannot_read(kind, text):
    with pytest.raises(ValueError):
        value_from_text(AttributeKind(kind), text)


@pytest.mark.parametrize("text, kind", [("true", "boolean"), ("FALSE", "boolean"), ("7", "number"),
                                        ("2.5e3", "number"), ("inf", "text"), ("nan", "text"), ("red", "text"),
                                        ("", "text")])
def test_kind_from_text(text, kind):
    assert kind_from_text(text) == AttributeKind(kind)


@pytest.mark.parametrize("value, text", [(True, "true"), (False, "false"), (3.0, "3"), (-2.0, "-2"), (2.5, "2.5"),
                                         (1e20, "100000000000000000000"), ("a b", "a b")])
def test_value_text_reads_back(value, text):
    assert value_text(value) == text
    kind = {bool: AttributeKind.BOOLEAN, float: AttributeKind.NUMBER, str: AttributeKind.TEXT}[type(value)]
    assert value_from_text(kind, text) == value


@given(st.one_of(st.booleans(), st.floats(allow_nan=False, allow_infinity=False), st.text()))
def test_every_value_survives_its_text_form(value):
    kind = {bool: AttributeKind.BOOLEAN, float: AttributeKind.NUMBER, str: AttributeKind.TEXT}[type(value)]
    assert value_from_text(kind, value_text(value)) == value
