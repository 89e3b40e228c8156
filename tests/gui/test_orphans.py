"""kill -9 the window while its inference worker is up and its trainer is in the middle of a
round: no worker of it is left running, and the next window trains the project. And a window
whose project another live trainer is working on waits for it, says who it is, and trains
once it has ended."""

from __future__ import annotations

import sys

import psutil
import pytest

from labeler.gui.trainer_bridge import TrainerBridge
from labeler.ml.synthetic import make_shapes_project
from labeler.store import ProjectStore
from labeler.store.training import versions
from tests.workers.conftest import tiny_config
from tests.workers.processes import describe, first_line, holder, kill_all, kill_and_watch, python

from .test_training_loop import tiny_trainer
from .test_window import CTRL, K

SESSION = r"""
import os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtWidgets import QApplication
app = QApplication([])
from labeler.gui.main_window import MainWindow
from labeler.store import ProjectStore
from labeler.workers.protocol import TrainerConfig
from tests.workers.conftest import tiny_config

project = sys.argv[1]
trainer = TrainerConfig(project, model_name="maskrcnn_tiny", device="cpu", allow_download=False, steps=10**6,
                        batch_size=1, threads=1,
                        model_overrides={"box_score_thresh": 0.0, "box_detections_per_img": 5})
window = MainWindow(ProjectStore.open(project), model=tiny_config(project), trainer=trainer)
window.show()
deadline = time.monotonic() + 300


def wait(condition):
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    return condition()


ready = wait(lambda: window.models.bridge.info is not None)
window.models.train_now()
training = wait(lambda: window.models.trainer.last is not None)  # a round is under way
print(window.models.bridge.client.pid, window.models.trainer.client.pid, ready, training, flush=True)
app.exec()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_of_the_window_leaves_no_worker_and_the_next_window_trains(tmp_path, open_window, person, qtbot):
    project = make_shapes_project(tmp_path, count=4, accepted=3)
    window_process = python(SESSION, str(project))
    ours: list[psutil.Process] = []
    try:
        worker_pid, trainer_pid, ready, training = first_line(window_process).split()
        assert (ready, training) == ("True", "True"), "the window's workers did not get going"
        ours, left = kill_and_watch(window_process, deadline_s=10)
        assert {int(worker_pid), int(trainer_pid)} <= {p.pid for p in ours}
        assert not left, f"still running 10 s after the window died: {describe(left)}"
    finally:
        window_process.kill()
        window_process.wait(timeout=30)
        kill_all(ours)

    window = open_window(project, model=tiny_config(project), trainer=tiny_trainer(project))
    trainer = window.models.trainer
    rounds = []
    trainer.done.connect(rounds.append)
    qtbot.waitUntil(lambda: trainer.client.alive, timeout=60_000)
    person(window).key(K.Key_T, CTRL)  # Train now
    qtbot.waitUntil(lambda: bool(rounds), timeout=180_000)
    (done,) = rounds
    assert done.status == "promoted" and done.version == 2, done.reason
    with ProjectStore.open(project) as store:
        assert [v.status for v in versions(store)] == ["interrupted", "promoted"]  # v1 died with the window


def test_a_trainer_that_finds_another_at_work_waits_says_who_and_then_trains(tmp_path, qtbot):
    project = make_shapes_project(tmp_path, count=4, accepted=3)
    cli = holder(project, "train")  # as `labeler train` would hold it
    bridge = TrainerBridge(tiny_trainer(project))
    notices, waits, rounds = [], [], []
    bridge.notice.connect(notices.append)
    bridge.waitingChanged.connect(waits.append)
    bridge.done.connect(rounds.append)
    bridge.start()
    try:
        qtbot.waitUntil(lambda: bool(notices), timeout=60_000)
        sentence = f"labeler train (pid {cli.pid}, since "
        assert notices[0].startswith(sentence), notices
        assert notices[0].endswith("is training this project; training starts here when it ends")
        assert bridge.running and bridge.waiting == notices[0]  # not given up: waiting
        assert not bridge.train()
        cli.kill()
        cli.wait(timeout=30)
        qtbot.waitUntil(lambda: bridge.waiting is None and bridge.client.alive, timeout=60_000)
        qtbot.waitUntil(lambda: len(notices) == 2, timeout=60_000)
        assert notices[1] == "The other trainer has ended: training is on here now"
        assert waits == [notices[0], ""]
        assert bridge.train()
        qtbot.waitUntil(lambda: bool(rounds), timeout=120_000)
        assert rounds[0].status == "promoted", rounds[0].reason
    finally:
        bridge.stop()
        if cli.poll() is None:
            cli.kill()
            cli.wait(timeout=30)
