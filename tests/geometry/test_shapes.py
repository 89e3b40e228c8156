from __future__ import annotations

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from labeler import geometry
from labeler.core import MaskRLE, Polygons


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def donut() -> Polygons:
    outer = ((10.0, 10.0), (50.0, 10.0), (50.0, 50.0), (10.0, 50.0))
    hole = ((20.0, 20.0), (40.0, 20.0), (40.0, 40.0), (20.0, 40.0))
    return Polygons(((outer, hole),))


def test_rle_round_trip_is_exact():
    rng = np.random.default_rng(0)
    mask = (rng.random((37, 53)) > 0.6).astype(np.uint8)
    rle = geometry.mask_to_rle(mask)
    assert (rle.height, rle.width) == (37, 53)
    np.testing.assert_array_equal(geometry.rle_to_mask(rle), mask)
    assert geometry.area(rle) == mask.sum()


def test_uncompressed_rle_is_converted():
    rle = geometry.rle_from_coco({"counts": [0, 20, 30], "size": [10, 5]}, 10, 5)
    mask = geometry.rle_to_mask(rle)
    assert mask.sum() == 20 and mask[:, :2].all()  # column-major: the first two columns
    with pytest.raises(ValueError, match="sum"):
        geometry.rle_from_coco({"counts": [0, 20], "size": [10, 5]}, 10, 5)
    with pytest.raises(ValueError, match="does not match"):
        geometry.rle_from_coco({"counts": [0, 50], "size": [10, 5]}, 5, 10)


def test_polygon_area_bbox_and_raster_agree():
    rect = Polygons.rectangle(2, 3, 12, 8)
    assert geometry.area(rect) == 50
    assert geometry.bbox(rect) == (2, 3, 10, 5)
    assert geometry.to_mask(rect, 20, 20).sum() == 50


def test_holes_are_cut_out():
    shape = donut()
    assert geometry.area(shape) == 40 * 40 - 20 * 20
    mask = geometry.to_mask(shape, 60, 60)
    assert mask.sum() == 40 * 40 - 20 * 20
    assert mask[30, 30] == 0 and mask[15, 15] == 1
    assert geometry.bbox(shape) == (10, 10, 40, 40)


def test_overlapping_parts_count_once():
    shape = Polygons.from_flat([[0, 0, 10, 0, 10, 10, 0, 10], [5, 0, 15, 0, 15, 10, 5, 10]])
    assert geometry.area(shape) == 150


def test_mask_to_polygons_recovers_the_mask():
    mask = np.zeros((100, 120), np.uint8)
    cv2.circle(mask, (60, 50), 30, 1, -1)
    cv2.circle(mask, (60, 50), 10, 0, -1)  # a hole
    mask[90, 5:40] = 1  # a one-pixel-wide line
    mask[5:15, 100:110] = 1  # a second part
    poly = geometry.mask_to_polygons(mask, tolerance=0)
    assert poly.has_holes and len(poly.parts) == 3
    assert iou(geometry.to_mask(poly, 100, 120), mask) > 0.99
    simplified = geometry.mask_to_polygons(mask, tolerance=1.0)
    assert simplified.vertex_count < poly.vertex_count
    assert iou(geometry.to_mask(simplified, 100, 120), mask) > 0.93
    assert geometry.mask_to_polygons(np.zeros((5, 5), np.uint8)) is None


def test_union_and_subtract_polygons():
    a = Polygons.rectangle(0, 0, 10, 10)
    b = Polygons.rectangle(5, 0, 15, 10)
    union = geometry.union(a, b, 20, 20)
    assert isinstance(union, Polygons) and geometry.area(union) == 150
    diff = geometry.subtract(a, b, 20, 20)
    assert geometry.area(diff) == 50
    hole = geometry.subtract(Polygons.rectangle(0, 0, 10, 10), Polygons.rectangle(3, 3, 6, 6), 20, 20)
    assert hole.has_holes and geometry.area(hole) == 91
    assert geometry.subtract(b, Polygons.rectangle(0, 0, 20, 20), 20, 20) is None


def test_union_and_subtract_with_masks():
    mask = np.zeros((20, 20), np.uint8)
    mask[0:10, 0:10] = 1
    rle = geometry.mask_to_rle(mask)
    union = geometry.union(rle, Polygons.rectangle(5, 0, 15, 10), 20, 20)
    assert isinstance(union, MaskRLE) and geometry.area(union) == 150
    diff = geometry.subtract(rle, Polygons.rectangle(5, 0, 15, 10), 20, 20)
    assert geometry.area(diff) == 50
    assert geometry.subtract(rle, rle, 20, 20) is None


def test_simplify_reduces_vertices_and_keeps_shape():
    circle = geometry.mask_to_polygons(cv2.circle(np.zeros((200, 200), np.uint8), (100, 100), 80, 1, -1),
                                       tolerance=0)
    simple = geometry.simplify(circle, 1.0)
    assert simple.vertex_count < circle.vertex_count / 2
    assert abs(geometry.area(simple) - geometry.area(circle)) / geometry.area(circle) < 0.02


def test_polygon_rasterisation_matches_pycocotools():
    shape = Polygons.from_flat([[3.2, 1.5, 17.8, 4.1, 11.0, 15.9]])
    expected = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([[3.2, 1.5, 17.8, 4.1, 11.0, 15.9]], 20, 20)))
    np.testing.assert_array_equal(geometry.to_mask(shape, 20, 20), expected)


def test_mask_iou_of_polygons_and_masks():
    left = Polygons.rectangle(0, 0, 10, 10)
    right = Polygons.rectangle(5, 0, 15, 10)
    far = Polygons.rectangle(30, 30, 40, 40)
    as_mask = geometry.to_rle(right, 50, 50)
    iou = geometry.mask_iou([left, far], [right, as_mask, left], 50, 50)
    assert iou.shape == (2, 3)
    assert iou[0] == pytest.approx([50 / 150, 50 / 150, 1.0])
    assert (iou[1] == 0).all()
    assert geometry.mask_iou([], [left], 50, 50).shape == (0, 1)
