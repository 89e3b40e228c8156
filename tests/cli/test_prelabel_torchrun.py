"""`labeler prelabel` under torchrun with two CPU processes (gloo): the images shared out,
rank 0 the only writer and the only voice, resumable, unreadable images on rank 1 reported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from labeler.ml import build_model, save_checkpoint
from labeler.store import ProjectStore

from ..workers.conftest import make_model_project
from .test_train import _free_port

pytestmark = pytest.mark.skipif(shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None,
                                reason="torchrun is not installed next to this Python")

ARGS = ("--model", "maskrcnn_tiny", "--device", "cpu", "--offline", "--score-threshold", "0")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # as torchrun sets it: the same float sums in every run


def prelabel(project: Path, *args: str, processes: int = 2) -> subprocess.CompletedProcess:
    if processes == 1:
        command = [sys.executable, "-m", "labeler"]
    else:
        command = [str(Path(sys.executable).parent / "torchrun"), "--nproc-per-node", str(processes),
                   "--master-port", str(_free_port()), "-m", "labeler"]
    return subprocess.run(command + ["prelabel", str(project), *ARGS, *args], capture_output=True, text=True,
                          timeout=300, env=ENV)


def tiny_weights(path: Path) -> Path:
    """A labeler checkpoint of the tiny model with fixed random weights: both runs use the same."""
    torch.manual_seed(0)
    save_checkpoint(path, build_model("maskrcnn_tiny", 3), "maskrcnn_tiny", ["square", "disk"])
    return path


def suggestions(project: Path) -> dict[str, list]:
    """image path -> its model suggestions (class, score, polygons JSON), and the images
    model v0 has seen (with the count it recorded)."""
    with ProjectStore.open(project) as store:
        seen = dict(store.db.execute("SELECT image_id, proposals FROM predictions WHERE model_version = 0"))
        return {image.path: [seen.get(image.id)] + sorted(
                    (i.category_id, round(i.score, 6), i.shape.to_json()) for i in store.instances(image.id))
                for image in store.images()}


def test_two_processes_write_what_one_would_once_and_resume(tmp_path):
    one = make_model_project(tmp_path / "one", count=5)  # shares of 3 and 2 images
    two = make_model_project(tmp_path / "two", count=5)
    weights = tiny_weights(tmp_path / "tiny.pt")
    single = prelabel(one, "--weights", str(weights), "--batch", "1", processes=1)
    assert single.returncode == 0, single.stderr[-3000:]
    proc = prelabel(two, "--weights", str(weights), "--batch", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("5 images to pre-label (0 done before or not eligible), shared by 2 processes") == 1
    assert proc.stdout.count("pre-labeled 5 images") == 1  # rank 0 speaks for both
    assert proc.stdout.count("model: maskrcnn_tiny") == 1
    expected = suggestions(one)
    assert all(found[0] is not None for found in expected.values())  # every image seen once
    assert sum(len(found) - 1 for found in expected.values()) > 0  # and the model found things
    assert suggestions(two) == expected  # each image the same as in one process, written once
    again = prelabel(two, "--weights", str(weights), "--batch", "1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 images to pre-label (5 done before or not eligible)" in again.stdout
    assert suggestions(two) == expected


def test_an_unreadable_image_on_rank_1_is_reported_by_rank_0_and_skipped(tmp_path):
    project = make_model_project(tmp_path, count=5)
    with ProjectStore.open(project) as store:
        images = store.images()
        broken = images[1]  # image i goes to rank i mod 2
        store.image_path(broken).write_bytes(b"\xff\xd8\xff\xe0 not a JPEG any more")
    proc = prelabel(project, "--untrained", "--batch", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("skipped: ") == 1 and Path(broken.path).name in proc.stderr
    assert "pre-labeled 4 images" in proc.stdout and "1 unreadable images skipped" in proc.stdout
    with ProjectStore.open(project) as store:
        seen = {row[0] for row in store.db.execute("SELECT image_id FROM predictions")}
    assert seen == {im.id for im in images} - {broken.id}  # tried again by the next run


def test_rank_0_s_errors_stop_every_rank_and_are_said_once(tmp_path):
    project = make_model_project(tmp_path, count=2)
    proc = prelabel(project)  # no weights and no --untrained
    assert proc.returncode != 0
    assert proc.stderr.count("labeler: error: no trained weights") == 1
    with ProjectStore.open(project) as store:
        assert store.db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 0
