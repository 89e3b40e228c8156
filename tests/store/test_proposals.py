from __future__ import annotations

import pytest

from labeler.core import (
    Histories, ImageStatus, Instance, InstanceStatus, Polygons, Provenance, commands,
)
from labeler.store import DB_NAME, SCHEMA_VERSION, ProjectError, ProjectStore, project_store
from labeler.store.proposals import Suggestion, current_model_version, images_needing_suggestions, store_suggestions
from labeler.store.training import begin_version, finish_version, take_snapshot

LEFT = Polygons.rectangle(2, 2, 20, 20)
RIGHT = Polygons.rectangle(30, 5, 60, 40)


def promote(store) -> int:
    """A training round that ends promoted, recorded as the trainer records it."""
    version = begin_version(store, take_snapshot(store), "maskrcnn_tiny")
    finish_version(store, version, "promoted")
    return version


def suggest(store, image_id, version, *shapes, score=0.9):
    return store_suggestions(store, image_id, version, [Suggestion(1, s, score) for s in shapes])


def test_suggestions_on_an_unlabeled_image_are_stored_as_proposals(store):
    image = store.images()[0]
    outcome = suggest(store, image.id, 0, LEFT, RIGHT)
    assert len(outcome.added) == 2 and outcome.skipped is None
    stored = store.instances(image.id)
    assert {i.status for i in stored} == {InstanceStatus.PROPOSED}
    assert {str(i.provenance) for i in stored} == {"model v0"}
    assert store.get_image(image.id).status == ImageStatus.PROPOSED
    assert image.id not in {i.id for i in images_needing_suggestions(store, 0)}
    assert image.id in {i.id for i in images_needing_suggestions(store, 1)}


def test_a_new_version_replaces_waiting_suggestions_but_never_labels(store):
    image = store.images()[0]
    manual = store.put_instance(Instance(None, image.id, 2, Polygons.rectangle(40, 30, 60, 45)))
    store.set_image_status(image.id, ImageStatus.UNLABELED)
    suggest(store, image.id, 0, LEFT)
    assert promote(store) == 1
    outcome = suggest(store, image.id, 1, RIGHT)
    assert outcome.removed == 1
    kept = store.instances(image.id)
    assert manual in kept
    assert [str(i.provenance) for i in kept if i.status == InstanceStatus.PROPOSED] == ["model v1"]
    # A result from the replaced version arriving late is dropped.
    stale = suggest(store, image.id, 0, LEFT)
    assert stale.skipped.startswith("stale") and store.instances(image.id) == kept


def test_accepted_labels_and_rejections_are_not_suggested_again(store):
    image = store.images()[0]
    history = Histories(store)
    suggest(store, image.id, 0, LEFT, RIGHT)
    left, right = store.instances(image.id)
    history.push(commands.accept([left]))
    history.push(commands.reject([right]))
    store.set_image_status(image.id, ImageStatus.PROPOSED)  # as if nobody had started it
    again = suggest(store, image.id, 0, LEFT, RIGHT, Polygons.rectangle(2, 30, 20, 45))  # inside the 64x48 image
    assert [i.shape for i in again.added] == [Polygons.rectangle(2, 30, 20, 45)]
    # A newer version may suggest what an older one had rejected.
    assert promote(store) == 1
    assert len(suggest(store, image.id, 1, RIGHT).added) == 1


def test_images_in_review_get_suggestions_once_and_accepted_images_never(store):
    first, second = store.images()[:2]
    Histories(store).push(commands.add_instance(Instance(None, first.id, 1, Polygons.rectangle(40, 30, 60, 45))))
    assert store.get_image(first.id).status == ImageStatus.IN_REVIEW
    assert len(suggest(store, first.id, 0, LEFT).added) == 1  # the person started before the model answered
    assert suggest(store, first.id, 0, RIGHT).skipped == "a person is reviewing this image"
    assert store.get_image(first.id).status == ImageStatus.IN_REVIEW
    store.set_image_status(second.id, ImageStatus.ACCEPTED)
    assert suggest(store, second.id, 0, LEFT).skipped == "image already accepted"
    assert store.instances(second.id) == []
    assert second.id not in {i.id for i in images_needing_suggestions(store, 5, "all")}
    assert first.id in {i.id for i in images_needing_suggestions(store, 5, "all")}
    assert first.id not in {i.id for i in images_needing_suggestions(store, 5, "unlabeled")}


