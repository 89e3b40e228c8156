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
- Writing imageData: the folder is resolved and checked to be inside the image root
  before anything is written, and the file is created with O_CREAT|O_EXCL (and
  O_NOFOLLOW): an existing name, a symlink (dangling or not) included, is never written
  through. If the name is taken by a file with the same pixels, that file is used; if by
  anything else, the image is written under a new name, ``<stem>-<8 hex digits of its
  SHA-256>.<ext>``, with a warning saying so (the labels never go onto another image). A
  failed import removes the files it wrote.
- Every shape passes geometry.validate; one that fails is skipped with a warning naming
  the file, the shape and the reason. A mask PNG larger than its image is refused from
  its header, before it is decoded. Labels are class names: one with control characters,
  lone surrogates or over 200 characters refuses the file.
- Attributes (as labelme_export writes them): a shape's ``flags`` are boolean attributes and
  its ``attributes`` object the others, checked as import_coco checks them (a name the class
  does not define is defined from the value's type, with a warning); the first part's values
  count for a multi-part instance. The image's ``flags`` that are true become its tags.
  Flags that are not an object of true/false values are ignored with a warning.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import os
import stat
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import shapely
from PIL import Image

from .. import geometry
from ..core.entities import ImageRecord, Instance, MaskRLE, Polygons, Provenance, Shape
from ..geometry import validate
from ..core.attributes import label_problem
from ..store import AttributeImport, ProjectStore
from .common import (
    FormatError, ImageResolver, ImportReport, annotation_files, brief, check_class_name, check_file_name, checked_shape,
    load_json, merge_parts, store_planned,
)
from ..imaging import IMAGE_EXTENSIONS

AREA_SHAPES = ("polygon", "rectangle", "circle", "mask")
LINE_SHAPES = ("line", "linestrip", "point", "points")
IGNORE_LABEL = "__ignore__"
CIRCLE_SEGMENTS = 64


def find_labelme_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """JSON files as given; a folder means every .json file under it."""
    return annotation_files(paths, lambda p: sorted(p.rglob("*.json")), "folder has no labelme .json files")


def import_labelme(store: ProjectStore, paths: Sequence[str | os.PathLike],
                   progress: Callable[[int, int], None] | None = None) -> ImportReport:
    report = ImportReport()
    resolver = ImageResolver(store, report)
    imported = AttributeImport(store, report.warn)
    planned: list[tuple[ImageRecord, list[tuple[str, Instance]]]] = []
    files = find_labelme_files(paths)
    written: list[Path] = []  # images made from imageData: removed again if the import fails
    try:
        for n, path in enumerate(files, 1):
            data = load_json(path)
            _check(path, data)
            found = _resolve_image(path, data, store, resolver, report, written)
            if found is not None:
                record = found
                declared = (data.get("imageWidth"), data.get("imageHeight"))
                if None not in declared and declared != (record.width, record.height):
                    report.warn("image size in the file differs from the image on disk; skipped",
                                f"{path.name}: says {brief(declared[0])}x{brief(declared[1])}, "
                                f"file is {record.width}x{record.height}")
                else:
                    instances = _instances(path, data, record, report, imported)
                    planned.append((record, instances))
                    imported.add_image(record.path, [inst.attributes for _, inst in instances],
                                       _image_tags(path, data, report))
            if progress:
                progress(n, len(files))
        store_planned(store, resolver, report, planned, attributes=imported)
    except BaseException:
        for file in written:
            file.unlink(missing_ok=True)
        raise
    return report


def _check(path: Path, data: Any) -> None:
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise FormatError(path, "not a labelme file (no 'shapes' list)")
    for k, shape in enumerate(data["shapes"]):
        if not isinstance(shape, dict):
            raise FormatError(path, f"shape {k} is not an object")
        if not isinstance(shape.get("label"), str) or not shape["label"].strip():
            raise FormatError(path, f"shape {k} has no label")
        check_class_name(path, shape["label"], f"shape {k}")
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
    if data.get("imagePath"):
        check_file_name(path, data["imagePath"], "imagePath")
    if not isinstance(data.get("imageData"), (str, type(None))):
        raise FormatError(path, "'imageData' must be a base64 string or null")


def _resolve_image(path: Path, data: dict, store: ProjectStore, resolver: ImageResolver,
                   report: ImportReport, written: list[Path]) -> ImageRecord | None:
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
                    if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]  # not a dangling link
        if len(siblings) == 1:
            report.warn("imagePath does not match the file on disk; matched by name",
                        f"{path.name}: {image_path!r} -> {siblings[0].name}")
            found = resolver.resolve(siblings, siblings[0].name, path.name)
            return found[0] if found else None
    if data.get("imageData"):
        extracted = _extract_image_data(path, data, store, report, written)
        if extracted is None:
            return None
        found = resolver.resolve([extracted], extracted.name, path.name)
        return found[0] if found else None
    report.warn("image not found; its annotations were skipped", f"{path.name}: {image_path or '(no imagePath)'}")
    return None


