"""Vertex edits on polygons with holes, and moving shapes."""

import numpy as np
import pytest

from labeler.core.entities import Polygons
from labeler.geometry import mask_to_rle, rle_to_mask
from labeler.geometry.vertices import (
    delete_vertex, insert_vertex, move_vertex, nearest_edge, nearest_vertex, translate,
)

SQUARE = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0))
HOLE = ((4.0, 4.0), (6.0, 4.0), (5.0, 6.0))
DONUT = Polygons(((SQUARE, HOLE),))


def test_nearest_vertex_finds_hole_vertices_and_respects_tolerance():
    assert nearest_vertex(DONUT, 10.5, 0.2, 1.0) == (0, 0, 1)
    assert nearest_vertex(DONUT, 5.1, 5.8, 1.0) == (0, 1, 2)
    assert nearest_vertex(DONUT, 2.0, 2.0, 1.0) is None


def test_nearest_edge_projects_onto_the_edge():
    address, point = nearest_edge(DONUT, 5.0, 0.4, 1.0)
    assert address == (0, 0, 0) and point == pytest.approx((5.0, 0.0))
    address, point = nearest_edge(DONUT, 5.0, 3.8, 0.5)  # the hole's first edge
    assert address == (0, 1, 0) and point == pytest.approx((5.0, 4.0))
    assert nearest_edge(DONUT, 3.0, 3.0, 0.5) is None


def test_move_and_insert_vertex():
    moved = move_vertex(DONUT, (0, 1, 2), 5.0, 7.0)
    assert moved.parts[0][1][2] == (5.0, 7.0) and moved.parts[0][0] == SQUARE
    inserted, address = insert_vertex(DONUT, (0, 0, 0), 5.0, -1.0)
    assert address == (0, 0, 1)
    assert inserted.parts[0][0][:3] == ((0.0, 0.0), (5.0, -1.0), (10.0, 0.0))


def test_delete_vertex_removes_a_small_hole_then_the_part():
    fewer = delete_vertex(DONUT, (0, 0, 1))
    assert len(fewer.parts[0][0]) == 3
    no_hole = delete_vertex(DONUT, (0, 1, 0))  # a 3-vertex hole goes as a whole
    assert not no_hole.has_holes
    a = ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0))
    b = ((5.0, 5.0), (6.0, 5.0), (5.0, 6.0))
    assert delete_vertex(Polygons(((a,),)), (0, 0, 0)) is None
    two = Polygons(((a,), (b,)))
    assert len(delete_vertex(two, (1, 0, 0)).parts) == 1


def test_translate_polygons_and_masks():
    assert translate(DONUT, 1, 2).parts[0][1][0] == (5.0, 6.0)
    mask = np.zeros((10, 12), np.uint8)
    mask[2:4, 3:6] = 1
    moved = rle_to_mask(translate(mask_to_rle(mask), 2, -1))
    assert moved.sum() == 6 and moved[1:3, 5:8].all()
    off = rle_to_mask(translate(mask_to_rle(mask), 8, 0))  # partly off the image: clipped
    assert off.sum() == 2
