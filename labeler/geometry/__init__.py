"""Shape conversions and measures, built on pycocotools, shapely and OpenCV, and the check
every imported shape passes (validate)."""

from .shapes import (
    area, bbox, from_shapely, mask_iou, mask_to_polygons, mask_to_rle, polygons_to_mask,
    rle_to_mask, overlaps, simplify, subtract, to_mask, to_rle, to_shapely, union,
)
# The checked reading of a COCO RLE dict: runs, sum and size verified (validate.py says why).
from .validate import ShapeError, check_shape, rle_from_coco

__all__ = [
    "ShapeError", "area", "bbox", "check_shape", "from_shapely", "mask_iou", "mask_to_polygons",
    "mask_to_rle", "overlaps", "polygons_to_mask", "rle_from_coco", "rle_to_mask", "simplify",
    "subtract", "to_mask", "to_rle", "to_shapely", "union",
]
