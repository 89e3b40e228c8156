"""Finding and checking image files.

Sizes come from Pillow, which reads them from the header; each file is also decoded (at
reduced scale for JPEG, via Pillow's draft mode) so that a truncated or corrupt file is
caught when a project is created, not when someone opens it to label.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")

# Pillow refuses images above ~179 megapixels as "decompression bombs". Labeling aerial
# and slide images needs more (20,000 x 20,000 = 400 MP); past a gigapixel we still refuse.
MAX_PIXELS = 1 << 30
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageReadError(Exception):
    """An image file that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class ImageInfo:
    path: Path
    width: int
    height: int


def read_image_info(path: str | os.PathLike, verify: bool = True) -> ImageInfo:
    path = Path(path)
    try:
        with Image.open(path) as im:
            width, height = im.size
            if verify:
                im.draft("L", (max(1, width // 8), max(1, height // 8)))  # JPEG: decode at 1/8
                im.load()
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except Image.DecompressionBombError:
        raise ImageReadError(f"{path}: larger than {MAX_PIXELS:,} pixels") from None
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's ways of saying "corrupt"
        raise ImageReadError(f"{path}: unreadable image ({exc})") from None
    if width <= 0 or height <= 0:
        raise ImageReadError(f"{path}: image has no pixels")
    return ImageInfo(path, width, height)


def find_images(root: str | os.PathLike) -> list[Path]:
    """Image files under root, recursively, by extension, sorted; hidden folders skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in filenames if f.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found)


def scan_images(paths: Iterable[Path], progress: Callable[[int, int], None] | None = None,
                workers: int = 4) -> tuple[list[ImageInfo], list[str]]:
    """Read every image's size (in parallel: Pillow releases the GIL while decoding).
    Returns (readable images, one error line per unreadable file)."""
    paths = list(paths)
    infos: list[ImageInfo] = []
    errors: list[str] = []

    def read(path: Path) -> ImageInfo | str:
        try:
            return read_image_info(path)
        except ImageReadError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, result in enumerate(pool.map(read, paths), 1):
            (errors if isinstance(result, str) else infos).append(result)  # type: ignore[arg-type]
            if progress:
                progress(done, len(paths))
    return infos, errors
