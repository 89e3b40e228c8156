"""YOLO segmentation labels in the Ultralytics layout: the export (yolo_import.py reads it back).

Layout: ``images/{train,val}/<path>`` and ``labels/{train,val}/<path minus suffix>.txt``
(the image's own sub-folders and stem), one line per instance, ``class x1 y1 x2 y2 ...``
normalised by the image's width and height (6 decimals), and ``data.yaml`` with ``train``,
``val``, ``nc`` and ``names`` (class ids 0.. in the project's category order). There is no
``path`` key: Ultralytics resolves a relative ``path`` against the current directory, and
without one it uses the yaml's folder.

Decisions (docs/formats.md has the evidence):
- One line per instance. Holes and further parts join the line by zero-width bridges
  between nearest vertices, walked there and back, as Ultralytics' own COCO converter
  (``merge_multi_segment``) joins parts. Its loader fills a line with cv2.fillPoly, whose
  even-odd rule leaves a bridged hole empty; a bridge adds about a 1-pixel line there.
- A mask is written as its traced outline and holes (geometry.mask_to_polygons, no
  simplification); where that outline, rasterised, differs from the mask by any pixel,
  the export warns (one line per kind, with an example).
- Shapes are clipped to the image (Ultralytics refuses coordinates beyond [-0.01, 1.01]).
- Import reads every line back as one instance: the bridged ring is repaired with
  shapely's make_valid, which gives back the parts and holes. A 5-value box line becomes
  a rectangle proposal to review (its image is left in review), as the COCO import does.
- A bad label file or yaml (a token that is not a number, an odd number of coordinates, a
  class id not in names, coordinates outside [-0.01, 1.01], names missing or malformed)
  stops the import with one line naming the file; nothing of that import is stored.
Reads and writes YAML with PyYAML (yaml.safe_load / safe_dump).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np
import shapely
import yaml

from .. import geometry
from ..core.entities import ImageRecord, ImageStatus, MaskRLE, Polygons
from ..store import ProjectStore
from ..store.training import split_value
from .common import ExportResult, FormatError, ImportReport

YAML_NAME = "data.yaml"
MIN_SIDE = 10  # Ultralytics skips images under 10 px a side
SLACK = 0.01  # Ultralytics refuses coordinates below -0.01 or above 1.01
_EXPORT_ENTRIES = {YAML_NAME, "images", "labels"}


# --- export ----------------------------------------------------------------------------

def export_yolo(store: ProjectStore, out_dir: str | os.PathLike, *, all_images: bool = False,
                val_fraction: float = 0.0,
                progress: Callable[[int, int], None] | None = None) -> ExportResult:
    """Export accepted instances of accepted images (all images with all_images) as a YOLO
    segmentation dataset in out_dir. An image goes to val when split_value(path) <
    val_fraction (the COCO export's rule); with no val images, data.yaml's val points at
    images/train (Ultralytics needs a val entry). Images are hard-linked into images/ when
    on the same file system, else copied; an image without instances gets an empty .txt.

    The dataset is built in a hidden folder beside out_dir and moved into place at the end,
    so a failed export leaves the old one. out_dir must be empty, absent or an earlier YOLO
    export (only data.yaml, images/, labels/), and outside the image root.
    `progress(done, total)` counts instances, before anything is written."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val fraction must be in [0, 1), got {val_fraction}")
    out_dir = Path(out_dir)
    _check_out_dir(store, out_dir)
    report = ImportReport()
    images = store.images() if all_images else store.images(ImageStatus.ACCEPTED)
    categories = store.categories()
    class_of = {c.id: k for k, c in enumerate(categories)}
    kept: list[tuple[ImageRecord, str, PurePosixPath]] = []  # image, split, label path
    seen: dict[tuple[str, PurePosixPath], str] = {}
    for im in images:
        split = "val" if val_fraction > 0 and split_value(im.path) < val_fraction else "train"
        label = PurePosixPath(im.path).with_suffix(".txt")
        if (split, label) in seen:
            report.warn("two images share a folder and stem, so one label file; the second was left out",
                        f"{seen[split, label]} and {im.path}")
            continue
        seen[split, label] = im.path
        if "images" in PurePosixPath(im.path).parts[:-1]:
            report.warn("image path has a folder named 'images': Ultralytics will look for its labels "
                        "in the wrong place", im.path)
        if min(im.width, im.height) < MIN_SIDE:
            report.warn(f"image under {MIN_SIDE} px a side: Ultralytics skips it", im.path)
        kept.append((im, split, label))

    lines = _instance_lines(store, {im.id: im for im, _, _ in kept}, class_of, report, progress)
    tmp = out_dir.parent / f".{out_dir.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        counts = _write_dataset(store, tmp, kept, lines, report)
        splits = {s: f"images/{s}" for s in ("train", "val") if counts[s]}
        if counts["val"] and not counts["train"]:
            report.warn("every image fell in val; data.yaml's train points at images/val too")
        train = splits.get("train", "images/val" if counts["val"] else "images/train")
        data = {"train": train, "val": splits.get("val", train), "nc": len(categories),
                "names": {k: c.name for k, c in enumerate(categories)}}
        (tmp / YAML_NAME).write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
        _replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    written = sum(len(lines.get(im.id, ())) for im, _, _ in kept)
    return ExportResult([out_dir / YAML_NAME], counts["train"] + counts["val"], written,
                            report.warning_lines())


