"""An assisted mask as it travels: a crop and its offset, cheap for huge images; and the
step that turns it into an ordinary labeler shape."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .. import geometry
from ..core.entities import MaskRLE, Polygons

POLYGON_TOLERANCE = 1.0
"""Douglas-Peucker tolerance (image pixels) of an assisted mask traced into a polygon, the
same 1 px that `labeler simulate` uses. Measured on the 50 final GrabCut-benchmark masks
(`benchmarks/assist.py --parts shape`): the polygon's raster against the mask has mean IoU
0.993 (lowest 0.983) with 147 vertices on average; 0.5 px keeps 0.9986 with 275 vertices,
2 px falls to 0.985 (lowest 0.954) with 66. The masks themselves are only as fine as
GrabCut's working resolution (about 1.4 image pixels per working pixel on these crops),
so the half-pixel tolerance buys vertices to drag, not accuracy."""


@dataclass(frozen=True)
class CropMask:
    """A binary mask that is zero outside `mask`'s rectangle, placed at (x, y) in an image
    of `image_size` (height, width). `mask` is uint8 0/1."""

    mask: np.ndarray
    x: int
    y: int
    image_size: tuple[int, int]

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))

    def full(self) -> np.ndarray:
        """The whole-image uint8 0/1 mask."""
        out = np.zeros(self.image_size, np.uint8)
        h, w = self.mask.shape
        out[self.y:self.y + h, self.x:self.x + w] = self.mask
        return out


def has_holes(mask: np.ndarray) -> bool:
    """A background region of more than one pixel that the mask encloses (one-pixel holes
    are not holes: geometry.mask_to_polygons drops them)."""
    outside = np.pad((np.asarray(mask) == 0).astype(np.uint8), 1, constant_values=1)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(outside, connectivity=4)
    border = labels[0, 0]
    return any(k != border and stats[k, cv2.CC_STAT_AREA] > 1 for k in range(1, count))


def mask_to_shape(mask: CropMask | np.ndarray,
                  tolerance: float = POLYGON_TOLERANCE) -> Polygons | MaskRLE | None:
    """An assisted mask as an instance shape: polygons (simplified at `tolerance` px) when
    the traced outline has no holes, else an RLE mask of the whole image; None when empty.
    Holes of at most one pixel's area are not holes (geometry.mask_to_polygons drops them)."""
    if isinstance(mask, np.ndarray):
        mask = CropMask(np.asarray(mask, np.uint8), 0, 0, tuple(mask.shape[:2]))
    if not mask.mask.any():
        return None
    if has_holes(mask.mask):  # straight to RLE: tracing thousands of holes only to learn that is slow
        return geometry.mask_to_rle(mask.full())
    polygons = geometry.mask_to_polygons(mask.mask, tolerance=tolerance)
    if polygons is None:
        return None
    if polygons.has_holes:
        return geometry.mask_to_rle(mask.full())
    dx, dy = float(mask.x), float(mask.y)
    return Polygons(tuple(tuple(tuple((px + dx, py + dy) for px, py in ring) for ring in part)
                          for part in polygons.parts))
