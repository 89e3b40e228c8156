"""The check every shape passes on its way into a project (imports), so that nothing
downstream (pycocotools, shapely, SQLite, the canvas, training) meets a shape it cannot
handle. A shape that fails raises ShapeError with a one-line reason; importers skip it
with a warning.

The rules, and why:
- Every coordinate is a finite number (no NaN, no inf, no integer too large for a float):
  NaN areas cannot be stored, inf areas are not JSON.
- Vertices may lie outside the image by at most the image's own width (x) and height (y).
  A small overshoot (a click just past the border) is **kept as drawn**, not clipped:
  pycocotools clips when it rasterises, and the file's vertices stay what they were. A
  vertex further out is refused (coordinates of 1e8 made pycocotools' rasteriser, which
  walks the outline at 5 points per pixel, allocate without bound and crash). A polygon
  with no area inside the image is refused.
- At most MAX_VERTICES vertices per ring, MAX_TOTAL_VERTICES per instance, MAX_PARTS
  parts per instance, and MAX_OUTLINE pixels of outline (what pycocotools' rasteriser
  walks): beyond those, a single shape takes seconds to minutes and gigabytes.
- A self-intersecting shape (or one whose parts overlap) is repaired later by shapely's
  make_valid, whose time grows much faster than the number of crossings (random rings:
  1,600 crossings 0.8 s, 3,000 crossings 3 s, 200 vertices 10 s, 400 vertices 95 s;
  1,000 copies of one square: 51 s). The places where edges cross or meet are counted
  first (shapely's STRtree, stopping at the limits) and a shape with more than
  MAX_CROSSINGS crossings or MAX_CONTACTS contacts is refused.
- An RLE mask has the image's size, and its runs (compressed or not) are non-negative,
  below 2**32 and add up to exactly height * width. pycocotools checks none of this: it
  decodes any compressed string, and its decoder writes as many pixels as the runs say.
- A labelme mask PNG may not be larger than its image; its size is read from the PNG's
  header before any pixel is decoded.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import shapely
from pycocotools import mask as mask_utils

from ..core.entities import MaskRLE, Polygons, Shape
from ..core.errors import UserError
from .shapes import to_shapely

MAX_VERTICES = 100_000  # per ring
MAX_TOTAL_VERTICES = 200_000  # per instance: make_valid of 1,000,000 vertices took 13 s
MAX_PARTS = 1_000  # per instance
MAX_OUTLINE = 2_000_000  # pixels of outline per instance: ~10 M points in pycocotools' rasteriser
MAX_CROSSINGS = 2_000  # edges crossing edges, per instance: make_valid about 3 s at worst
MAX_CONTACTS = 200_000  # edges meeting edges in any way (duplicated parts), per instance
MAX_MASK_PIXELS = 100_000_000  # a mask's image, in pixels: pycocotools' encoder takes 4 bytes a pixel
OUTSIDE_MARGIN = 1.0  # how far outside the image a vertex may lie, in image widths / heights
_CROSSING_BATCH = 256  # most edges queried at once while counting crossings (bounds memory)


class ShapeError(UserError, ValueError):
    """A shape that cannot enter the project; the message is a one-line reason."""


class EmptyShape(ShapeError):
    """A shape with nothing in it (no area, no pixels): degenerate rather than malformed."""


def check_shape(shape: Shape, height: int, width: int) -> Shape:
    """The shape if it may enter a project on an image of this size; ShapeError if not."""
    if isinstance(shape, MaskRLE):
        return check_mask(shape, height, width)
    return check_polygons(shape, height, width)


# --- coordinates and counts ----------------------------------------------------------

def coordinates(values: Sequence) -> np.ndarray:
    """Numbers from a file as a float64 array; ShapeError for anything that is not a
    finite number (NaN, inf, an integer too large for a float, a string)."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except OverflowError:
        raise ShapeError("a coordinate is too large a number") from None
    except (TypeError, ValueError):
        raise ShapeError("a coordinate is not a number") from None
    if not np.isfinite(array).all():
        raise ShapeError("a coordinate is not a finite number (NaN or infinite)")
    return array


