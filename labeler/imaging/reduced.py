"""Reduced decoding: the one choice of libjpeg DCT reduction (1, 2, 4 or 8) for a decode that
needs only so many pixels, the OpenCV flags for each, and small thumbnails. No Qt, no torch.

libjpeg decodes a JPEG at 1/2, 1/4 or 1/8 of its size straight from the DCT, skipping most
of the work (sizes rounded up); for other formats OpenCV decodes everything, then shrinks.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

REDUCTIONS = (1, 2, 4, 8)
REDUCED_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8}
JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe")


def is_jpeg_name(path: str | os.PathLike) -> bool:
    """Named as a JPEG: the only kind a reduced decode makes cheaper."""
    return str(path).lower().endswith(JPEG_SUFFIXES)


def reduction(width: int, height: int, *, min_side: float | None = None, longer: bool = False,
              max_pixels: int | None = None) -> int:
    """The reduction (1, 2, 4 or 8) to decode a width x height image at; give one of:

    `min_side`: the largest that keeps the shorter side (`longer`: the longer one) at least
    min_side pixels, 1 when even 1/2 does not;
    `max_pixels`: the smallest that brings the decoded image (sizes rounded up, as libjpeg
    does) to at most max_pixels pixels, 8 when none does (libjpeg scales no further)."""
    if (min_side is None) == (max_pixels is None):
        raise ValueError("give either min_side or max_pixels")
    if max_pixels is not None:
        return next((r for r in REDUCTIONS if -(-width // r) * -(-height // r) <= max_pixels), REDUCTIONS[-1])
    side = max(width, height) if longer else min(width, height)
    return next((r for r in reversed(REDUCTIONS) if side / r >= min_side), 1)  # type: ignore[operator]


def decode_thumbnail(path: Path, max_side: int, source_size: tuple[int, int] | None = None) -> np.ndarray | None:
    """8-bit BGR pixels (HxWx3) that fit a max_side square, or None for a file that cannot be
    decoded. Never enlarged.

    The reduction is picked from the known (w, h) to stay just above max_side (none without
    it). OpenCV turns the image by its EXIF orientation. numpy reads the bytes because
    cv2.imread cannot open non-ASCII paths on Windows and logs a warning for every missing file."""
    factor = reduction(*(source_size or (0, 0)), min_side=max_side, longer=True)
    try:
        data = np.fromfile(path, dtype=np.uint8)
        image = cv2.imdecode(data, REDUCED_FLAGS[factor])
    except (cv2.error, OSError, ValueError, MemoryError):
        return None
    if image is None or image.size == 0:
        return None
    h, w = image.shape[:2]
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)