def _check_out_dir(store: ProjectStore, out_dir: Path) -> None:
    resolved = out_dir.resolve()
    if resolved.is_relative_to(store.image_root.resolve()):
        raise FormatError(out_dir, "is inside the project's image root: its images would become "
                                   "project images; choose a folder outside it")
    if out_dir.exists():
        if not out_dir.is_dir():
            raise FormatError(out_dir, "is a file, not a folder")
        entries = {p.name for p in out_dir.iterdir()}
        if entries and not (YAML_NAME in entries and entries <= _EXPORT_ENTRIES):
            raise FormatError(out_dir, "folder is not empty and is not a YOLO export "
                                       "(data.yaml, images/, labels/); choose an empty folder")


def _instance_lines(store: ProjectStore, by_id: dict[int, ImageRecord], class_of: dict[int, int],
                    report: ImportReport, progress) -> dict[int, list[str]]:
    """image id -> its label lines. A polygon of one ring inside its image (most of them)
    is written from its stored text with numpy; the rest go through shapely."""
    rows = list(store.instance_rows(image_ids=list(by_id)))
    fast, slow = _Batch(), _Batch()
    step = max(1, len(rows) // 100)
    for n, row in enumerate(rows):
        if progress is not None and n % step == 0:
            progress(n, len(rows))
        im = by_id[row.image_id]
        bx, by, bw, bh = row.bbox
        inside = bx >= 0 and by >= 0 and bx + bw <= im.width and by + bh <= im.height
        if row.kind == "polygon" and not row.has_holes and inside and "]],[[" not in row.data:
            fast.add(n, class_of[row.category_id], row.data[3:-3], im)
        else:
            xy = _line_vertices(row, im, report)
            if xy is not None:
                slow.add(n, class_of[row.category_id], xy, im)
    by_row = {**fast.lines(), **slow.lines()}
    if progress is not None:
        progress(len(rows), len(rows))
    lines: dict[int, list[str]] = {}
    for n, row in enumerate(rows):
        if n in by_row:
            lines.setdefault(row.image_id, []).append(by_row[n])
    return lines


class _Batch:
    """Rows whose coordinates are normalised and formatted together (one numpy division,
    one % format for all of them)."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.classes: list[int] = []
        self.coords: list = []  # stored JSON text "x,y,..." or (k, 2) pixel arrays
        self.sizes: list[tuple[int, int]] = []

    def add(self, row: int, cls: int, coords, im: ImageRecord) -> None:
        self.rows.append(row)
        self.classes.append(cls)
        self.coords.append(coords)
        self.sizes.append((im.width, im.height))

    def lines(self) -> dict[int, str]:
        if not self.rows:
            return {}
        if isinstance(self.coords[0], str):
            flat = np.fromstring(",".join(self.coords), sep=",")
            counts = np.array([c.count(",") + 1 for c in self.coords]) // 2
        else:
            flat = np.concatenate(self.coords).ravel()
            counts = np.array([len(c) for c in self.coords])
        xy = flat.reshape(-1, 2) / np.repeat(np.asarray(self.sizes, np.float64), counts, axis=0)
        np.clip(xy, 0.0, 1.0, out=xy)  # no "-0.000000"; the vertices are inside already
        starts = np.concatenate([[0], np.cumsum(2 * counts + 1)[:-1]])
        values = np.empty(len(xy) * 2 + len(counts))
        is_class = np.zeros(len(values), bool)
        is_class[starts] = True
        values[is_class] = self.classes
        values[~is_class] = xy.ravel()
        template = "\n".join("%d" + " %.6f" * (2 * int(k)) for k in counts)
        return dict(zip(self.rows, (template % tuple(values.tolist())).split("\n")))


def _line_vertices(row, im: ImageRecord, report: ImportReport) -> np.ndarray | None:
    """The vertices of one line, in pixels: every ring of the shape (clipped to the image)
    joined by bridges. A mask is traced first; None if nothing is left to write."""
    where = f"{im.path}: instance {row.id}"
    shape = MaskRLE.from_json(json.loads(row.data)) if row.kind == "mask" else Polygons.from_json(json.loads(row.data))
    if isinstance(shape, MaskRLE):
        mask = geometry.rle_to_mask(shape)
        traced = geometry.mask_to_polygons(mask, tolerance=0.0)
        if traced is None:
            report.warn("empty mask not written", where)
            return None
        back = geometry.to_mask(traced, im.height, im.width)
        if (back != mask).any():
            iou = (back & mask).sum() / max(1, (back | mask).sum())
            report.warn("mask written as its traced outline, which differs from the mask by some pixels",
                        f"{where}, IoU {iou:.4f}")
        shape = traced
    geom = geometry.to_shapely(shape)
    bx, by, bw, bh = row.bbox
    if bx < 0 or by < 0 or bx + bw > im.width or by + bh > im.height:
        geom = geom.intersection(shapely.box(0, 0, im.width, im.height))
    clipped = geometry.from_shapely(geom)
    if clipped is None:
        report.warn("shape has no area inside its image; not written", where)
        return None
    return bridged(clipped)


def bridged(shape: Polygons) -> np.ndarray:
    """All rings of a shape as one (k, 2) vertex sequence: each hole joined to its part's
    exterior, and each part's exterior to the previous part's, by a bridge between their
    nearest vertices, walked there and back (so it has no width)."""
    rings: list[np.ndarray] = []
    children: dict[int, list[tuple[int, int, int]]] = {}  # ring -> (its vertex, child, child's vertex)
    previous = None
    for part in shape.parts:
        exterior = len(rings)
        rings.append(np.asarray(part[0], np.float64))
        if previous is not None:
            i, j = _nearest(rings[previous], rings[exterior])
            children.setdefault(previous, []).append((i, exterior, j))
        tree = shapely.STRtree(shapely.points(rings[exterior])) if len(part) > 1 else None
        for hole in part[1:]:
            rings.append(np.asarray(hole, np.float64))
            i, j = _nearest(rings[exterior], rings[-1], tree)
            children.setdefault(exterior, []).append((i, len(rings) - 1, j))
        previous = exterior
    out: list[np.ndarray] = []
    stack: list[Any] = [(0, 0)]
    while stack:  # depth-first, without recursion (a mask may have a thousand parts)
        item = stack.pop()
        if isinstance(item, np.ndarray):
            out.append(item)
            continue
        r, entry = item
        ring = np.roll(rings[r], -entry, axis=0)
        n = len(ring)
        kids = sorted(((i - entry) % n, child, j) for i, child, j in children.get(r, ()))
        pieces: list[Any] = []
        start = 0
        for at, child, j in kids:
            pieces += [ring[start:at + 1], (child, j)]
            start = at  # back from the child to the same vertex
        pieces.append(ring[start:] if r == 0 else np.concatenate([ring[start:], ring[:1]]))
        stack += reversed(pieces)
    return np.concatenate(out)


def _nearest(a: np.ndarray, b: np.ndarray, tree: shapely.STRtree | None = None) -> tuple[int, int]:
    """(index in a, index in b) of the closest pair of vertices."""
    tree = tree or shapely.STRtree(shapely.points(a))
    (in_b, in_a), distance = tree.query_nearest(shapely.points(b), return_distance=True, all_matches=False)
    k = int(np.argmin(distance))
    return int(in_a[k]), int(in_b[k])


def _write_dataset(store: ProjectStore, tmp: Path, kept, lines: dict[int, list[str]],
                   report: ImportReport) -> dict[str, int]:
    counts = {"train": 0, "val": 0}
    for im, split, label in kept:
        source = store.image_root / im.path
        target = tmp / "images" / split / im.path
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            _link_or_copy(source, target)
        except FileNotFoundError:
            report.warn("image file missing; left out with its labels", im.path)
            continue
        text = "".join(line + "\n" for line in lines.get(im.id, ()))
        label_path = tmp / "labels" / split / label
        label_path.parent.mkdir(parents=True, exist_ok=True)
        label_path.write_text(text, "utf-8")
        counts[split] += 1
    return counts


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise FileNotFoundError(source) from None
        shutil.copy2(source, target)  # another file system, or one without hard links


def _replace(tmp: Path, out_dir: Path) -> None:
    """Move the finished dataset into place; an earlier export there is removed after."""
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.{os.getpid()}.old"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


__all__ = ["bridged", "export_yolo"]
