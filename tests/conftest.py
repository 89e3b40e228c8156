"""Shared fixtures. Tests never need ../shared: the real-data tests skip without it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labeler.store import ProjectStore

# No display in CI: Qt must draw offscreen (pytest-qt aborts otherwise).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write_image(path: Path, width: int = 64, height: int = 48, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    write_image(root / "a.png", 64, 48, seed=1)
    write_image(root / "b.png", 80, 60, seed=2)
    write_image(root / "sub" / "c.jpg", 40, 30, seed=3)
    return root


@pytest.fixture
def store(tmp_path: Path, image_root: Path):
    from labeler.imaging import find_images, scan_images
    from labeler.formats.common import add_image_files

    s = ProjectStore.create(tmp_path / "project", image_root, ["cat", "dog"])
    infos, errors = scan_images(find_images(image_root))
    assert not errors
    add_image_files(s, infos)
    yield s
    s.close()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present (optional real-data test)")
    return SHARED_DATA
