from __future__ import annotations

import cv2
import numpy as np

from labeler import geometry
from labeler.assist.masks import CropMask, mask_to_shape
from labeler.core.entities import MaskRLE, Polygons


def test_a_mask_without_holes_becomes_a_polygon_in_image_coordinates():
    crop = np.zeros((60, 80), np.uint8)
    cv2.circle(crop, (40, 30), 20, 1, -1)
    shape = mask_to_shape(CropMask(crop, 100, 50, (300, 400)))
    assert isinstance(shape, Polygons) and not shape.has_holes
    raster = geometry.polygons_to_mask(shape, 300, 400)
    full = CropMask(crop, 100, 50, (300, 400)).full()
    assert (raster & full).sum() / (raster | full).sum() > 0.97
    assert shape.vertex_count < 60  # simplified, not one vertex per boundary pixel


def test_a_mask_with_a_hole_becomes_an_rle_mask():
    mask = np.zeros((50, 50), np.uint8)
    cv2.circle(mask, (25, 25), 20, 1, -1)
    cv2.circle(mask, (25, 25), 8, 0, -1)
    shape = mask_to_shape(mask)
    assert isinstance(shape, MaskRLE)
    np.testing.assert_array_equal(geometry.rle_to_mask(shape), mask)


def test_an_empty_mask_is_no_shape():
    assert mask_to_shape(np.zeros((10, 10), np.uint8)) is None
