"""Who holds a project's trainer lock, and when that blocks a new trainer: a live `labeler
train` or the trainer of a live window does, and is named; a trainer left behind by a window
that is gone does not (it is ended); a window's trainer that finds the lock taken waits,
not gives up, and starts once the holder has ended. Real processes throughout."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import psutil
import pytest

from labeler.ml.synthetic import make_shapes_project
from labeler.workers import lock
from labeler.workers.client import TrainerClient
from labeler.workers.lock import WINDOW, TrainerBusy, TrainerLock, read_holder
from labeler.workers.protocol import Blocked, RoundDone, Train, TrainerReady

from .conftest import collect
from .processes import holder, kill_all, still_running, window_with_holder
from .test_training import trainer_config

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


@pytest.fixture
def shapes_project(tmp_path: Path) -> Path:
    return make_shapes_project(tmp_path, count=4, accepted=3)


def test_a_live_labeler_train_blocks_and_is_named(shapes_project):
    cli = holder(shapes_project, "train")
    try:
        for kind in ("train", WINDOW):
            with pytest.raises(TrainerBusy) as refused:
                TrainerLock(shapes_project, kind=kind).acquire()
            assert f"labeler train (pid {cli.pid}, since " in str(refused.value)
            assert str(refused.value).endswith("is training this project")
            assert refused.value.holder.pid == cli.pid
        assert cli.poll() is None  # a live holder is never ended
    finally:
        cli.kill()
        cli.wait(timeout=30)
    TrainerLock(shapes_project).acquire().release()  # gone with its process


def test_the_trainer_of_a_live_window_blocks_and_is_named(shapes_project):
    window, trainer_pid = window_with_holder(shapes_project)
    try:
        with pytest.raises(TrainerBusy) as refused:
            TrainerLock(shapes_project).acquire()
        assert (f"the trainer of another labeler window (window pid {window.pid}, trainer pid {trainer_pid}, "
                in str(refused.value))
        assert psutil.pid_exists(trainer_pid)
    finally:
        kill_all([psutil.Process(trainer_pid)])
        window.kill()
        window.wait(timeout=30)


@POSIX
def test_a_trainer_left_behind_by_a_dead_window_does_not_block(shapes_project, monkeypatch):
    monkeypatch.setattr(lock, "ORPHAN_GRACE_S", 1.0)  # this stand-in has no lifeline: it must be ended
    window, trainer_pid = window_with_holder(shapes_project)
    orphan = psutil.Process(trainer_pid)
    try:
        os.kill(window.pid, signal.SIGKILL)
        window.wait(timeout=30)
        with TrainerLock(shapes_project):
            assert read_holder(shapes_project).pid == os.getpid()
            assert not still_running([orphan], deadline_s=20)
    finally:
        kill_all([orphan])


def test_a_windows_trainer_waits_for_the_holder_and_then_starts(shapes_project):
    cli = holder(shapes_project, "train")
    client = TrainerClient(trainer_config(shapes_project))
    client.start()
    try:
        answers = collect(client, lambda a: any(isinstance(x, Blocked) for x in a))
        blocked = next(x for x in answers if isinstance(x, Blocked))
        assert blocked.message.startswith(f"labeler train (pid {cli.pid}, since ")
        assert client.fatal is None and client.waiting == blocked.message
        client.send(Train())  # nobody to take it while it waits
        assert not client.busy
        cli.kill()
        cli.wait(timeout=30)
        answers = collect(client, lambda a: any(isinstance(x, TrainerReady) for x in a))
        assert client.waiting is None
        assert not any(isinstance(x, Blocked) for x in answers)  # said once
        assert read_holder(shapes_project).pid == client.pid
        client.send(Train())
        answers = collect(client, lambda a: any(isinstance(x, RoundDone) for x in a))
        assert next(x for x in answers if isinstance(x, RoundDone)).status == "promoted"
    finally:
        client.stop()
        if cli.poll() is None:
            cli.kill()
            cli.wait(timeout=30)
