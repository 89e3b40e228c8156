"""The correction loop's records: versions, the pinned held-out split, snapshots, effort,
review order."""

from __future__ import annotations

import pytest

from labeler.core import ImageStatus, Instance, InstanceStatus, Polygons, Provenance
from labeler.store import ProjectError
from labeler.store.effort import add_effort, effort_summary
from labeler.store.proposals import Suggestion, current_model_version, review_order, store_suggestions
from labeler.store.training import (
    assign_splits, begin_version, finish_version, get_version, newly_accepted, recover_interrupted,
    round_due, set_retrain_every, take_snapshot, versions,
)


def accept(store, image, *shapes):
    for shape in shapes:
        store.put_instance(Instance(None, image.id, 1, shape))
    store.set_image_status(image.id, ImageStatus.ACCEPTED)


def test_snapshot_holds_accepted_images_with_accepted_instances_only(store):
    a, b, c = store.images()
    accept(store, a, Polygons.rectangle(1, 1, 10, 10))
    store.put_instance(Instance(None, a.id, 2, Polygons.rectangle(20, 20, 30, 30), 0.4,
                                Provenance.model(0), InstanceStatus.REJECTED))
    accept(store, b, Polygons.rectangle(2, 2, 12, 12))
    store.put_instance(Instance(None, c.id, 1, Polygons.rectangle(1, 1, 5, 5)))  # c is not accepted
    snap = take_snapshot(store)
    assert snap.accepted_images == 2 and len(snap.heldout) == 1 and len(snap.train) == 1
    pairs = snap.train + snap.heldout
    assert {image.id for image, _ in pairs} == {a.id, b.id}
    assert all(i.status == InstanceStatus.ACCEPTED for _, insts in pairs for i in insts)
    assert sum(len(insts) for _, insts in pairs) == 2
    assert snap.class_names == ("cat", "dog")
    again = take_snapshot(store)
    assert again.id == snap.id
    store.put_instance(Instance(None, b.id, 2, Polygons.rectangle(30, 30, 40, 40)))
    assert take_snapshot(store).id != snap.id  # a new accepted label is new data


def test_heldout_images_stay_heldout_as_the_project_grows(store, tmp_path):
    images = store.images()
    first = assign_splits(store, images[:2])
    assert sum(first.values()) == 1  # two images: one is held out
    more = [store.add_images([type(images[0])(None, f"x{n}.png", 10, 10)])[0] for n in range(12)]
    later = assign_splits(store, images + more)
    assert all(later[i] == held for i, held in first.items())  # nobody changed sides
    assert 2 <= sum(later.values()) <= 4  # about 20 % of 15


def test_versions_promote_fail_and_recover(store):
    accept(store, store.images()[0], Polygons.rectangle(1, 1, 10, 10))
    snap = take_snapshot(store)
    v1 = begin_version(store, snap, "maskrcnn_tiny")
    assert v1 == 1 and get_version(store, 1).status == "training"
    finish_version(store, v1, "promoted", metrics={"mask_ap": 0.25}, checkpoint="v1.pt")
    assert current_model_version(store) == 1 and get_version(store, 1).mask_ap == 0.25
    v2 = begin_version(store, take_snapshot(store), "maskrcnn_tiny")
    finish_version(store, v2, "failed", reason="diverged")
    assert current_model_version(store) == 1  # a failed round never becomes current
    v3 = begin_version(store, take_snapshot(store), "maskrcnn_tiny")
    assert v3 == 3 and get_version(store, 3).parent == 1
    assert recover_interrupted(store) == [3]  # its process died mid-round
    assert [v.status for v in versions(store)] == ["promoted", "failed", "interrupted"]
    with pytest.raises(ValueError):
        finish_version(store, v3, "training")
    with pytest.raises(ProjectError):
        finish_version(store, 99, "failed")


def test_a_round_is_due_after_enough_newly_accepted_images(store):
    set_retrain_every(store, 2)
    a, b, c = store.images()
    accept(store, a)
    assert newly_accepted(store) == 1 and not round_due(store)
    accept(store, b)
    assert round_due(store)
    version = begin_version(store, take_snapshot(store), "maskrcnn_tiny")
    assert not round_due(store)  # the running round has these two
    finish_version(store, version, "interrupted")
    assert round_due(store)  # an interrupted round does not count
    set_retrain_every(store, 0)
    assert not round_due(store)  # 0: only on demand
    with pytest.raises(ProjectError):
        set_retrain_every(store, -1)


def test_effort_summary_per_model_version(store):
    a, b, _ = store.images()
    add_effort(store, a.id, 0, vertices=12, keys=1, seconds=30)
    add_effort(store, a.id, 0, vertices=4, seconds=10)
    accept(store, a, Polygons.rectangle(1, 1, 10, 10), Polygons.rectangle(20, 20, 30, 30))
    add_effort(store, b.id, 1, keys=3, seconds=6)
    for provenance, status in ((Provenance.model(1), InstanceStatus.ACCEPTED),
                               (Provenance.model(1), InstanceStatus.ACCEPTED),
                               (Provenance.model(1).edited(), InstanceStatus.ACCEPTED),
                               (Provenance.model(1), InstanceStatus.REJECTED),
                               (Provenance.model(1), InstanceStatus.PROPOSED)):
        store.put_instance(Instance(None, b.id, 1, Polygons.rectangle(1, 1, 5, 5), 0.9, provenance, status))
    v0, v1 = effort_summary(store)
    assert (v0.model_version, v0.images, v0.vertices, v0.keys, v0.seconds) == (0, 1, 16, 1, 40)
    assert v0.accepted_instances == 2 and v0.actions_per_instance == 8.5 and v0.seconds_per_instance == 20
    assert v0.unedited_share is None  # the person drew everything under v0
    assert v1.accepted_instances == 3 and v1.actions == 3
    assert (v1.suggestions_reviewed, v1.accepted_unedited) == (4, 2) and v1.unedited_share == 0.5
    with pytest.raises(ValueError):
        add_effort(store, a.id, 0, keys=-1)


def test_review_order_puts_the_least_certain_images_first(store):
    a, b, c = store.images()
    store_suggestions(store, a.id, 0, [Suggestion(1, Polygons.rectangle(1, 1, 9, 9), 0.95)])
    store_suggestions(store, b.id, 0, [Suggestion(1, Polygons.rectangle(1, 1, 9, 9), 0.95),
                                       Suggestion(1, Polygons.rectangle(20, 20, 29, 29), 0.3)])
    order = review_order(store, 0)
    assert [i.id for i in order] == [b.id, a.id, c.id]  # c: not seen by the model, last
    accept(store, b)
    assert [i.id for i in review_order(store, 0)] == [a.id, c.id]  # reviewed images leave the queue
