"""Polygon <-> mask <-> RLE, area, bbox, simplification, union and subtraction.

The libraries do the work: pycocotools for RLE (encode, decode, polygon rasterisation,
area, bbox, merge), shapely for polygon algebra and simplification, OpenCV for contours.
Rasterising a polygon always goes through pycocotools, so a polygon becomes exactly the
mask that COCOeval, torchvision and detectron2 make of it.

Masks are uint8 arrays of shape (H, W) with values 0/1.
"""

from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np
import shapely
from pycocotools import mask as mask_utils
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from ..core.entities import MaskRLE, Polygons, Shape

BBox = tuple[float, float, float, float]  # x, y, width, height (COCO)


# --- RLE -------------------------------------------------------------------------------

def mask_to_rle(mask: np.ndarray) -> MaskRLE:
    mask = np.asfortranarray(mask.astype(np.uint8, copy=False))
    rle = mask_utils.encode(mask)
    return MaskRLE(mask.shape[0], mask.shape[1], rle["counts"].decode("ascii"))


def rle_to_mask(rle: MaskRLE) -> np.ndarray:
    return mask_utils.decode(_coco_rle(rle))


def _coco_rle(rle: MaskRLE) -> dict:
    return {"size": [rle.height, rle.width], "counts": rle.counts.encode("ascii")}


def rle_from_coco(segmentation: dict, height: int, width: int) -> MaskRLE:
    """A COCO RLE dict, compressed (string counts) or uncompressed (list counts)."""
    size = segmentation.get("size")
    counts = segmentation.get("counts")
    if not (isinstance(size, list) and len(size) == 2):
        raise ValueError("RLE 'size' must be [height, width]")
    if [int(size[0]), int(size[1])] != [height, width]:
        raise ValueError(f"RLE size {size} does not match the image ({height}x{width})")
    if isinstance(counts, list):
        if sum(counts) != height * width:
            raise ValueError(f"uncompressed RLE counts sum to {sum(counts)}, not {height}*{width}")
        compressed = mask_utils.frPyObjects(segmentation, height, width)
        return MaskRLE(height, width, compressed["counts"].decode("ascii"))
    if isinstance(counts, (str, bytes)):
        rle = MaskRLE.from_json(segmentation)
        mask_utils.area(_coco_rle(rle))  # raises on counts that do not decode
        return rle
    raise ValueError("RLE 'counts' must be a string or a list of integers")


# --- polygons --------------------------------------------------------------------------

def polygons_to_mask(shape: Polygons, height: int, width: int) -> np.ndarray:
    """Rasterise with pycocotools; holes are cut out of their part."""
    mask = np.zeros((height, width), np.uint8)
    for part in shape.parts:
        flat = [[c for xy in ring for c in xy] for ring in part]
        rles = mask_utils.frPyObjects(flat, height, width)
        exterior = mask_utils.decode(rles[0])
        if len(rles) > 1:
            holes = mask_utils.decode(mask_utils.merge(rles[1:]))
            exterior &= 1 - holes
        mask |= exterior
    return mask


def to_rle(shape: Shape, height: int, width: int) -> MaskRLE:
    if isinstance(shape, MaskRLE):
        return shape
    if not shape.has_holes:
        flat = [[c for xy in part[0] for c in xy] for part in shape.parts]
        rle = mask_utils.merge(mask_utils.frPyObjects(flat, height, width))
        return MaskRLE(height, width, rle["counts"].decode("ascii"))
    return mask_to_rle(polygons_to_mask(shape, height, width))


def to_mask(shape: Shape, height: int, width: int) -> np.ndarray:
    return rle_to_mask(to_rle(shape, height, width))


def mask_iou(a: Iterable[Shape], b: Iterable[Shape], height: int, width: int) -> np.ndarray:
    """Mask IoU of every shape of `a` (rows) with every shape of `b` (columns), as COCOeval
    computes it (pycocotools maskUtils.iou on RLE)."""
    ra = [_coco_rle(to_rle(s, height, width)) for s in a]
    rb = [_coco_rle(to_rle(s, height, width)) for s in b]
    if not ra or not rb:
        return np.zeros((len(ra), len(rb)))
    return np.asarray(mask_utils.iou(ra, rb, [0] * len(rb)), dtype=float).reshape(len(ra), len(rb))


def mask_to_polygons(mask: np.ndarray, tolerance: float = 0.5, min_area: float = 1.0) -> Polygons | None:
    """Trace a mask into polygons with holes (OpenCV contours, shapely simplification).

    Contours run through the centres of boundary pixels; growing them by half a pixel puts
    the outline on the pixel edges, so the polygon covers the mask's pixels rather than
    shaving half a pixel off all round (which costs small objects much of their area).
    Returns None for an empty mask.
    """
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return None
    hierarchy = hierarchy[0]
    geoms: list[BaseGeometry] = []
    for i, contour in enumerate(contours):
        if hierarchy[i][3] != -1:
            continue  # a hole: handled with its parent
        holes = []
        child = hierarchy[i][2]
        while child != -1:
            holes.append(_contour_polygon(contours[child]))
            child = hierarchy[child][0]
        outer = _contour_polygon(contours[i]).buffer(0.5, join_style="mitre", cap_style="square")
        # A hole's contour runs on the centres of the surrounding object pixels, so the hole
        # is the ring shrunk by half a pixel. All of them at once: one difference, not one per
        # hole (a wand region on texture has thousands; one at a time took minutes).
        cut = [h.buffer(-0.5, join_style="mitre") for h in holes if not h.is_empty]
        if cut:
            outer = outer.difference(shapely.union_all(cut))
        geoms.append(outer)
    merged = shapely.union_all(geoms) if geoms else Polygon()
    if tolerance > 0:
        merged = merged.simplify(tolerance, preserve_topology=True)
    return from_shapely(merged, min_area=min_area)