def _extract_image_data(path: Path, data: dict, store: ProjectStore, report: ImportReport,
                        written: list[Path]) -> Path | None:
    """The embedded image as a file inside the image root: a new file (listed in
    `written`), or an existing one with exactly its pixels; never a file written through
    a symlink, and never another image under the embedded one's name."""
    raw, fmt, pixels = _decode_image_data(path, data)
    if pixels is None:
        report.warn("embedded imageData is not the size the file says; its annotations were skipped",
                    path.name)
        return None
    ext = "jpg" if fmt == "jpeg" else fmt
    if f".{ext}" not in IMAGE_EXTENSIONS:
        raise FormatError(path, f"imageData is a {brief(fmt)} image; only {', '.join(IMAGE_EXTENSIONS)} are read")
    folder = _image_data_folder(path, store)
    first = folder / f"{path.stem}.{ext}"
    other = folder / f"{path.stem}-{hashlib.sha256(raw).hexdigest()[:8]}.{ext}"
    for target in (first, other):
        if _create_new(path, target, raw):
            written.append(target)
        elif not _has_pixels(target, pixels):
            continue
        if target == first:
            report.warn("image taken from the embedded imageData", f"{path.name} -> {target.name}")
        else:
            report.warn("another image already has the embedded imageData's name; written under a new name",
                        f"{path.name}: {first.name} is taken, imageData -> {target.name}")
        return target
    report.warn("embedded imageData not written: its file names are taken by other images; "
                "its annotations were skipped", f"{path.name}: {first.name}, {other.name}")
    return None


def _decode_image_data(path: Path, data: dict) -> tuple[bytes, str, np.ndarray | None]:
    """(file bytes, PIL format name, pixels). The pixels are None when the header says a
    size other than the file's imageWidth x imageHeight: such an image is not decoded."""
    declared = (data.get("imageWidth"), data.get("imageHeight"))
    try:
        raw = base64.b64decode(data["imageData"], validate=False)
        with Image.open(io.BytesIO(raw)) as im:
            fmt = (im.format or "PNG").lower()
            if None not in declared and im.size != declared:
                return raw, fmt, None
            im.load()
            pixels = np.asarray(im)
    except Exception as exc:
        raise FormatError(path, f"imageData is not a readable image ({exc})") from None
    return raw, fmt, pixels


def _image_data_folder(path: Path, store: ProjectStore) -> Path:
    """Where an embedded image goes: beside the JSON if that folder (symlinks resolved) is
    inside the image root, else the image root itself."""
    folder = path.parent.resolve()
    try:
        folder.relative_to(store.image_root)
    except ValueError:
        return store.image_root
    return folder


def _create_new(path: Path, target: Path, raw: bytes) -> bool:
    """Write a file that did not exist; False if the name is taken (by anything: a file, a
    folder, a symlink, dangling or not: O_EXCL never follows one)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(target, flags, 0o644)
    except FileExistsError:
        return False
    except OSError as exc:
        raise FormatError(path, f"cannot write the embedded image as {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return True


def _has_pixels(target: Path, pixels: np.ndarray) -> bool:
    """Is `target` a regular file (not a symlink) holding exactly these pixels?"""
    try:
        if not stat.S_ISREG(os.lstat(target).st_mode):
            return False
        with Image.open(target) as im:
            if (im.width, im.height) != (pixels.shape[1], pixels.shape[0]):
                return False
            return bool(np.array_equal(np.asarray(im), pixels))
    except Exception:
        return False


def _flags(where: str, flags: Any, report: ImportReport) -> dict[str, bool]:
    """labelme flags (an object of true/false values); {} with a warning for anything else."""
    if flags is None or flags == {}:
        return {}
    if isinstance(flags, dict) and all(isinstance(v, bool) for v in flags.values()):
        return flags
    report.warn("flags are not an object of true/false values; ignored", where)
    return {}


def _image_tags(path: Path, data: dict, report: ImportReport) -> list[str]:
    """The image's flags that are true, as its tags."""
    tags = [name for name, on in _flags(f"{path.name}: image flags", data.get("flags"), report).items() if on]
    usable = [t for t in tags if not label_problem(t, "")]
    if len(usable) != len(tags):
        report.warn("image flag with an unusable name dropped", f"{path.name}: {brief(tags)}")
    return usable


