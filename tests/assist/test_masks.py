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


def test_holes_are_found_before_any_tracing():
    from labeler.assist.masks import has_holes

    square = np.zeros((20, 20), np.uint8)
    square[4:16, 4:16] = 1
    assert not has_holes(square)
    square[8, 8] = 0  # a one-pixel hole is not a hole (tracing drops it too)
    assert not has_holes(square)
    square[8, 9] = 0
    assert has_holes(square)
    edge = np.ones((20, 20), np.uint8)
    edge[0:3, 5:8] = 0  # open to the border: a notch, not a hole
    assert not has_holes(edge)


def test_a_textured_wand_region_with_thousands_of_holes_becomes_a_mask():
    rng = np.random.default_rng(0)
    speckled = (rng.random((400, 400)) > 0.05).astype(np.uint8)  # about 7,000 holes
    shape = mask_to_shape(speckled)
    assert isinstance(shape, MaskRLE) and np.array_equal(geometry.rle_to_mask(shape), speckled)
