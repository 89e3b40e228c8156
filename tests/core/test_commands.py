"""Commands and undo/redo against an in-memory Document: the core needs no store."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import pytest

from labeler.core import (
    Histories, History, ImageRecord, ImageStatus, Instance, InstanceStatus, MaskRLE, Polygons,
    Provenance, ProvenanceKind, commands,
)


class MemoryDocument:
    """The smallest Document: dicts, with rollback by snapshot."""

    def __init__(self) -> None:
        self.images = {1: ImageRecord(1, "a.png", 100, 100), 2: ImageRecord(2, "b.png", 50, 50)}
        self.instances: dict[int, Instance] = {}
        self.next_id = 1
        self.transactions = 0

    @contextmanager
    def transaction(self):
        snapshot = (dict(self.images), dict(self.instances))
        try:
            yield
        except BaseException:
            self.images, self.instances = snapshot
            raise
        self.transactions += 1

    def get_image(self, image_id):
        return self.images[image_id]

    def set_image_status(self, image_id, status):
        self.images[image_id] = replace(self.images[image_id], status=status)

    def put_instance(self, instance):
        if instance.id is None:
            instance = replace(instance, id=self.next_id)
            self.next_id += 1
        self.instances[instance.id] = instance
        return instance

    def remove_instance(self, instance_id):
        self.instances.pop(instance_id, None)


def square(x=0.0, y=0.0, size=10.0) -> Polygons:
    return Polygons.rectangle(x, y, x + size, y + size)


def proposal(image_id=1, version=3) -> Instance:
    return Instance(None, image_id, 1, square(), 0.9, Provenance.model(version), InstanceStatus.PROPOSED)


@pytest.fixture
def doc():
    return MemoryDocument()


def test_add_undo_redo_keeps_the_id(doc):
    history = History(doc, 1)
    cmd = history.push(commands.add_instance(Instance(None, 1, 1, square())))
    added_id = cmd.changes[0][1].id
    assert set(doc.instances) == {added_id}
    history.undo()
    assert doc.instances == {}
    history.redo()
    assert set(doc.instances) == {added_id}
    assert doc.transactions == 3  # do, undo and redo: one transaction each


def test_first_edit_puts_image_in_review_and_undo_restores_status(doc):
    history = History(doc, 1)
    history.push(commands.add_instance(Instance(None, 1, 1, square())))
    assert doc.images[1].status == ImageStatus.IN_REVIEW
    history.undo()
    assert doc.images[1].status == ImageStatus.UNLABELED
    history.redo()
    assert doc.images[1].status == ImageStatus.IN_REVIEW


def test_editing_a_suggestion_accepts_it_as_model_edited(doc):
    history = History(doc, 1)
    inst = doc.put_instance(proposal(version=3))
    history.push(commands.edit_shape(inst, square(5, 5)))
    edited = doc.instances[inst.id]
    assert edited.status == InstanceStatus.ACCEPTED
    assert edited.provenance == Provenance(ProvenanceKind.MODEL_EDITED, 3)
    assert str(edited.provenance) == "model v3 edited"
    history.undo()
    assert doc.instances[inst.id] == inst


def test_accept_keeps_model_provenance_and_reject_is_undoable(doc):
    history = History(doc, 1)
    a = doc.put_instance(proposal())
    b = doc.put_instance(proposal())
    history.push(commands.accept([a]))
    history.push(commands.reject([b]))
    assert doc.instances[a.id].status == InstanceStatus.ACCEPTED
    assert doc.instances[a.id].provenance == Provenance.model(3)
    assert doc.instances[b.id].status == InstanceStatus.REJECTED
    history.undo()
    assert doc.instances[b.id].status == InstanceStatus.PROPOSED
    assert history.redo_label == "Reject"


def test_relabel_delete_and_paint(doc):
    history = History(doc, 1)
    inst = history.push(commands.add_instance(Instance(None, 1, 1, square()))).changes[0][1]
    history.push(commands.relabel([inst], 2))
    assert doc.instances[inst.id].category_id == 2
    mask = MaskRLE(100, 100, "0")  # counts are not checked by the core
    history.push(commands.paint_mask(doc.instances[inst.id], mask))
    assert doc.instances[inst.id].shape == mask
    history.push(commands.delete_instances([doc.instances[inst.id]]))
    assert inst.id not in doc.instances
    for _ in range(3):
        history.undo()
    assert doc.instances[inst.id] == inst
    assert history.redo_label == "Change class"


def test_new_command_clears_redo(doc):
    history = History(doc, 1)
    history.push(commands.add_instance(Instance(None, 1, 1, square())))
    history.undo()
    assert history.redo_label == "Add instance"
    history.push(commands.add_instance(Instance(None, 1, 2, square())))
    assert history.redo_label is None
    assert history.redo() is None


def test_history_is_unlimited(doc):
    history = History(doc, 1)
    inst = history.push(commands.add_instance(Instance(None, 1, 1, square()))).changes[0][1]
    for k in range(1, 501):
        current = doc.instances[inst.id]
        history.push(commands.edit_shape(current, square(k, k)))
    while history.undo():
        pass
    assert doc.instances == {}
    assert doc.images[1].status == ImageStatus.UNLABELED


def test_one_history_per_image(doc):
    histories = Histories(doc)
    seen = []
    histories.listeners.append(lambda cmd, action: seen.append((cmd.image_id, action)))
    histories.push(commands.add_instance(Instance(None, 1, 1, square())))
    histories.push(commands.add_instance(Instance(None, 2, 1, square())))
    histories.for_image(1).undo()
    assert [i.image_id for i in doc.instances.values()] == [2]
    assert seen == [(1, "do"), (2, "do"), (1, "undo")]
    with pytest.raises(ValueError):
        histories.for_image(1).push(commands.add_instance(Instance(None, 2, 1, square())))


def test_failed_command_changes_nothing(doc):
    class Broken(MemoryDocument):
        def set_image_status(self, image_id, status):
            raise RuntimeError("disk full")

    doc = Broken()
    history = History(doc, 1)
    with pytest.raises(RuntimeError):
        history.push(commands.add_instance(Instance(None, 1, 1, square())))
    assert doc.instances == {}
    assert history.undo_label is None


def test_mark_accepted_is_a_command(doc):
    history = History(doc, 1)
    history.push(commands.set_image_status(doc.images[1], ImageStatus.ACCEPTED))
    assert doc.images[1].status == ImageStatus.ACCEPTED
    history.undo()
    assert doc.images[1].status == ImageStatus.UNLABELED


def test_command_spanning_two_images_is_refused():
    a = Instance(1, 1, 1, square())
    b = Instance(2, 2, 1, square())
    with pytest.raises(ValueError):
        commands.delete_instances([a, b])


@pytest.mark.parametrize("text", ["manual", "model v1", "model v12 edited"])
def test_provenance_text_round_trip(text):
    assert str(Provenance.parse(text)) == text


def test_shape_validation():
    with pytest.raises(ValueError):
        Polygons.from_flat([[0, 0, 1, 1]])  # two points
    with pytest.raises(ValueError):
        Polygons.from_flat([[0, 0, 1, 1, 2]])  # odd coordinate count
    with pytest.raises(ValueError):
        Provenance(ProvenanceKind.MODEL)  # a model needs a version
    shape = Polygons((((( 0, 0), (10, 0), (10, 10), (0, 10)), ((2, 2), (4, 2), (4, 4))),))
    assert shape.has_holes and shape.vertex_count == 7
    assert Polygons.from_json(shape.to_json()) == shape


def test_provenance_of_an_assisted_shape_round_trips_and_is_not_the_models():
    from labeler.core.entities import Provenance, ProvenanceKind

    grabcut = Provenance.assisted("grabcut")
    assert str(grabcut) == "assisted grabcut" and Provenance.parse("assisted grabcut") == grabcut
    assert grabcut.kind == ProvenanceKind.ASSISTED and not grabcut.from_model
    assert grabcut.edited() == grabcut  # a person's own shape stays theirs when edited
    assert Provenance.parse("model v3 edited").from_model and not Provenance.manual().from_model
    for bad in (lambda: Provenance.assisted("magic"), lambda: Provenance(ProvenanceKind.ASSISTED),
                lambda: Provenance.parse("assisted")):
        with pytest.raises(ValueError):
            bad()
