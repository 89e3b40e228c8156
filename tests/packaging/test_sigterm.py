"""SIGTERM and SIGINT end the window as File > Quit does (labeler/gui/app.py): exit status
128 + the signal, no traceback, settings saved, the workers stopped. Runs the installed
`labeler` (python -m labeler) as a separate process, offscreen; no frozen build needed."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from labeler.demo import ensure_demo_project

from .session import assert_clean_end, embeddings, run_window

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

LABELER = [sys.executable, "-m", "labeler", "gui"]


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return ensure_demo_project(tmp_path / "demo")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_closes_the_window_cleanly(demo: Path, tmp_path: Path, sig):
    ended = run_window([*LABELER, "--no-model", "--no-assist-model"], demo, tmp_path, sig)
    assert_clean_end(ended, tmp_path, sig)


def test_sigterm_stops_the_assist_worker(demo: Path, tmp_path: Path):
    """With a worker process running (the assist model, random weights: no download), it is
    stopped and joined, not orphaned."""
    ended = run_window([*LABELER, "--no-model", "--assist-model", "random:tiny", "--device", "cpu"],
                       demo, tmp_path, with_assist=True)
    assert embeddings(tmp_path)
    assert ended.workers, "the assist worker should have been running"
    assert_clean_end(ended, tmp_path)