def test_nothing_suggested_leaves_the_image_unlabeled(store):
    image = store.images()[0]
    suggest(store, image.id, 0, LEFT)
    assert promote(store) == 1
    suggest(store, image.id, 1)
    assert store.get_image(image.id).status == ImageStatus.UNLABELED
    assert store.instances(image.id) == []


def test_a_version_1_project_is_upgraded(tmp_path, image_root, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(project_store, "MIGRATIONS", project_store.MIGRATIONS[:1])
        m.setattr(project_store, "SCHEMA_VERSION", 1)
        ProjectStore.create(tmp_path / "old", image_root).close()
    with ProjectStore.open(tmp_path / "old") as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert current_model_version(store) == 0
        assert (tmp_path / "old" / f"{DB_NAME}.v1.bak").is_file()
        assert promote(store) == 1
        assert current_model_version(store) == 1


def test_an_unknown_scope_is_refused(store):
    with pytest.raises(Exception, match="unknown image scope"):
        images_needing_suggestions(store, 0, "everything")


def test_model_provenance_round_trips(store):
    image = store.images()[0]
    suggest(store, image.id, 7, LEFT, score=0.42)
    (inst,) = store.instances(image.id)
    assert inst.provenance == Provenance.model(7) and inst.score == pytest.approx(0.42)


def test_a_suggestion_that_fails_the_shape_check_is_left_out_and_the_rest_stored(store):
    image = store.images()[0]  # 64 x 48
    outside = Polygons.rectangle(200, 200, 220, 220)  # entirely outside the image
    outcome = suggest(store, image.id, 0, LEFT, outside)
    assert [i.shape for i in outcome.added] == [LEFT]


def test_the_store_api_refuses_a_shape_the_importers_would_refuse(store):
    from labeler.geometry import ShapeError

    image = store.images()[0]
    with pytest.raises(ShapeError, match="outside the image"):
        store.put_instance(Instance(None, image.id, 1, Polygons.rectangle(200, 200, 220, 220)))
    with pytest.raises(ShapeError):
        store.add_instances([Instance(None, image.id, 1, Polygons(((((0.0, 0.0), (float("nan"), 1.0), (5.0, 5.0)),),)))])
    assert store.instances(image.id) == []


def test_class_names_that_cannot_be_shown_are_refused_on_every_way_in(store):
    """Import files are checked in formats/; the store refuses the same names from the
    command line (init --labels) and the window (Add, Rename)."""
    for bad in ("\x1b[31mred\x1b[0m", "two\nlines", "x" * 201, "   ", "\ud800"):
        with pytest.raises(ProjectError):
            store.add_category(bad)
    cat = store.categories()[0]
    with pytest.raises(ProjectError, match="control characters"):
        store.update_category(type(cat)(cat.id, "\x1b[2Jgone", cat.color))
    assert store.category_by_name("fine name") is None
    store.add_category("fine name")


def test_put_instances_refuses_them_all_for_one_bad_shape_or_skips_it_when_asked(store):
    from labeler.geometry import ShapeError

    image = store.images()[0]
    outside = Polygons.rectangle(200, 200, 220, 220)
    batch = [Instance(None, image.id, 1, LEFT), Instance(None, image.id, 1, outside), Instance(None, image.id, 2, RIGHT)]
    with pytest.raises(ShapeError, match="outside the image"):
        store.put_instances(batch)
    assert store.instances(image.id) == []  # nothing written
    stored = store.put_instances(batch, skip_invalid=True)
    assert [(i.category_id, i.shape) for i in stored] == [(1, LEFT), (2, RIGHT)]
    assert [i.id for i in store.instances(image.id)] == [i.id for i in stored] and None not in [i.id for i in stored]


def test_a_bad_suggestion_beside_an_accepted_label_is_left_out_too(store):
    image = store.images()[0]
    store.put_instance(Instance(None, image.id, 1, RIGHT))  # a person's label: suggestions are compared with it
    outcome = suggest(store, image.id, 0, LEFT, Polygons.rectangle(200, 200, 220, 220), RIGHT)
    assert [i.shape for i in outcome.added] == [LEFT]  # the outside one dropped, the one on the label too
