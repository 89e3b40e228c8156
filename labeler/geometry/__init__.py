"""Shape conversions and measures, built on pycocotools, shapely and OpenCV."""

from .shapes import (
    area, bbox, from_shapely, mask_iou, mask_to_polygons, mask_to_rle, polygons_to_mask, rle_from_coco,
    rle_to_mask, overlaps, simplify, subtract, to_mask, to_rle, to_shapely, union,
)

__all__ = [
    "area", "bbox", "from_shapely", "mask_iou", "mask_to_polygons", "mask_to_rle", "overlaps", "polygons_to_mask",
    "rle_from_coco", "rle_to_mask", "simplify", "subtract", "to_mask", "to_rle", "to_shapely",
    "union",
]
