"""The bundled demo project: three freely licensed images (assets/README.md) and 16 labeled
coins, created on first use in the user's data folder."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .core.entities import ImageStatus
from .formats import import_coco
from .imaging import find_images, scan_images
from .formats.common import add_image_files
from .store import DB_NAME, ProjectError, ProjectStore


def assets_dir() -> Path:
    """assets/ of a source checkout (editable install), or the copy a wheel installs."""
    for candidate in (Path(__file__).resolve().parent.parent / "assets",
                      Path(sys.prefix) / "share" / "labeler" / "assets"):
        if (candidate / "demo" / "labels.json").is_file():
            return candidate
    raise ProjectError("the demo assets are not installed (expected assets/demo beside the "
                       "labeler package); reinstall with 'pip install -e .' from a checkout")


def user_data_dir() -> Path:
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "labeler"


def ensure_demo_project(target: Path | None = None, reset: bool = False) -> Path:
    """The demo project's folder, created (images copied, labels imported) if needed."""
    target = Path(target) if target else user_data_dir() / "demo"
    if reset and target.exists():
        shutil.rmtree(target)
    if (target / DB_NAME).exists():
        return target
    demo = assets_dir() / "demo"
    # Built beside the target and renamed into place: an interrupted first run leaves no
    # half-made project behind (the image root is stored relative, so the move is safe).
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    images = partial / "images"
    shutil.copytree(demo / "images", images)
    infos, errors = scan_images(find_images(images))
    if errors:
        raise ProjectError("demo images unreadable: " + "; ".join(errors))
    with ProjectStore.create(partial, images) as store:
        add_image_files(store, infos)
        import_coco(store, [demo / "labels.json"])
        # Only 16 of the coins are labeled: the image is still being worked on.
        coins = store.image_by_path("coins.png")
        store.set_image_status(coins.id, ImageStatus.IN_REVIEW)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, target)
    return target

