"""labelme JSON import (one JSON file per image).

- polygon, rectangle, circle and mask shapes become instances; line, linestrip, point and
  points shapes carry no area and are skipped with a warning.
- Shapes with the same label and the same ``group_id`` are one instance (as labelme2coco
  does); polygons stay polygons (overlapping ones are merged), anything with a mask
  becomes a mask.
- ``__ignore__`` shapes mark regions labelme's tools leave out; they are skipped.
- The image is ``imagePath`` relative to the JSON file; if that file does not exist (a
  renamed or re-encoded image), a unique file with the same stem is used, with a warning;
  failing that, an embedded ``imageData`` is written next to the JSON (inside the image
  root) and used.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import shapely
from PIL import Image

from .. import geometry
from ..core.entities import ImageRecord, Instance, MaskRLE, Polygons, Provenance, Shape
from ..store import ProjectStore
from .common import FormatError, ImageResolver, ImportReport, load_json, store_planned

AREA_SHAPES = ("polygon", "rectangle", "circle", "mask")
LINE_SHAPES = ("line", "linestrip", "point", "points")
IGNORE_LABEL = "__ignore__"
CIRCLE_SEGMENTS = 64


def find_labelme_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.rglob("*.json"))
            if not found:
                raise FormatError(p, "folder has no labelme .json files")
            files += found
        else:
            files.append(p)
    return files


def import_labelme(store: ProjectStore, paths: Sequence[str | os.PathLike],
                   progress: Callable[[int, int], None] | None = None) -> ImportReport:
    report = ImportReport()
    resolver = ImageResolver(store, report)
    planned: list[tuple[ImageRecord, list[tuple[str, Instance]]]] = []
    files = find_labelme_files(paths)
    for n, path in enumerate(files, 1):
        data = load_json(path)
        _check(path, data)
        found = _resolve_image(path, data, store, resolver, report)
        if found is not None:
            record = found
            declared = (data.get("imageWidth"), data.get("imageHeight"))
            if None not in declared and declared != (record.width, record.height):
                report.warn("image size in the file differs from the image on disk; skipped",
                            f"{path.name}: says {declared[0]}x{declared[1]}, "
                            f"file is {record.width}x{record.height}")
            else:
                planned.append((record, _instances(path, data, record, report)))
        if progress:
            progress(n, len(files))
    store_planned(store, resolver, report, planned)
    return report


def _check(path: Path, data: Any) -> None:
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise FormatError(path, "not a labelme file (no 'shapes' list)")
    for k, shape in enumerate(data["shapes"]):
        if not isinstance(shape, dict):
            raise FormatError(path, f"shape {k} is not an object")
        if not isinstance(shape.get("label"), str) or not shape["label"].strip():
            raise FormatError(path, f"shape {k} has no label")
        points = shape.get("points")
        if not (isinstance(points, list) and all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(c, (int, float)) for c in p)
                for p in points)):
            raise FormatError(path, f"shape {k} ({shape['label']!r}): 'points' must be a list of [x, y]")
        group = shape.get("group_id")
        if group is not None and not isinstance(group, int):
            raise FormatError(path, f"shape {k} ({shape['label']!r}): group_id must be an integer or null")
    if not isinstance(data.get("imagePath"), (str, type(None))):
        raise FormatError(path, "'imagePath' must be a string")


def _resolve_image(path: Path, data: dict, store: ProjectStore, resolver: ImageResolver,
                   report: ImportReport) -> ImageRecord | None:
    image_path = (data.get("imagePath") or "").replace("\\", "/")
    if image_path:
        direct = path.parent / image_path
        if direct.is_file() and direct.suffix.lower() != ".json":
            found = resolver.resolve([direct], image_path, path.name)
            return found[0] if found else None
    # The named file is missing: look for an image with the JSON's own stem beside it.
    for name in dict.fromkeys([Path(image_path).stem, path.stem]):
        if not name:
            continue
        siblings = [p for p in path.parent.glob(name + ".*")
                    if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")]
        if len(siblings) == 1:
            report.warn("imagePath does not match the file on disk; matched by name",
                        f"{path.name}: {image_path!r} -> {siblings[0].name}")
            found = resolver.resolve(siblings, siblings[0].name, path.name)
            return found[0] if found else None
    if data.get("imageData"):
        extracted = _extract_image_data(path, data["imageData"], store)
        report.warn("image taken from the embedded imageData", f"{path.name} -> {extracted.name}")
        found = resolver.resolve([extracted], extracted.name, path.name)
        return found[0] if found else None
    report.warn("image not found; its annotations were skipped", f"{path.name}: {image_path or '(no imagePath)'}")
    return None


def _extract_image_data(path: Path, image_data: str, store: ProjectStore) -> Path:
    try:
        raw = base64.b64decode(image_data, validate=False)
        with Image.open(io.BytesIO(raw)) as im:
            fmt = (im.format or "PNG").lower()
            im.load()
    except Exception as exc:
        raise FormatError(path, f"imageData is not a readable image ({exc})") from None
    folder = path.parent
    try:
        folder.resolve().relative_to(store.image_root)
    except ValueError:
        folder = store.image_root
    target = folder / f"{path.stem}.{'jpg' if fmt == 'jpeg' else fmt}"
    if not target.exists():
        target.write_bytes(raw)
    return target


def _instances(path: Path, data: dict, record: ImageRecord, report: ImportReport) -> list[tuple[str, Instance]]:
    groups: dict[tuple, list[Shape]] = {}
    for k, shape in enumerate(data["shapes"]):
        label = shape["label"].strip()
        kind = shape.get("shape_type") or "polygon"
        where = f"{path.name}: shape {k} ({label})"
        if label == IGNORE_LABEL:
            report.warn(f"{IGNORE_LABEL} shape skipped", where)
            continue
        if kind in LINE_SHAPES:
            report.warn(f"{kind} shape has no area; skipped", where)
            continue
        if kind not in AREA_SHAPES:
            report.warn(f"unknown shape type {kind!r}; skipped", where)
            continue
        made = _shape(path, k, kind, shape, record)
        if made is None:
            report.warn(f"degenerate {kind} (no area); skipped", where)
            continue
        group = shape.get("group_id")
        key = (label, group) if group is not None else (label, "shape", k)
        groups.setdefault(key, []).append(made)
    out = []
    for (label, *_), shapes in groups.items():
        merged = shapes[0]
        for other in shapes[1:]:
            merged = geometry.union(merged, other, record.height, record.width)
        out.append((label, Instance(None, 0, 0, merged, None, Provenance.manual())))
    return out


def _shape(path: Path, k: int, kind: str, shape: dict, record: ImageRecord) -> Shape | None:
    pts = [(float(x), float(y)) for x, y in shape["points"]]
    if kind == "polygon":
        if len(pts) < 3:
            return None
        polygon = Polygons(((tuple(pts),),))
        return polygon if geometry.area(polygon) > 0 else None
    if kind == "rectangle":
        if len(pts) != 2:
            raise FormatError(path, f"shape {k}: a rectangle needs 2 points, got {len(pts)}")
        (x0, y0), (x1, y1) = pts
        return Polygons.rectangle(x0, y0, x1, y1) if x0 != x1 and y0 != y1 else None
    if kind == "circle":
        if len(pts) != 2:
            raise FormatError(path, f"shape {k}: a circle needs 2 points (centre, rim), got {len(pts)}")
        (cx, cy), (px, py) = pts
        radius = float(np.hypot(px - cx, py - cy))
        if radius == 0:
            return None
        return geometry.from_shapely(shapely.Point(cx, cy).buffer(radius, quad_segs=CIRCLE_SEGMENTS // 4))
    return _mask_shape(path, k, shape, pts, record)


def _mask_shape(path: Path, k: int, shape: dict, pts: list, record: ImageRecord) -> MaskRLE | None:
    """labelme stores a mask as a PNG of its box, placed at the first point."""
    if len(pts) != 2 or not isinstance(shape.get("mask"), str):
        raise FormatError(path, f"shape {k}: a mask shape needs 2 points and a base64 'mask'")
    try:
        with Image.open(io.BytesIO(base64.b64decode(shape["mask"]))) as im:
            patch = np.asarray(im.convert("L")) > 0
    except Exception as exc:
        raise FormatError(path, f"shape {k}: mask is not a readable PNG ({exc})") from None
    full = np.zeros((record.height, record.width), np.uint8)
    x0, y0 = int(min(pts[0][0], pts[1][0])), int(min(pts[0][1], pts[1][1]))
    h = max(0, min(patch.shape[0], record.height - y0))
    w = max(0, min(patch.shape[1], record.width - x0))
    full[y0:y0 + h, x0:x0 + w] = patch[:h, :w]
    return geometry.mask_to_rle(full) if full.any() else None