def _contour_polygon(contour: np.ndarray) -> BaseGeometry:
    """The contour through pixel centres; one-pixel-wide parts come out as lines or points,
    which the half-pixel buffer turns into their true pixel area."""
    pts = contour.reshape(-1, 2).astype(np.float64) + 0.5  # pixel index -> pixel centre
    if len(pts) >= 3:
        poly = Polygon(pts)
        return poly if poly.is_valid else shapely.make_valid(poly)
    return shapely.LineString(pts) if len(pts) == 2 else shapely.Point(pts[0])


def to_shapely(shape: Polygons) -> BaseGeometry:
    """The shape as a valid shapely geometry (self-intersections repaired)."""
    polys = [Polygon(part[0], holes=part[1:]) for part in shape.parts]
    geom = polys[0] if len(polys) == 1 else MultiPolygon(polys)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return geom


def from_shapely(geom: BaseGeometry, min_area: float = 0.0) -> Polygons | None:
    """Polygonal parts of a geometry (lines and points dropped); None if nothing is left."""
    parts = []
    for poly in _polygons_in(geom):
        if poly.is_empty or poly.area <= min_area:
            continue
        rings = [poly.exterior] + [r for r in poly.interiors if Polygon(r).area > min_area]
        parts.append(tuple(tuple(map(tuple, np.asarray(r.coords)[:-1].tolist())) for r in rings))
    parts = [p for p in parts if all(len(r) >= 3 for r in p)]
    return Polygons(tuple(parts)) if parts else None


def _polygons_in(geom: BaseGeometry) -> Iterable[Polygon]:
    if isinstance(geom, Polygon):
        yield geom
    elif hasattr(geom, "geoms"):
        for g in geom.geoms:
            yield from _polygons_in(g)


def simplify(shape: Polygons, tolerance: float) -> Polygons:
    """Fewer vertices, same topology (Douglas-Peucker via shapely); never empties a shape."""
    simplified = from_shapely(to_shapely(shape).simplify(tolerance, preserve_topology=True))
    return simplified if simplified is not None else shape


# --- measures --------------------------------------------------------------------------

def area(shape: Shape) -> float:
    """Polygons: exact geometric area (holes removed, overlaps counted once). Masks: pixels."""
    if isinstance(shape, MaskRLE):
        return float(mask_utils.area(_coco_rle(shape)))
    return float(to_shapely(shape).area)


def bbox(shape: Shape) -> BBox:
    """Tight xywh box: the extent of the vertices, or of the mask's pixels."""
    if isinstance(shape, MaskRLE):
        x, y, w, h = mask_utils.toBbox(_coco_rle(shape)).tolist()
        return (x, y, w, h)
    xs = [x for part in shape.parts for x, _ in part[0]]
    ys = [y for part in shape.parts for _, y in part[0]]
    return (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


# --- algebra ---------------------------------------------------------------------------

def union(a: Shape, b: Shape, height: int, width: int) -> Shape:
    """Polygons with polygons stay polygons; anything with a mask becomes a mask."""
    if isinstance(a, Polygons) and isinstance(b, Polygons):
        merged = from_shapely(to_shapely(a).union(to_shapely(b)))
        return merged if merged is not None else a
    merged = mask_utils.merge([_coco_rle(to_rle(a, height, width)), _coco_rle(to_rle(b, height, width))])
    return MaskRLE(height, width, merged["counts"].decode("ascii"))


def overlaps(a: Shape, b: Shape, height: int, width: int) -> bool:
    """Do the two shapes share any area (pixels, for a mask)?"""
    if isinstance(a, Polygons) and isinstance(b, Polygons):
        return bool(to_shapely(a).intersection(to_shapely(b)).area > 0)
    both = mask_utils.merge([_coco_rle(to_rle(a, height, width)), _coco_rle(to_rle(b, height, width))],
                            intersect=True)
    return bool(mask_utils.area(both) > 0)


def subtract(a: Shape, b: Shape, height: int, width: int) -> Shape | None:
    """a minus b; None when nothing is left."""
    if isinstance(a, Polygons) and isinstance(b, Polygons):
        return from_shapely(to_shapely(a).difference(to_shapely(b)))
    mask = to_mask(a, height, width) & (1 - to_mask(b, height, width))
    return mask_to_rle(mask) if mask.any() else None
