"""Reviewing the model's suggestions like a person: Tab, Enter, Del, Shift+Enter, an edit,
the score threshold, the box prompt; and the model worker feeding the window."""

from __future__ import annotations

import os
import signal

from PySide6.QtCore import Qt

from labeler.core.entities import ImageStatus, InstanceStatus, Polygons
from labeler.store import ProjectStore
from labeler.store.proposals import Suggestion, store_suggestions
from tests.workers.conftest import make_model_project, tiny_config

from .test_window import SHIFT, K, stored

SQUARE = Polygons.rectangle(40, 40, 120, 120)
WIDE = Polygons.rectangle(200, 40, 330, 100)
LOW = Polygons.rectangle(60, 180, 140, 260)


def suggest(project, scores=(0.9, 0.8, 0.3)):
    with ProjectStore.open(project) as store:
        image = store.images()[0]
        store_suggestions(store, image.id, 0, [Suggestion(1, shape, score)
                                               for shape, score in zip((SQUARE, WIDE, LOW), scores)])
    return image


def by_shape(instances):
    return {i.shape: i for i in instances}


def test_tab_enter_del_and_shift_enter(project, open_window, person):
    suggest(project)
    window = open_window(project)
    me = person(window)
    assert window.session.image.status == ImageStatus.PROPOSED
    assert len(window.session.visible_instances()) == 2  # 0.3 is under the default threshold 0.5

    me.key(K.Key_Tab)  # best score first
    assert window.session.selected_instances()[0].shape == SQUARE
    me.key(K.Key_Return)  # accept; the next suggestion is selected
    instances = by_shape(stored(window)[0])
    assert instances[SQUARE].status == InstanceStatus.ACCEPTED
    assert str(instances[SQUARE].provenance) == "model v0"  # accepted as it was
    assert window.session.selected_instances()[0].shape == WIDE

    me.key(K.Key_Delete)  # reject
    instances, image = stored(window)
    assert by_shape(instances)[WIDE].status == InstanceStatus.REJECTED
    assert image.status == ImageStatus.IN_REVIEW
    assert WIDE not in {i.shape for i in window.session.visible_instances()}

    me.key(K.Key_Return, SHIFT)  # nothing left at or above 0.5
    assert by_shape(stored(window)[0])[LOW].status == InstanceStatus.PROPOSED
    window.score_slider.setValue(20)
    assert LOW in {i.shape for i in window.session.visible_instances()}
    me.key(K.Key_Return, SHIFT)
    assert by_shape(stored(window)[0])[LOW].status == InstanceStatus.ACCEPTED

    for _ in range(3):  # each review is one undo step
        me.key(K.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert {i.status for i in stored(window)[0]} == {InstanceStatus.PROPOSED}


def test_editing_a_suggestion_accepts_it_as_edited(project, open_window, person):
    suggest(project)
    window = open_window(project)
    me = person(window)
    me.click(80, 80)
    me.drag([(120, 120), (140, 150)])  # move a corner
    (edited,) = [i for i in stored(window)[0] if i.shape != SQUARE and i.shape != WIDE and i.shape != LOW]
    assert edited.status == InstanceStatus.ACCEPTED
    assert str(edited.provenance) == "model v0 edited"


def test_enter_still_closes_a_polygon_being_drawn(project, open_window, person):
    suggest(project)
    window = open_window(project)
    me = person(window)
    me.key(K.Key_P)
    for xy in ((250, 150), (300, 150), (300, 200)):
        me.click(*xy)
    me.key(K.Key_Return)
    instances = stored(window)[0]
    assert sum(str(i.provenance) == "manual" for i in instances) == 1
    assert all(i.status == InstanceStatus.PROPOSED for i in instances if str(i.provenance) != "manual")


def test_the_model_worker_feeds_the_window(tmp_path, open_window, person, qtbot):
    project = make_model_project(tmp_path)
    window = open_window(project, model=tiny_config(project), suggest_untrained=True)
    me = person(window)
    window.score_slider.setValue(0)
    qtbot.waitUntil(lambda: window.models.bridge.info is not None, timeout=120_000)
    assert "untrained" in window.models.model_label.text()
    # The image on screen gets suggestions, then the batch covers the rest.
    qtbot.waitUntil(lambda: any(i.status == InstanceStatus.PROPOSED
                                for i in window.session.instances.values()), timeout=120_000)
    batch = window.models.batch_progress
    qtbot.waitUntil(lambda: not batch.isVisible() and batch.value() > 0, timeout=120_000)
    with ProjectStore.open(project) as store:
        assert all(i.status == ImageStatus.PROPOSED for i in store.images())

    # Box prompt: M, drag a box; a suggestion appears inside it, selected, Enter accepts it.
    before = set(window.session.instances)
    me.key(K.Key_M, SHIFT)  # the model's box prompt
    me.drag([(30, 30), (60, 60), (100, 110)])
    qtbot.waitUntil(lambda: bool(set(window.session.instances) - before), timeout=120_000)
    (new_id,) = set(window.session.instances) - before
    prompted = window.session.instances[new_id]
    assert prompted.status == InstanceStatus.PROPOSED and window.session.selection == (new_id,)
    me.key(K.Key_Return)
    accepted = {i.id: i for i in stored(window)[0]}[new_id]
    assert accepted.status == InstanceStatus.ACCEPTED and str(accepted.provenance) == "model v0"

    # The worker dies: the window says so, a new one starts, labels are untouched.
    os.kill(window.models.bridge.client.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: "restarted" in window.statusBar().currentMessage(), timeout=60_000)
    qtbot.waitUntil(lambda: window.models.bridge.client.alive, timeout=60_000)
    assert {i.id: i for i in stored(window)[0]}[new_id] == accepted
