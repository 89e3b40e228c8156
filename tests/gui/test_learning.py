"""The correction loop's window side without a model: the learning curve drawn from the
store's model versions, the effort meter counting a person's work, the review order, and
the retrain setting."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QInputDialog

from labeler.gui import effort as effort_module
from labeler.gui.model_controller import round_message
from labeler.gui.widgets.learning_curve import FAILED_COLOR, MASK_COLOR
from labeler.gui.widgets.learning_panel import LearningPanel
from labeler.store import ProjectStore
from labeler.store.effort import effort_summary
from labeler.store.proposals import Suggestion, store_suggestions
from labeler.store.training import Snapshot, begin_version, finish_version, retrain_every, set_retrain_every
from labeler.workers.protocol import RoundDone, RoundStarted, TrainProgress

from .test_suggestions import LOW, SQUARE, WIDE, suggest
from .test_window import CTRL, K

# accepted images, status, metrics, reason
ROUNDS = [
    (4, "promoted", {"mask_ap": 0.05, "box_ap": 0.08, "loss": 1.9}, "first round: trained without error"),
    (8, "promoted", {"mask_ap": 0.18, "box_ap": 0.22, "loss": 1.2}, "held-out mask AP 0.180 >= 0.050 of v1"),
    (12, "kept_previous", {"mask_ap": 0.15, "box_ap": 0.2, "loss": 1.1}, "held-out mask AP 0.150 < 0.180 of v2"),
    (14, "failed", {}, "training diverged (loss nan at step 3); the current model stays"),
    (20, "promoted", {"mask_ap": 0.31, "box_ap": 0.36, "loss": 0.8}, "held-out mask AP 0.310 >= 0.180 of v2"),
]


def add_rounds(project, rounds=ROUNDS) -> None:
    with ProjectStore.open(project) as store:
        current = 0
        for accepted, status, metrics, reason in rounds:
            held = max(1, accepted // 5)
            snapshot = Snapshot(f"s{accepted}", ((None, ()),) * (accepted - held), ((None, ()),) * held,
                                (1, 2), ("cat", "dog"), current)
            version = begin_version(store, snapshot, "maskrcnn_tiny")
            finish_version(store, version, status, metrics=metrics, reason=reason)
            current = version if status == "promoted" else current


def color_near(a: QColor, b: QColor, tol: int = 40) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a.getRgb()[:3], b.getRgb()[:3]))


def test_learning_curve_draws_each_version(project, qtbot):
    add_rounds(project)
    panel = LearningPanel()
    qtbot.addWidget(panel)
    panel.resize(420, 360)
    with ProjectStore.open(project) as store:
        panel.refresh(store)
    panel.show()
    qtbot.waitExposed(panel)
    curve = panel.curve
    assert [(p.version, p.status, p.accepted_images) for p in curve.points] == [
        (1, "promoted", 4), (2, "promoted", 8), (3, "kept_previous", 12), (4, "failed", 14), (5, "promoted", 20)]
    assert [p.mask_ap for p in curve.points] == [0.05, 0.18, 0.15, None, 0.31]
    assert [p.box_ap for p in curve.points] == [0.08, 0.22, 0.2, None, 0.36]
    assert [p.loss for p in curve.points] == [1.9, 1.2, 1.1, None, 0.8]
    assert curve.current_label == "v5 (current)"
    assert [p.version for p in curve.points if p.current] == [5]
    assert curve.x_max >= 20 and curve.x_ticks[0] == 0 and curve.x_ticks[-1] == curve.x_max
    assert 0.31 <= curve.y_max <= 1.0 and curve.loss_max >= 1.9

    # Higher AP is drawn higher; the failed round sits on the x axis.
    marks = {p.version: curve.mark_position(p) for p in curve.points}
    assert marks[5].y() < marks[2].y() < marks[3].y() < marks[1].y()
    assert math.isclose(marks[4].y(), curve.plot_rect().bottom())
    failed = curve.points[3]
    assert curve.point_at(marks[4] + QPointF(2, -1)) == failed
    assert "diverged" in failed.tooltip()

    image = curve.grab().toImage()  # paint runs, and the marks are where the state says
    at = lambda p: image.pixelColor(round(marks[p].x()), round(marks[p].y()))  # noqa: E731
    assert color_near(at(2), MASK_COLOR)  # promoted: filled
    assert color_near(at(3), curve.palette().base().color())  # kept the previous: hollow
    assert color_near(at(4), FAILED_COLOR)  # failed: a red cross


def test_learning_panel_empty_state_and_a_running_round(project, qtbot):
    panel = LearningPanel()
    qtbot.addWidget(panel)
    with ProjectStore.open(project) as store:
        set_retrain_every(store, 3)
        panel.refresh(store)
    assert panel.curve.points == []
    assert panel.curve.empty_text.startswith("No training rounds yet: accept 3 more images")
    assert not panel.curve.grab().isNull()

    panel.set_available(True)
    panel.set_busy(True)
    assert panel.stop_button.isEnabled() and not panel.train_button.isEnabled()
    assert panel.curve.empty_text.startswith("The first training round is running")
    panel.round_started(RoundStarted(4, 6, 2, 200))
    panel.round_progress(TrainProgress(4, "training", 37, 200, 1.234))
    assert panel.status_label.text() == "Round v4: training step 37/200, loss 1.23"
    assert (panel.progress_bar.value(), panel.progress_bar.maximum()) == (37, 200)
    panel.round_progress(TrainProgress(4, "scoring", 3, 8))
    assert panel.status_label.text() == "Round v4: scoring the new model on held-out images 3/8"
    done = RoundDone(4, "promoted", {"mask_ap": 0.41, "previous_mask_ap": 0.35})
    panel.round_done(done, round_message(done))
    panel.set_busy(False)
    assert panel.status_label.text().splitlines() == ["Model v4 is in: held-out mask AP 0.41 (was 0.35)",
                                                      "Next round after 3 more accepted images (every 3; Model menu)."]
    assert panel.progress_bar.isHidden() and panel.train_button.isEnabled()


def test_a_time_budget_round_shows_the_time_left(qtbot):
    """--train-budget 90s: no step count; the bar shows the time spent, the line the time left."""
    panel = LearningPanel()
    qtbot.addWidget(panel)
    panel.set_available(True)
    panel.set_busy(True)
    panel.round_started(RoundStarted(2, 6, 2, None, 90.0))
    panel.round_progress(TrainProgress(2, "training", 12, None, 0.5, seconds_left=42.0))
    assert panel.status_label.text() == "Round v2: training step 12, 42 s left, loss 0.50"
    assert (panel.progress_bar.value(), panel.progress_bar.maximum()) == (48, 90)
    panel.round_progress(TrainProgress(2, "scoring", 1, 4))
    assert (panel.progress_bar.value(), panel.progress_bar.maximum()) == (1, 4)


def test_round_messages():
    assert round_message(RoundDone(3, "kept_previous", {}, "held-out mask AP 0.2 < 0.3 of v2; v2 stays")) \
        == "Round v3 not kept: held-out mask AP 0.2 < 0.3 of v2; v2 stays"
    assert round_message(RoundDone(3, "failed", {}, "training diverged")) == "Round v3 failed: training diverged"
    assert round_message(RoundDone(None, "skipped", {}, "too few")) == "No training round: too few"
    assert round_message(RoundDone(1, "promoted", {"mask_ap": 0.1})) == "Model v1 is in: held-out mask AP 0.10"


def test_the_window_shows_the_curve_and_takes_the_retrain_setting(project, open_window, monkeypatch):
    add_rounds(project, ROUNDS[:2])
    window = open_window(project)
    assert window.learning_dock.isVisible()
    assert [p.version for p in window.learning.curve.points] == [1, 2]
    assert window.learning.curve.current_label == "v2 (current)"
    assert not window.learning.train_button.isEnabled()  # no model: no trainer

    monkeypatch.setattr(QInputDialog, "getInt", lambda *args, **kwargs: (4, True))
    window.actions_["retrain_every"].trigger()
    assert retrain_every(window.store) == 4
    window.actions_["train_now"].trigger()
    assert "needs the model" in window.statusBar().currentMessage()


def test_effort_counts_vertices_strokes_keys_and_time(project, open_window, person, monkeypatch):
    suggest(project)
    now = [1000.0]
    monkeypatch.setattr(effort_module, "monotonic", lambda: now[0])
    window = open_window(project)
    me = person(window)
    first = window.session.image.id

    now[0] += 5
    me.key(K.Key_P)
    for xy in ((250, 150), (300, 150), (300, 200), (250, 200)):
        me.click(*xy)
    me.click(251, 151)  # closes it: a polygon of 4 vertices
    now[0] += 200  # away from the desk: counts as 60 s
    me.key(K.Key_Tab)
    me.key(K.Key_Return)  # accept the best suggestion as it is
    now[0] += 3
    me.key(K.Key_D)  # the next image: this one's effort is written
    assert window.session.image.id != first

    (row,) = effort_summary(window.store)
    assert (row.model_version, row.images, row.vertices, row.strokes, row.keys) == (0, 1, 4, 0, 1)
    assert row.seconds == 68.0
    assert row.accepted_instances == 2  # the polygon and the accepted suggestion
    assert (row.suggestions_reviewed, row.accepted_unedited) == (1, 1)
    panel = window.learning
    panel.refresh(window.store)
    assert panel.effort == []  # the Effort tab is hidden: its totals are not read
    panel.tabs.setCurrentWidget(panel.effort_table)
    assert [(r.model_version, r.images) for r in panel.effort] == [(0, 1)]
    assert panel.effort_table.item(0, 3).text() == "2.5"  # 5 actions for 2 accepted instances

    me.key(K.Key_R)
    me.drag([(30, 30), (80, 60), (120, 100)])  # a rectangle: its 2 corners
    me.key(K.Key_B)
    me.drag([(60, 60), (70, 70), (90, 80)])  # a stroke on the selected rectangle
    me.key(K.Key_Z, CTRL)  # undo: a key
    now[0] += 10
    window.close()  # written on close
    with ProjectStore.open(project) as store:
        (row,) = effort_summary(store)
    assert (row.images, row.vertices, row.strokes, row.keys, row.seconds) == (2, 6, 1, 2, 78.0)


def test_review_order_puts_the_least_certain_first(project, open_window, person):
    with ProjectStore.open(project) as store:
        img0, img1, img2 = store.images()
        store_suggestions(store, img0.id, 0, [Suggestion(1, SQUARE, 0.9), Suggestion(1, WIDE, 0.8)])
        store_suggestions(store, img1.id, 0, [Suggestion(1, LOW, 0.3)])  # unsure
    window = open_window(project)
    me = person(window)
    browser = window.browser
    assert browser.visible_ids() == [img0.id, img1.id, img2.id]
    assert window.session.image.id == img0.id

    browser.order_combo.setCurrentIndex(browser.order_combo.findData("uncertainty"))
    assert browser.visible_ids() == [img1.id, img0.id, img2.id]  # img2: the model has not seen it
    assert window.session.image.id == img0.id
    me.key(K.Key_D)
    assert window.session.image.id == img2.id
    me.key(K.Key_A)
    me.key(K.Key_A)
    assert window.session.image.id == img1.id

    browser.order_combo.setCurrentIndex(browser.order_combo.findData("path"))
    assert browser.visible_ids() == [img0.id, img1.id, img2.id]


def test_the_trainer_takes_the_model_settings(tmp_path):
    from labeler.gui.model_controller import trainer_config
    from labeler.workers.protocol import WorkerConfig

    model = WorkerConfig(str(tmp_path), model_name="maskrcnn_tiny", weights="w.pt", device="cpu",
                         allow_download=False, class_map={"cat": "cat"}, model_overrides={"min_size": 64})
    config = trainer_config(model, steps=7)
    assert (config.project_dir, config.model_name, config.weights, config.device, config.allow_download,
            config.class_map, config.model_overrides, config.steps) == (
        str(tmp_path), "maskrcnn_tiny", "w.pt", "cpu", False, {"cat": "cat"}, {"min_size": 64}, 7)
    assert config.seconds == 600  # the window's rounds end after ten minutes at the latest
