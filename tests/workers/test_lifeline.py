"""Workers end with the process that started them, however it ends: a parent holding an idle
inference worker and a trainer in the middle of a round is killed with SIGKILL, and nothing it
started (the two workers, multiprocessing's resource tracker) is left running. Each worker's
lifeline reaches only that worker, and a normal stop closes it after a clean shutdown."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import psutil
import pytest

from labeler.ml.synthetic import make_shapes_project
from labeler.workers.client import ProcessClient
from labeler.workers.lock import TrainerLock, read_holder

from .conftest import collect
from .processes import describe, first_line, idle, kill_all, kill_and_watch, python

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

PARENT = r"""
import sys, time
from labeler.workers.client import TrainerClient, WorkerClient
from labeler.workers.protocol import Ready, Train, TrainerConfig, TrainProgress
from tests.workers.conftest import tiny_config

project = sys.argv[1]
worker = WorkerClient(tiny_config(project))
trainer = TrainerClient(TrainerConfig(project, model_name="maskrcnn_tiny", device="cpu", allow_download=False,
                                      steps=10**6, batch_size=1, threads=1,
                                      model_overrides={"box_score_thresh": 0.0, "box_detections_per_img": 5}))
worker.start()
trainer.start()
trainer.send(Train())
ready = training = False
deadline = time.monotonic() + 300
while not (ready and training) and time.monotonic() < deadline:
    ready |= any(isinstance(a, Ready) for a in worker.poll())
    training |= any(isinstance(a, TrainProgress) and a.phase == "training" for a in trainer.poll())
    time.sleep(0.05)
print(worker.pid, trainer.pid, ready, training, flush=True)
time.sleep(3600)
"""


@pytest.fixture
def shapes_project(tmp_path: Path) -> Path:
    return make_shapes_project(tmp_path, count=4, accepted=3)


@POSIX
def test_workers_end_when_their_parent_is_killed(shapes_project):
    parent = python(PARENT, str(shapes_project))
    ours: list[psutil.Process] = []
    try:
        worker_pid, trainer_pid, ready, training = first_line(parent).split()
        assert (ready, training) == ("True", "True"), "the workers did not get going"
        assert read_holder(shapes_project).pid == int(trainer_pid)  # the trainer holds the project
        ours, left = kill_and_watch(parent, deadline_s=20)
        assert {int(worker_pid), int(trainer_pid)} <= {p.pid for p in ours}
        assert not left, f"still running after their parent died: {describe(left)}"
    finally:
        parent.kill()
        parent.wait(timeout=30)
        kill_all(ours)
    TrainerLock(shapes_project).acquire().release()  # and the project can be trained again


def pipe_ends(pid: int) -> set[tuple[int, str]]:
    """(pipe inode, "r" or "w") for each pipe end the process has open (Linux /proc)."""
    ends = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                flags = int(re.search(r"flags:\s+(\d+)", info.read()).group(1), 8)
        except (FileNotFoundError, ProcessLookupError):
            continue
        if target.startswith("pipe:["):
            ends.add((int(target[6:-1]), "w" if flags & 3 == os.O_WRONLY else "r"))
    return ends


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_each_lifeline_reaches_its_own_worker_only_and_a_stop_closes_it():
    first, second = ProcessClient(None, idle), ProcessClient(None, idle)
    first.start()
    second.start()
    try:
        for client in (first, second):
            collect(client, lambda answers: answers == ["up"])
        lines = {c: c._lifeline for c in (first, second)}  # white box: the parent's ends
        inode = {c: os.fstat(line._parent_end.fileno()).st_ino for c, line in lines.items()}
        for client, other in ((first, second), (second, first)):
            ends = pipe_ends(client.pid)
            assert (inode[client], "r") in ends  # it watches its own lifeline...
            assert (inode[client], "w") not in ends  # ...which it cannot keep open itself
            assert inode[other] not in {i for i, _ in ends}  # and has nothing of the other's
            assert lines[client].child_end.closed  # the parent kept no copy of the child's end
        processes = [first._process, second._process]
    finally:
        first.stop()
        second.stop()
    assert all(line.closed for line in lines.values())
    assert [p.exitcode for p in processes] == [0, 0]  # a clean Shutdown, not cut short by the lifeline
