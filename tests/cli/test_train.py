"""`labeler train`: rounds from the command line, in one process and under torchrun (DDP, gloo on CPU)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from labeler.ml.synthetic import make_shapes_project
from labeler.store import ProjectStore
from labeler.store.proposals import current_model_version
from labeler.store.training import versions

from .test_cli import run

TINY = ("--model", "maskrcnn_tiny", "--device", "cpu", "--offline", "--batch", "1")


def test_train_runs_rounds_and_reports_each(tmp_path, capsys):
    project = make_shapes_project(tmp_path, count=5, accepted=4)
    code, out, err = run(capsys, "train", project, *TINY, "--budget", "3", "--rounds", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("v1: promoted - held-out mask AP") and "3 steps" in lines[0]
    assert lines[1].startswith("v2: ")
    assert "round v1: 3 training images, 1 held-out images" in err and "training v1: 3/3" in err
    with ProjectStore.open(project) as store:
        assert [v.version for v in versions(store)] == [1, 2] and current_model_version(store) >= 1


def test_train_says_why_it_cannot_start(tmp_path, capsys):
    project = make_shapes_project(tmp_path, count=3, accepted=1)
    code, out, _ = run(capsys, "train", project, *TINY)
    assert code == 1 and "needs at least 2 accepted images" in out
    code, _, err = run(capsys, "train", project, *TINY, "--budget", "soon")
    assert code == 2 and "not a step count" in err
    code, _, err = run(capsys, "train", tmp_path / "nowhere", *TINY)
    assert code == 2 and "not a labeler project" in err


def test_the_window_refuses_a_bad_training_budget_before_it_opens(tmp_path, capsys):
    project = make_shapes_project(tmp_path, count=2)
    code, _, err = run(capsys, "gui", project, "--train-budget", "a while")
    assert code == 2 and "not a step count" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None,
                    reason="torchrun is not installed next to this Python")
def test_train_under_torchrun_with_two_processes(tmp_path):
    project = make_shapes_project(tmp_path, count=6, accepted=5)
    torchrun = Path(sys.executable).parent / "torchrun"
    proc = subprocess.run([str(torchrun), "--nproc-per-node", "2", "--master-port", str(_free_port()),
                           "-m", "labeler", "train", str(project), *TINY, "--budget", "2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("v1: promoted") == 1  # rank 0 speaks for both
    with ProjectStore.open(project) as store:
        (row,) = versions(store)
        assert row.status == "promoted" and row.metrics["steps"] == 2
