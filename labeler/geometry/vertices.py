"""Vertex-level edits of polygon shapes, addressed as (part, ring, vertex).

Ring 0 of a part is its exterior, rings 1.. are its holes, so holes are edited exactly like
outlines. Pure functions on core entities (no Qt): the canvas tools call them, tests check
them without a window. Distances are computed by shapely.
"""

from __future__ import annotations

import numpy as np
import shapely

from ..core.entities import Polygons, Shape
from .shapes import mask_to_rle, rle_to_mask

Address = tuple[int, int, int]  # (part, ring, vertex)


def _rings(shape: Polygons):
    for p, part in enumerate(shape.parts):
        for r, ring in enumerate(part):
            yield p, r, ring


def nearest_vertex(shape: Polygons, x: float, y: float, tolerance: float) -> Address | None:
    best, best_d = None, tolerance
    for p, r, ring in _rings(shape):
        pts = np.asarray(ring)
        d = np.hypot(pts[:, 0] - x, pts[:, 1] - y)
        i = int(d.argmin())
        if d[i] <= best_d:
            best, best_d = (p, r, i), float(d[i])
    return best


def nearest_edge(shape: Polygons, x: float, y: float, tolerance: float
                 ) -> tuple[Address, tuple[float, float]] | None:
    """The edge within ``tolerance`` of (x, y), as the address of its first vertex, and the
    point on it closest to (x, y) (where a new vertex goes)."""
    point = shapely.Point(x, y)
    best, best_d = None, tolerance
    for p, r, ring in _rings(shape):
        pts = np.asarray(ring)
        segments = shapely.linestrings(np.stack([pts, np.roll(pts, -1, axis=0)], axis=1))
        d = shapely.distance(point, segments)
        i = int(d.argmin())
        if d[i] <= best_d:
            on = segments[i].interpolate(segments[i].project(point))
            best, best_d = ((p, r, i), (on.x, on.y)), float(d[i])
    return best


def _replace_ring(shape: Polygons, p: int, r: int, ring) -> Polygons:
    part = shape.parts[p]
    new_part = part[:r] + (tuple(ring),) + part[r + 1:]
    return Polygons(shape.parts[:p] + (new_part,) + shape.parts[p + 1:])


def move_vertex(shape: Polygons, address: Address, x: float, y: float) -> Polygons:
    p, r, i = address
    ring = list(shape.parts[p][r])
    ring[i] = (float(x), float(y))
    return _replace_ring(shape, p, r, ring)


def insert_vertex(shape: Polygons, after: Address, x: float, y: float) -> tuple[Polygons, Address]:
    """A new vertex between ``after`` and the next one; returns the shape and its address."""
    p, r, i = after
    ring = list(shape.parts[p][r])
    ring.insert(i + 1, (float(x), float(y)))
    return _replace_ring(shape, p, r, ring), (p, r, i + 1)


def delete_vertex(shape: Polygons, address: Address) -> Polygons | None:
    """Remove a vertex. A ring left with fewer than 3 vertices goes: a hole disappears, an
    exterior takes its whole part with it. None when nothing would be left."""
    p, r, i = address
    ring = shape.parts[p][r]
    if len(ring) > 3:
        return _replace_ring(shape, p, r, ring[:i] + ring[i + 1:])
    if r > 0:  # a hole with 3 vertices: remove the hole
        part = shape.parts[p]
        return Polygons(shape.parts[:p] + (part[:r] + part[r + 1:],) + shape.parts[p + 1:])
    parts = shape.parts[:p] + shape.parts[p + 1:]
    return Polygons(parts) if parts else None


def translate(shape: Shape, dx: float, dy: float) -> Shape:
    """Move a shape; a mask moves by whole pixels and loses what leaves the image."""
    if isinstance(shape, Polygons):
        return Polygons(tuple(tuple(tuple((x + dx, y + dy) for x, y in ring) for ring in part)
                              for part in shape.parts))
    mask = rle_to_mask(shape)
    moved = np.zeros_like(mask)
    ix, iy = int(round(dx)), int(round(dy))
    h, w = mask.shape
    src = mask[max(0, -iy):h - max(0, iy), max(0, -ix):w - max(0, ix)]
    moved[max(0, iy):max(0, iy) + src.shape[0], max(0, ix):max(0, ix) + src.shape[1]] = src
    return mask_to_rle(moved)
