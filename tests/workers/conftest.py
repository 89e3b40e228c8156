"""A small project for model tests: a few images of flat shapes, and a tiny untrained model
(maskrcnn_tiny, weights=None) that answers in well under a second on CPU."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from labeler.imaging import find_images, scan_images
from labeler.formats.common import add_image_files
from labeler.store import ProjectStore
from labeler.workers.protocol import WorkerConfig


def shapes_image(path: Path, width: int, height: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 40, np.uint8)
    for _ in range(3):
        x, y = int(rng.integers(20, width - 60)), int(rng.integers(20, height - 60))
        color = tuple(int(c) for c in rng.integers(120, 255, 3))
        if rng.random() < 0.5:
            cv2.rectangle(image, (x, y), (x + 40, y + 40), color, -1)
        else:
            cv2.circle(image, (x + 20, y + 20), 20, color, -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
    return path


def make_model_project(root: Path, count: int = 4) -> Path:
    images = root / "images"
    for n in range(count):
        shapes_image(images / f"img{n}.{'jpg' if n % 2 else 'png'}", 192 + 16 * n, 160, seed=n)
    project = root / "project"
    with ProjectStore.create(project, images, ["square", "disk"]) as store:
        infos, errors = scan_images(find_images(images))
        assert not errors
        add_image_files(store, infos)
    return project


def tiny_config(project: Path, **changes) -> WorkerConfig:
    """Score and mask thresholds 0 and at most 5 detections: an untrained model (random
    heads) still answers with shapes to review, whatever its initialisation."""
    settings = dict(model_name="maskrcnn_tiny", device="cpu", allow_download=False, score_threshold=0.0,
                    mask_threshold=0.0,
                    batch_size=2, model_overrides={"box_score_thresh": 0.0, "box_detections_per_img": 5})
    settings.update(changes)
    return WorkerConfig(str(project), **settings)


def collect(client, until, limit: float = 120.0) -> list:
    """Poll the client until `until(answers)` holds; the limit only stops a hung test."""
    answers: list = []
    deadline = time.monotonic() + limit
    while not until(answers):
        assert time.monotonic() < deadline, f"no answer in {limit} s; got {answers}"
        answers.extend(client.poll())
        time.sleep(0.02)
    return answers


@pytest.fixture
def model_project(tmp_path: Path) -> Path:
    return make_model_project(tmp_path)
