"""Attribute specs, instance attributes and image tags in the project file."""

from __future__ import annotations

from dataclasses import replace

import pytest

from labeler.core import AttributeKind, AttributeSpec, Histories, ImageRecord, Instance, Polygons, commands
from labeler.store import DB_NAME, SCHEMA_VERSION, AttributeImport, ProjectError, ProjectStore, with_defaults
from labeler.store import project_store, rows

OCCLUDED = AttributeSpec("occluded", AttributeKind.BOOLEAN)
COLOUR = AttributeSpec("colour", AttributeKind.CHOICE, ("red", "green"), "green")


def cat(store):
    return store.category_by_name("cat")


def box(store, k=5, **attributes):
    image = store.images()[0]
    return store.put_instance(Instance(None, image.id, cat(store).id, Polygons.rectangle(0, 0, k, k),
                                       attributes=attributes))


def test_a_schema_5_project_is_upgraded_with_nothing_lost(tmp_path, image_root, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(project_store, "MIGRATIONS", project_store.MIGRATIONS[:5])
        m.setattr(project_store, "SCHEMA_VERSION", 5)
        with ProjectStore.create(tmp_path / "old", image_root, ["cat", "dog"]) as old:
            image = old.add_images([ImageRecord(None, "a.png", 64, 48)])[0]
            before = Instance(1, image.id, 1, Polygons.rectangle(1, 1, 9, 9), score=0.5)
            with old.transaction():  # the row as schema 5 stored it
                old.db.execute("INSERT INTO instances(id, image_id, category_id, kind, data, has_holes, area, "
                               "bbox_x, bbox_y, bbox_w, bbox_h, score, provenance, status) "
                               "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                               (1, *rows.instance_values(before)))
            assert old.db.execute("PRAGMA user_version").fetchone()[0] == 5
    with ProjectStore.open(tmp_path / "old") as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        assert (tmp_path / "old" / f"{DB_NAME}.v5.bak").is_file()
        assert store.instances(image.id) == [before]
        assert store.instances(image.id)[0].attributes == {}
        assert store.specs_by_category() == {} and store.image_tags(image.id) == ()
        store.set_attribute_specs(1, [OCCLUDED])
        store.set_image_tags(image.id, ["night"])
        stored = store.put_instance(replace(before, attributes={"occluded": True}))
    with ProjectStore.open(tmp_path / "old") as store:
        assert store.instances(image.id) == [stored]
        assert store.image_tags(image.id) == ("night",)


def test_specs_round_trip_in_order_and_survive_a_rename(store):
    store.set_attribute_specs(cat(store).id, [OCCLUDED, COLOUR])
    category = cat(store)
    store.update_category(replace(category, name="kitten"))
    assert store.attribute_specs(category.id) == (OCCLUDED, COLOUR)
    assert store.specs_by_category() == {category.id: (OCCLUDED, COLOUR)}
    assert store.attribute_specs(store.category_by_name("dog").id) == ()
    with pytest.raises(ProjectError, match="twice"):
        store.set_attribute_specs(category.id, [OCCLUDED, OCCLUDED])
    assert with_defaults((OCCLUDED, COLOUR), {"occluded": True}) == {"occluded": True, "colour": "green"}


def test_values_are_checked_on_the_way_in(store):
    store.set_attribute_specs(cat(store).id, [OCCLUDED, COLOUR])
    stored = box(store, occluded=True, colour="red")
    assert store.get_instance(stored.id).attributes == {"occluded": True, "colour": "red"}
    row = next(store.instance_rows())
    assert row.attributes == '{"colour":"red","occluded":true}'
    for bad, match in [({"colour": "blue"}, "one of red, green"), ({"occluded": "yes"}, "true or false")]:
        with pytest.raises(ProjectError, match=match) as caught:
            store.put_instance(replace(stored, attributes=bad))
        assert "\n" not in str(caught.value)
        with pytest.raises(ProjectError, match=match):
            store.add_instances([replace(stored, id=None, attributes=bad)])
    assert store.get_instance(stored.id).attributes == {"occluded": True, "colour": "red"}


def test_a_relabel_keeps_only_what_the_new_class_defines_and_undo_restores_it(store):
    store.set_attribute_specs(cat(store).id, [OCCLUDED, COLOUR])
    dog = store.category_by_name("dog")
    store.set_attribute_specs(dog.id, [OCCLUDED])
    stored = box(store, occluded=True, colour="red")
    history = Histories(store).for_image(stored.image_id)
    command = history.push(commands.relabel([stored], dog.id))
    assert store.get_instance(stored.id).attributes == {"occluded": True}
    assert command.changes[0][1].attributes == {"occluded": True}  # the command holds what was stored
    history.undo()
    assert store.get_instance(stored.id) == stored


def test_removing_or_changing_a_spec_drops_the_values_it_no_longer_takes(store):
    cid = cat(store).id
    store.set_attribute_specs(cid, [OCCLUDED, COLOUR])
    a, b = box(store, 5, occluded=True, colour="red"), box(store, 6, colour="green")
    assert store.set_attribute_specs(cid, [OCCLUDED, replace(COLOUR, choices=("green",))]) == 1
    assert store.get_instance(a.id).attributes == {"occluded": True}
    assert store.get_instance(b.id).attributes == {"colour": "green"}
    assert store.set_attribute_specs(cid, []) == 2
    assert store.get_instance(a.id).attributes == {} and store.get_instance(b.id).attributes == {}


def test_image_tags_are_checked_and_kept(store):
    image = store.images()[0]
    store.set_image_tags(image.id, ["night", "blurry", "night"])
    assert store.image_tags(image.id) == ("blurry", "night")
    assert store.tags_by_image() == {image.id: ("blurry", "night")}
    assert store.all_tags() == ["blurry", "night"]
    with pytest.raises(ProjectError, match="control characters"):
        store.set_image_tags(image.id, ["a\nb"])
    with pytest.raises(ProjectError, match="no image"):
        store.set_image_tags(10_000, ["a"])
    assert store.image_tags(image.id) == ("blurry", "night")
    history = Histories(store).for_image(image.id)
    history.push(commands.tag_image(image.id, store.image_tags(image.id), remove=["night"], add=["day"]))
    assert store.image_tags(image.id) == ("blurry", "day")
    history.undo()
    assert store.image_tags(image.id) == ("blurry", "night")


def test_an_import_writes_values_new_specs_and_tags_in_its_transaction(store):
    store.set_attribute_specs(cat(store).id, [OCCLUDED])
    warnings = []
    imported = AttributeImport(store, lambda message, where: warnings.append(message))
    a, b = store.images()[:2]
    box(store)  # image a already has labels: the import leaves it alone
    first = imported.check("cat", {"occluded": True, "speed": 3}, "ann 1")
    second = imported.check("cat", {"occluded": "yes"}, "ann 2")
    assert (first, second) == ({"occluded": True, "speed": 3.0}, {})
    assert len(warnings) == 2 and "'speed'" in warnings[0] and "dropped" in warnings[1]
    shape = Polygons.rectangle(0, 0, 4, 4)
    planned = [(a.path, [("cat", Instance(None, 0, 0, shape))]),
               (b.path, [("cat", Instance(None, 0, 0, shape)), ("cat", Instance(None, 0, 0, shape))])]
    imported.add_image(a.path, [first], ["night"])
    imported.add_image(b.path, [first, second], ["day"])
    staged = store.stage_labels((p, [(n, store.prepare_instance(i)) for n, i in items]) for p, items in planned)
    with store.transaction():
        imported.mark()
        written = store.write_staged(staged)
        imported.write()
    assert written.skipped == [a.path]
    assert [i.attributes for i in store.instances(b.id)] == [{"occluded": True, "speed": 3.0}, {}]
    assert store.attribute_specs(cat(store).id) == (OCCLUDED, AttributeSpec("speed", "number"))
    assert store.tags_by_image() == {b.id: ("day",)}
