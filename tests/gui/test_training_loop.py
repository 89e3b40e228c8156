"""The correction loop in the window, with a real trainer and inference worker on CPU and a
tiny untrained model: a person accepts two labeled images, presses Train now, the round is
promoted, the Learning dock shows it and the inference worker swaps the new model in; then
a round starts on its own when enough new images are accepted."""

from __future__ import annotations

import os
import signal

from PySide6.QtWidgets import QInputDialog

from labeler.store import ProjectStore
from labeler.store.training import versions
from labeler.workers.protocol import TrainerConfig
from tests.workers.conftest import make_model_project, tiny_config

from .test_window import CTRL, K

TINY = {"box_score_thresh": 0.0, "box_detections_per_img": 5}


def tiny_trainer(project) -> TrainerConfig:
    return TrainerConfig(str(project), model_name="maskrcnn_tiny", device="cpu", allow_download=False, steps=2,
                         batch_size=1, model_overrides=dict(TINY), threads=1)


def label_and_accept(me) -> None:
    me.key(K.Key_R)
    me.drag([(30, 30), (70, 60), (100, 90)])
    me.key(K.Key_Return, CTRL)  # accepted; the next image opens


def test_train_now_promotes_a_model_that_the_worker_swaps_in(tmp_path, open_window, person, qtbot, monkeypatch):
    project = make_model_project(tmp_path)
    window = open_window(project, model=tiny_config(project), trainer=tiny_trainer(project))
    me = person(window)
    trainer = window.models.trainer
    rounds = []
    trainer.done.connect(rounds.append)
    qtbot.waitUntil(lambda: window.models.bridge.info is not None, timeout=120_000)
    assert window.models.bridge.info.model_version == 0
    assert window.learning.curve.points == [] and "accept 10 more images" in window.learning.curve.empty_text

    monkeypatch.setattr(QInputDialog, "getInt", lambda *args, **kwargs: (3, True))
    window.actions_["retrain_every"].trigger()
    label_and_accept(me)
    label_and_accept(me)
    assert not trainer.busy  # 2 of 3: no round on its own yet
    assert "accept 1 more image" in window.learning.curve.empty_text

    me.key(K.Key_T, CTRL)  # Train now
    assert trainer.busy and window.learning.stop_button.isEnabled()
    qtbot.waitUntil(lambda: bool(rounds), timeout=120_000)
    (done,) = rounds
    assert done.status == "promoted" and done.version == 1, done.reason
    with ProjectStore.open(project) as store:
        (row,) = versions(store)
    assert (row.version, row.status, row.accepted_images) == (1, "promoted", 2)
    assert [p.version for p in window.learning.curve.points] == [1]
    assert window.learning.curve.current_label == "v1 (current)"
    assert window.learning.status_label.text().startswith("Model v1 is in")

    # Hot swap: the worker reloads and says Ready with the new version.
    qtbot.waitUntil(lambda: window.models.bridge.info.model_version == 1, timeout=120_000)
    assert window.models.model_label.text().startswith("Model v1 ")

    # The policy: with 1 as the setting, the next accepted image starts a round by itself.
    monkeypatch.setattr(QInputDialog, "getInt", lambda *args, **kwargs: (1, True))
    window.actions_["retrain_every"].trigger()
    assert not trainer.busy
    label_and_accept(me)
    assert trainer.busy
    window.actions_["stop_round"].trigger()  # it is still scored, then recorded
    qtbot.waitUntil(lambda: len(rounds) == 2, timeout=120_000)
    assert rounds[1].version == 2 and rounds[1].status in ("promoted", "kept_previous")
    assert [p.version for p in window.learning.curve.points] == [1, 2]

    # The trainer dies: the window says so and a new one starts, idle.
    os.kill(trainer.client.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: "trainer stopped unexpectedly" in window.statusBar().currentMessage(), timeout=60_000)
    qtbot.waitUntil(lambda: trainer.client.alive, timeout=60_000)
    assert not trainer.busy and window.learning.train_button.isEnabled()
