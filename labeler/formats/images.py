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

import cv2
import numpy as np
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


# --- decoding pixels -------------------------------------------------------------------

_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}


def decode_image(path: str | Path, reduce: int = 1) -> np.ndarray:
    """8-bit BGR pixels (HxWx3) of an image file, at 1/reduce of its size (2, 4 or 8).

    EXIF orientation is ignored: the project stores raw pixel sizes, as pycocotools and
    torchvision do. Reduced decoding is only cheap for JPEG; for other formats OpenCV
    decodes everything and then shrinks it."""
    path = Path(path)
    if reduce not in _REDUCED:
        raise ValueError(f"reduce must be 1, 2, 4 or 8, not {reduce}")
    if not path.is_file():
        raise ImageReadError(f"{path}: file not found")
    flags = _REDUCED[reduce] | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        pixels = _decode_into_buffer(path, flags, reduce)
        if pixels is None:
            pixels = cv2.imread(str(path), flags)
            if pixels is None and not str(path).isascii():  # OpenCV on Windows: ANSI paths only
                pixels = cv2.imdecode(np.fromfile(path, np.uint8), flags)
    except MemoryError:
        raise ImageReadError(f"{path}: not enough memory to decode this image") from None
    except cv2.error as exc:
        raise ImageReadError(f"{path}: cannot decode ({exc.err or exc})") from None
    if pixels is None or pixels.size == 0:
        raise ImageReadError(f"{path}: cannot decode (corrupt or unsupported image)")
    return pixels


def _decode_into_buffer(path: Path, flags: int, reduce: int) -> np.ndarray | None:
    """Decode straight into a numpy array; None where that cannot be set up (a reduced
    size is only predictable for JPEG: libjpeg rounds up, OpenCV's resize rounds down).

    imread(path, dst) gives no sign of failure, it leaves dst as it was, so the last row
    is filled with a pattern first: a decode that stops early never overwrites it."""
    if not cv2.haveImageReader(str(path)):  # not an image (or a path OpenCV cannot open)
        return None
    try:
        with Image.open(path) as im:  # reads the header only
            (width, height), fmt = im.size, im.format
    except Exception:  # a format Pillow does not know; OpenCV may still read it
        return None
    if reduce > 1:
        if fmt != "JPEG":
            return None
        width, height = -(-width // reduce), -(-height // reduce)
    dst = np.empty((height, width, 3), np.uint8)
    sentinel = (np.arange(width * 3, dtype=np.uint32) * 37 % 251).astype(np.uint8).reshape(width, 3)
    dst[-1] = sentinel
    pixels = cv2.imread(str(path), dst, flags)
    if pixels is dst and np.array_equal(dst[-1], sentinel):
        raise ImageReadError(f"{path}: cannot decode (corrupt or truncated image)")
    return pixels
