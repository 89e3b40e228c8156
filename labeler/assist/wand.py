"""Magic wand: the connected region of similar colour around a click (OpenCV floodFill).

`tolerance` is the largest difference allowed in each channel (0-255), against the seed's
colour (`fixed_range=True`, the default: the region cannot creep through a slow gradient)
or against the neighbour it is reached from (`fixed_range=False`). Either way a larger
tolerance gives a region that contains the smaller one's. The result is a CropMask over
the filled rectangle only, so a wand click on a 12-megapixel photo costs the region, not
the image; `combine` is Shift (add) and Alt (subtract) on the current mask. Measured by
`benchmarks/assist.py --parts tools` on this 2-core machine: about 1 ms a click on a
1-megapixel photo, 10-15 ms on a 12-megapixel one (18-28 ms when the whole image fills),
so the wand can answer on the GUI thread.
"""

from __future__ import annotations

import cv2
import numpy as np

from .masks import CropMask


def flood_region(image: np.ndarray, x: int, y: int, tolerance: float, connectivity: int = 4,
                 fixed_range: bool = True, allowed: np.ndarray | None = None) -> CropMask:
    """The region floodFill reaches from pixel (x, y) of `image` (uint8, 1 or 3 channels).

    `allowed` (optional, the image's height x width, non-zero = may be filled) confines the
    region. Returns an empty mask when the seed is outside the image or not allowed."""
    if connectivity not in (4, 8):
        raise ValueError("connectivity is 4 or 8")
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError("the wand needs an 8-bit image with 1 or 3 channels")
    h, w = image.shape[:2]
    if not (0 <= x < w and 0 <= y < h) or (allowed is not None and not allowed[y, x]):
        return CropMask(np.zeros((0, 0), np.uint8), 0, 0, (h, w))
    # floodFill never fills where its mask (one pixel larger all round) is non-zero
    barrier = np.zeros((h + 2, w + 2), np.uint8)
    if allowed is not None:
        barrier[1:-1, 1:-1] = (np.asarray(allowed) == 0)
    t = float(max(0.0, tolerance))
    diff = (t,) * (1 if image.ndim == 2 else image.shape[2])
    flags = connectivity | cv2.FLOODFILL_MASK_ONLY | (2 << 8)
    if fixed_range:
        flags |= cv2.FLOODFILL_FIXED_RANGE
    _, _, _, (rx, ry, rw, rh) = cv2.floodFill(np.ascontiguousarray(image), barrier, (int(x), int(y)), 0,
                                              diff, diff, flags)
    region = (barrier[1 + ry:1 + ry + rh, 1 + rx:1 + rx + rw] == 2).astype(np.uint8)
    return CropMask(region, int(rx), int(ry), (h, w))


def magic_wand(image: np.ndarray, x: float, y: float, tolerance: float, connectivity: int = 4,
               fixed_range: bool = True) -> CropMask:
    """The wand at image coordinates (x, y) (pixel (i, j) covers [i, i+1) x [j, j+1))."""
    return flood_region(image, int(np.floor(x)), int(np.floor(y)), tolerance, connectivity, fixed_range)


def combine(current: CropMask | None, region: CropMask, mode: str = "replace") -> CropMask | None:
    """`mode`: "replace" (plain click), "add" (Shift), "subtract" (Alt). The result covers
    the union of both rectangles; None when nothing is left."""
    if mode not in ("replace", "add", "subtract"):
        raise ValueError(f"unknown mode {mode!r}")
    if mode == "replace" or current is None:
        out = None if mode == "subtract" else region
        return out if out is not None and out.area else None
    if current.image_size != region.image_size:
        raise ValueError("the masks belong to images of different sizes")
    x0, y0 = min(current.x, region.x), min(current.y, region.y)
    x1 = max(current.x + current.mask.shape[1], region.x + region.mask.shape[1])
    y1 = max(current.y + current.mask.shape[0], region.y + region.mask.shape[0])
    out = np.zeros((y1 - y0, x1 - x0), np.uint8)
    _paste(out, current, x0, y0, lambda a, b: a | b)
    _paste(out, region, x0, y0, (lambda a, b: a | b) if mode == "add" else (lambda a, b: a & (1 - b)))
    if not out.any():
        return None
    return CropMask(out, x0, y0, current.image_size)


def _paste(out: np.ndarray, m: CropMask, x0: int, y0: int, op) -> None:
    h, w = m.mask.shape
    view = out[m.y - y0:m.y - y0 + h, m.x - x0:m.x - x0 + w]
    view[...] = op(view, m.mask)