def _shape_values(where: str, shape: dict, report: ImportReport) -> dict[str, Any]:
    """A shape's attribute values: its flags and its ``attributes`` object."""
    values: dict[str, Any] = dict(_flags(where, shape.get("flags"), report))
    others = shape.get("attributes")
    if isinstance(others, dict):
        values.update(others)
    elif others is not None:
        report.warn("shape attributes are not an object; ignored", where)
    return values


def _instances(path: Path, data: dict, record: ImageRecord, report: ImportReport,
               imported: AttributeImport) -> list[tuple[str, Instance]]:
    groups: dict[tuple, list[Shape]] = {}
    values: dict[tuple, dict[str, Any]] = {}  # per instance: its first part's
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
            report.warn(f"unknown shape type {brief(kind)}; skipped", where)
            continue
        made = checked_shape(lambda: _shape(path, k, kind, shape, record), kind, where, report)
        if made is None:
            continue
        group = shape.get("group_id")
        key = (label, group) if group is not None else (label, "shape", k)
        groups.setdefault(key, []).append(made)
        values.setdefault(key, _shape_values(where, shape, report))
    out = []
    for (label, *rest), shapes in groups.items():
        where = f"{path.name}: group {brief(rest[0])} ({label})" if len(rest) == 1 else \
            f"{path.name}: shape {rest[1]} ({label})"
        try:
            merged = merge_parts(shapes, record)
        except validate.ShapeError as exc:
            report.warn(f"shape rejected ({exc}); skipped", where)
            continue
        attributes = imported.check(label, values[(label, *rest)], where)
        out.append((label, Instance(None, 0, 0, merged, None, Provenance.manual(), attributes=attributes)))
    return out


def _shape(path: Path, k: int, kind: str, shape: dict, record: ImageRecord) -> Shape | None:
    """The shape, validated; None for a degenerate one. ShapeError for one that fails
    validation, FormatError for one of the wrong structure."""
    validate.check_counts([len(shape["points"])], 1)
    pts = [tuple(p) for p in validate.coordinates(shape["points"]).reshape(-1, 2).tolist()]
    if kind == "polygon":
        if len(pts) < 3:
            return None
        return validate.check_polygons(Polygons(((tuple(pts),),)), record.height, record.width)
    if kind == "rectangle":
        if len(pts) != 2:
            raise FormatError(path, f"shape {k}: a rectangle needs 2 points, got {len(pts)}")
        (x0, y0), (x1, y1) = pts
        if x0 == x1 or y0 == y1:
            return None
        return validate.check_polygons(Polygons.rectangle(x0, y0, x1, y1), record.height, record.width)
    if kind == "circle":
        if len(pts) != 2:
            raise FormatError(path, f"shape {k}: a circle needs 2 points (centre, rim), got {len(pts)}")
        (cx, cy), (px, py) = pts
        radius = float(np.hypot(px - cx, py - cy))
        if radius == 0:
            return None
        circle = geometry.from_shapely(shapely.Point(cx, cy).buffer(radius, quad_segs=CIRCLE_SEGMENTS // 4))
        return None if circle is None else validate.check_polygons(circle, record.height, record.width)
    return _mask_shape(path, k, shape, pts, record)


def _mask_shape(path: Path, k: int, shape: dict, pts: list, record: ImageRecord) -> MaskRLE | None:
    """labelme stores a mask as a PNG of its box, placed at the first point. Its size is
    checked from the PNG header before the pixels are decoded."""
    if len(pts) != 2 or not isinstance(shape.get("mask"), str):
        raise FormatError(path, f"shape {k}: a mask shape needs 2 points and a base64 'mask'")
    try:
        im = Image.open(io.BytesIO(base64.b64decode(shape["mask"])))
    except Exception as exc:
        raise FormatError(path, f"shape {k}: mask is not a readable PNG ({exc})") from None
    with im:
        validate.check_mask_image_size(im.width, im.height, record.height, record.width)
        try:
            patch = np.asarray(im.convert("L")) > 0
        except Exception as exc:
            raise FormatError(path, f"shape {k}: mask is not a readable PNG ({exc})") from None
    x0 = math.floor(min(pts[0][0], pts[1][0]))
    y0 = math.floor(min(pts[0][1], pts[1][1]))
    # The part of the patch inside the image (a patch may start left of or above it).
    sx, sy = max(0, -x0), max(0, -y0)
    dx, dy = max(0, x0), max(0, y0)
    w = min(patch.shape[1] - sx, record.width - dx)
    h = min(patch.shape[0] - sy, record.height - dy)
    if w <= 0 or h <= 0:
        return None
    full = np.zeros((record.height, record.width), np.uint8)
    full[dy:dy + h, dx:dx + w] = patch[sy:sy + h, sx:sx + w]
    return validate.check_mask(geometry.mask_to_rle(full), record.height, record.width) if full.any() else None
