"""Smoke test of the PyInstaller build (packaging/README.md): the built `labeler` runs its
command line, creates the demo project from the assets it carries, pre-labels with torch and
torchvision's ops, opens the window offscreen (with and without its worker processes, which
a frozen app must spawn through multiprocessing.freeze_support) and ends cleanly on SIGTERM.

Skipped unless LABELER_FROZEN names the built executable, e.g.
    LABELER_FROZEN=/tmp/pkg-build/dist/labeler/labeler pytest tests/packaging
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import labeler
from labeler.demo import ensure_demo_project
from labeler.store import ProjectStore

from .session import HANG_GUARD_S, app_env, assert_clean_end, embeddings, run_window

FROZEN = os.environ.get("LABELER_FROZEN")
pytestmark = [
    pytest.mark.skipif(not FROZEN, reason="LABELER_FROZEN is not set (no frozen build to test)"),
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]


def frozen(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([FROZEN, *args], cwd=tmp, env=app_env(tmp, frozen=True), capture_output=True,
                          text=True, timeout=HANG_GUARD_S, check=False)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    done = frozen(tmp_path, "demo", "--dir", str(tmp_path / "demo"), "--no-gui")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"demo project: {tmp_path / 'demo'}"
    return tmp_path / "demo"


def test_the_build_is_frozen_and_runs_its_command_line(tmp_path: Path):
    assert Path(FROZEN).is_file() and (Path(FROZEN).parent / "_internal").is_dir()
    done = frozen(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"labeler {labeler.__version__}", done
    done = frozen(tmp_path, "--help")
    assert done.returncode == 0 and "demo" in done.stdout and "prelabel" in done.stdout


def test_demo_project_from_the_bundled_assets(demo: Path, tmp_path: Path):
    """The same project as the installed package makes from assets/demo: the bundle carries
    the images and labels where labeler/demo.py's assets_dir() looks."""
    assert (Path(FROZEN).parent / "_internal" / "assets" / "demo" / "labels.json").is_file()
    reference = ensure_demo_project(tmp_path / "reference")

    def contents(project: Path):
        with ProjectStore.open(project) as store:
            return sorted((i.path, i.width, i.height, i.status.value, len(store.instances(i.id)))
                          for i in store.images())

    got = contents(demo)
    assert got == contents(reference)
    assert sum(row[-1] for row in got) > 0


def test_prelabel_runs_torch_and_torchvision_ops(demo: Path, tmp_path: Path):
    """Mask R-CNN needs torchvision's C++ ops (nms, roi_align), which the bundle must carry."""
    done = frozen(tmp_path, "prelabel", str(demo), "--model", "maskrcnn_tiny", "--device", "cpu", "--offline",
                  "--untrained", "--score-threshold", "0")
    assert done.returncode == 0, done.stderr
    assert "pre-labeled" in done.stdout and "Traceback" not in done.stderr
    with sqlite3.connect(demo / "labeler.db") as db:
        assert db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] > 0


def test_window_ends_cleanly_on_sigterm(demo: Path, tmp_path: Path):
    ended = run_window([FROZEN, "gui", "--no-model", "--no-assist-model"], demo, tmp_path,
                       env=app_env(tmp_path, frozen=True))
    assert_clean_end(ended, tmp_path, signal.SIGTERM)


def test_window_with_its_workers_ends_cleanly_on_sigterm(demo: Path, tmp_path: Path):
    """The model worker (an untrained Mask R-CNN: offline, no weights to fetch) and the assist
    model (SAM 2.1's architecture with random weights: transformers.models.sam2 must be in the
    bundle) run as spawned copies of the frozen executable. The assist worker writes an image
    embedding once it works; then SIGTERM, and every worker must be gone."""
    ended = run_window([FROZEN, "gui", "--model", "maskrcnn_tiny", "--offline", "--device", "cpu",
                        "--assist-model", "random:tiny"], demo, tmp_path, with_assist=True,
                       env=app_env(tmp_path, frozen=True))
    assert embeddings(tmp_path)
    assert len(ended.workers) >= 2, f"expected the model and assist workers, found {ended.workers}"
    assert_clean_end(ended, tmp_path, signal.SIGTERM)