def check_counts(ring_lengths: Sequence[int], parts: int) -> None:
    """Refuse an instance with too many parts or vertices before any work is done on it."""
    if parts > MAX_PARTS:
        raise ShapeError(f"more than {MAX_PARTS:,} parts in one instance ({parts:,})")
    if ring_lengths and max(ring_lengths) > MAX_VERTICES:
        raise ShapeError(f"a ring has more than {MAX_VERTICES:,} vertices ({max(ring_lengths):,})")
    if sum(ring_lengths) > MAX_TOTAL_VERTICES:
        raise ShapeError(f"more than {MAX_TOTAL_VERTICES:,} vertices in one instance ({sum(ring_lengths):,})")


def polygons_from_flat(rings: Sequence[Sequence], height: int, width: int) -> Polygons:
    """COCO's flat [x0, y0, x1, y1, ...] rings, one part each, checked before they are
    turned into a shape (so that 10**400 or a million vertices cost nothing)."""
    check_counts([len(r) // 2 for r in rings], len(rings))
    parts = []
    for ring in rings:
        if len(ring) % 2:
            raise ShapeError("a flat polygon ring needs an even number of coordinates")
        xy = coordinates(ring).reshape(-1, 2)
        parts.append((tuple(map(tuple, xy.tolist())),))
    return check_polygons(Polygons(tuple(parts)), height, width)


# --- polygons ------------------------------------------------------------------------

def check_polygons(shape: Polygons, height: int, width: int) -> Polygons:
    """The shape, less any collapsed ring (see _without_collapsed_rings), if it passes."""
    rings = [ring for part in shape.parts for ring in part]
    check_counts([len(r) for r in rings], len(shape.parts))
    arrays = [coordinates(r).reshape(-1, 2) for r in rings]
    lo, hi = _check_extent(np.concatenate(arrays), height, width)
    geom = _raw_geometry(shape)
    if geom.length > MAX_OUTLINE:
        raise ShapeError(f"outline longer than {MAX_OUTLINE:,} pixels ({geom.length:,.0f})")
    if not geom.is_valid:
        shape = _without_collapsed_rings(shape, arrays)
        geom = _repaired(shape)
    if geom.area <= 0:
        raise EmptyShape("polygon has no area")
    inside = lo[0] >= 0 and lo[1] >= 0 and hi[0] <= width and hi[1] <= height
    if not inside and shapely.intersection(geom, shapely.box(0, 0, width, height)).area <= 0:
        raise ShapeError(f"polygon lies entirely outside the image ({width}x{height})")
    return shape


def _repaired(shape: Polygons):
    """The shape as a valid shapely geometry, as geometry.to_shapely makes it (and so as
    every later area, bbox and edit will), once the repair is known to be affordable."""
    geom = _raw_geometry(shape)
    if geom.is_valid:
        return geom
    _check_repair_cost([np.asarray(r, np.float64) for part in shape.parts for r in part])
    try:
        return to_shapely(shape)
    except shapely.errors.GEOSException as exc:
        raise ShapeError(f"shapely cannot repair the polygon ({str(exc).splitlines()[0]})") from None


def _without_collapsed_rings(shape: Polygons, arrays: list[np.ndarray]) -> Polygons:
    """The shape without rings whose vertices all lie on one line or point (their convex
    hull has no area): a part whose exterior collapsed goes with its holes, a collapsed
    hole goes alone. GEOS's make_valid refuses such a ring next to a real one ("Overlay
    input is mixed-dimension"), and it holds no pixels. EmptyShape if nothing is left."""
    owners = np.repeat(np.arange(len(arrays)), [len(a) for a in arrays])
    hulls = shapely.convex_hull(shapely.multipoints(np.concatenate(arrays), indices=owners))
    flat = iter(shapely.area(hulls) > 0)
    parts = []
    for part in shape.parts:
        keep = [ring for ring in part if next(flat)]
        if keep and keep[0] is part[0]:
            parts.append(tuple(keep))
    if not parts:
        raise EmptyShape("polygon has no area")
    return Polygons(tuple(parts))


def _check_extent(xy: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The vertices' (x, y) minimum and maximum, if within the margin around the image."""
    mx, my = OUTSIDE_MARGIN * width, OUTSIDE_MARGIN * height
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    if lo[0] < -mx or hi[0] > width + mx or lo[1] < -my or hi[1] > height + my:
        raise ShapeError(f"vertices lie too far outside the image ({width}x{height}): x from "
                         f"{lo[0]:.6g} to {hi[0]:.6g}, y from {lo[1]:.6g} to {hi[1]:.6g}; at most "
                         f"one image width/height beyond the border is allowed")
    return lo, hi


def _raw_geometry(shape: Polygons):
    """The shape as shapely reads it, not repaired (to ask whether it needs repair)."""
    polys = [shapely.Polygon(part[0], holes=part[1:]) for part in shape.parts]
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def count_contacts(rings: Sequence[np.ndarray], max_crossings: int, max_contacts: int) -> tuple[int, int]:
    """(crossings, contacts) between the edges of the shape's rings: pairs of edges that
    cross, and pairs that meet in any way (crossing, touching, lying on each other), an edge
    and its two ring neighbours left out. Counted with shapely's STRtree a few edges at a
    time, in growing batches, stopping once either limit is passed: a polygon with a billion
    crossings costs no more than one at the limit."""
    segments = np.concatenate([np.stack([r, np.roll(r, -1, axis=0)], axis=1) for r in rings])
    lines = shapely.linestrings(segments)
    tree = shapely.STRtree(lines)
    crossings = contacts = 0  # each pair is seen from both of its edges
    start, batch = 0, 1
    while start < len(lines) and crossings <= 2 * max_crossings and contacts <= 2 * max_contacts:
        mine, other = tree.query(lines[start:start + batch], predicate="intersects")
        contacts += len(other) - 3 * len(lines[start:start + batch])  # itself and its neighbours
        crossings += int(shapely.crosses(lines[start + mine], lines[other]).sum())
        start, batch = start + batch, min(2 * batch, _CROSSING_BATCH)
    return crossings // 2, max(contacts, 0) // 2


def _check_repair_cost(rings: Sequence[np.ndarray]) -> None:
    crossings, contacts = count_contacts(rings, MAX_CROSSINGS, MAX_CONTACTS)
    if crossings > MAX_CROSSINGS:
        raise ShapeError(f"edges cross at more than {MAX_CROSSINGS:,} points, too many to repair")
    if contacts > MAX_CONTACTS:
        raise ShapeError(f"edges meet or overlap at more than {MAX_CONTACTS:,} places, too many to repair")


# --- masks ---------------------------------------------------------------------------

def check_mask(rle: MaskRLE, height: int, width: int) -> MaskRLE:
    if (rle.height, rle.width) != (height, width):
        raise ShapeError(f"RLE size {rle.height}x{rle.width} (height x width) does not match "
                         f"the image ({height}x{width})")
    _check_runs(compressed_runs(rle.counts), height, width)
    return rle


def rle_from_coco(segmentation: dict, height: int, width: int) -> MaskRLE:
    """A COCO RLE dict, compressed (string counts) or uncompressed (list counts), checked
    and as compressed RLE."""
    size = segmentation.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(s) for s in size)):
        raise ShapeError("RLE 'size' must be [height, width] (two integers)")
    if list(size) != [height, width]:
        raise ShapeError(f"RLE size {size} does not match the image ({height}x{width})")
    counts = segmentation.get("counts")
    if isinstance(counts, list):
        runs = uncompressed_runs(counts)
        _check_runs(runs, height, width)
        compressed = mask_utils.frPyObjects({"size": [height, width], "counts": runs.tolist()}, height, width)
        return MaskRLE(height, width, compressed["counts"].decode("ascii"))
    if isinstance(counts, (str, bytes)):
        text = counts.decode("latin-1") if isinstance(counts, bytes) else counts
        return check_mask(MaskRLE(height, width, text), height, width)
    raise ShapeError("RLE 'counts' must be a string or a list of integers")


def uncompressed_runs(counts: list) -> np.ndarray:
    if not all(_is_int(c) for c in counts):
        raise ShapeError("uncompressed RLE counts must be integers")
    try:
        return np.asarray(counts, dtype=np.int64).reshape(-1)
    except OverflowError:
        raise ShapeError("an uncompressed RLE count is out of range") from None


def compressed_runs(counts: str) -> np.ndarray:
    """The runs of COCO's compressed RLE string, decoded as pycocotools' rleFrString does
    (5 bits per character from '0', a continuation bit, a sign bit, and each run after the
    third stored as the difference to the run two before it). pycocotools decodes any
    string without complaint and exposes no runs, so they are decoded here, vectorised."""
    try:
        raw = counts.encode("ascii")
    except UnicodeEncodeError:
        raise ShapeError("compressed RLE counts are not ASCII") from None
    chars = np.frombuffer(raw, np.uint8).astype(np.int64) - 48
    if chars.size == 0:
        return chars
    if chars.min() < 0 or chars.max() > 63:
        raise ShapeError("compressed RLE counts have characters outside '0'..'o'")
    more = (chars & 0x20) != 0
    if more[-1]:
        raise ShapeError("compressed RLE counts end in the middle of a run")
    ends = np.flatnonzero(~more)
    starts = np.r_[0, ends[:-1] + 1]
    lengths = ends - starts + 1
    if lengths.max() > 7:  # 7 characters hold 35 bits: more is no count below 2**32
        raise ShapeError("a compressed RLE run is too long a number")
    position = np.arange(chars.size) - np.repeat(starts, lengths)
    values = np.add.reduceat((chars & 0x1F) << (5 * position), starts)
    values = np.where((chars[ends] & 0x10) != 0, values - (np.int64(1) << (5 * lengths)), values)
    runs = values.copy()
    runs[3::2] = np.cumsum(values[1::2])[1:]
    runs[4::2] = np.cumsum(values[2::2])[1:]
    return runs


def _check_runs(runs: np.ndarray, height: int, width: int) -> None:
    if runs.size and runs.min() < 0:
        raise ShapeError("RLE has a negative run")
    if runs.size and runs.max() >= 2**32:
        raise ShapeError("RLE has a run of 2**32 or more")
    total = int(runs.sum())
    if total != height * width:
        raise ShapeError(f"RLE counts sum to {total}, not {height}*{width} (the image's pixels)")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- labelme mask images -------------------------------------------------------------

def check_mask_image_size(mask_width: int, mask_height: int, height: int, width: int) -> None:
    """A labelme mask is a PNG of its shape's box, so it is never larger than its image;
    call with the size in the PNG's header, before decoding its pixels. A mask is made over
    the whole image, so the image may not exceed MAX_MASK_PIXELS either: pycocotools'
    encoder allocates 4 bytes a pixel without checking, and a 30000x30000 image (3.6 GB)
    crashed the import."""
    if mask_width > width or mask_height > height:
        raise ShapeError(f"mask PNG is {mask_width}x{mask_height}, larger than its image ({width}x{height})")
    if width * height > MAX_MASK_PIXELS:
        raise ShapeError(f"a mask on an image of {width}x{height} ({width * height:,} pixels) is over the "
                         f"{MAX_MASK_PIXELS:,}-pixel limit for masks; draw it as polygons")
