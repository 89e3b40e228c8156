"""CVAT for images 1.1 XML import (the export is cvat.py).

The standard library's ElementTree, refusing any DOCTYPE (and so any DTD or entity). Boxes
(rotated or not) and ellipses become polygons, polygons stay polygons, masks become masks
at the image's size; shapes with the same label and group_id are one instance. Polylines,
points, cuboids and skeletons have no area and are skipped, as are shapes without a label,
with one warning line per kind. Anything structurally wrong (not XML, another root, an
image without width, points that are not numbers, mask runs that do not add up to the
crop, a crop outside its image) refuses the whole file with one line; a shape that fails
geometry.validate is skipped with a warning, as in import_coco.

Attributes: each label's meta definitions (checkbox -> boolean, select and radio -> choice,
text -> text, number -> number) are defined on the class unless the project has one of that
name; each shape's ``<attribute>`` values are read as their attribute's kind (the first
part's values for a multi-part instance), and a shape's ``occluded="1"`` is a boolean
attribute ``occluded``. ``<tag>`` elements are image tags; labels of type "tag" are not
classes. As in import_coco, values and tags are kept only for images this import labels.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import shapely
import shapely.affinity

from .. import geometry
from ..core.attributes import AttributeKind, AttributeSpec, label_problem
from ..core.entities import ImageRecord, Instance, Polygons, Provenance, Shape
from ..geometry import validate
from ..store import AttributeImport, ProjectStore
from .common import (
    FormatError, ImageResolver, ImportReport, annotation_files, brief, check_class_name, check_file_name, checked_shape,
    merge_parts, store_planned,
)
from .cvat import ANNOTATIONS_NAME, OCCLUDED

AREA_SHAPES = ("box", "polygon", "mask", "ellipse")
NO_AREA_SHAPES = ("polyline", "points", "cuboid", "skeleton")
ELLIPSE_QUAD_SEGMENTS = 16  # 64 vertices, as labelme circles
_KINDS = {"checkbox": AttributeKind.BOOLEAN, "select": AttributeKind.CHOICE, "radio": AttributeKind.CHOICE,
          "text": AttributeKind.TEXT, "number": AttributeKind.NUMBER}


# --- import: reading the file -------------------------------------------------------------

@dataclass
class _Shape:
    kind: str
    label: str  # "" when the shape has none
    group: int  # 0: no group
    values: tuple  # points: flat floats; box: (xtl, ytl, xbr, ybr, rotation); ellipse: (cx, cy, rx, ry,
    # rotation); mask: (left, top, width, height, runs)
    attributes: dict[str, str] = field(default_factory=dict)
    occluded: bool = False


@dataclass
class _Label:
    """A label of the file's meta: a class (or, of type "tag", only an image tag) and the
    attributes it defines."""

    name: str
    is_tag: bool
    specs: list[AttributeSpec]


@dataclass
class _Image:
    name: str
    width: int
    height: int
    subset: str
    shapes: list[_Shape]
    tags: list[tuple[str, dict[str, str]]]  # (label, attributes): image-level labels


class _DoctypeRefused(Exception):
    pass


class _NoDoctype(ET.TreeBuilder):
    """ElementTree's builder, stopping at a DOCTYPE: no DTD, so no entity (billion laughs,
    external files) is ever declared."""

    def doctype(self, name, pubid, system):
        raise _DoctypeRefused()


def find_cvat_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """XML files as given; a folder means every annotations.xml in it (CVAT's zip,
    extracted), or failing that every .xml file directly in it."""
    return annotation_files(paths, lambda p: sorted(p.rglob(ANNOTATIONS_NAME)) or sorted(p.glob("*.xml")),
                            f"folder has no {ANNOTATIONS_NAME} and no .xml file")


def _parse(path: Path) -> ET.Element:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FormatError(path, "file not found") from None
    except IsADirectoryError:
        raise FormatError(path, "is a folder, not an XML file") from None
    except OSError as exc:
        raise FormatError(path, f"cannot be read ({exc.strerror})") from None
    parser = ET.XMLParser(target=_NoDoctype())
    try:
        parser.feed(data)
        root = parser.close()
    except _DoctypeRefused:
        raise FormatError(path, "has a DOCTYPE declaration (a DTD); CVAT files have none, so it is refused") from None
    except ET.ParseError as exc:
        raise FormatError(path, f"not valid XML ({exc})") from None
    if root.tag != "annotations":
        raise FormatError(path, f"not a CVAT XML file (root element <{brief(root.tag)[1:-1]}>, not <annotations>)")
    return root


def _read(path: Path, root: ET.Element, report: ImportReport) -> tuple[list[_Label], list[_Image]]:
    """(the meta's labels, images), structure checked."""
    labels = []
    for label in root.iterfind("meta/*/labels/label"):
        if label.findtext("parent"):
            continue  # a skeleton's point
        name = check_class_name(path, label.findtext("name"), "label in <meta>")
        specs = [spec for el in label.iterfind("attributes/attribute")
                 if (spec := _spec(path, name, el, report)) is not None]
        labels.append(_Label(name, (label.findtext("type") or "").strip() == "tag", specs))
    if root.find("track") is not None:
        report.warn("tracks (CVAT for video) skipped; export the task as CVAT for images",
                    f"{path.name}: {len(root.findall('track'))} tracks")
    return labels, [_image(path, k, el) for k, el in enumerate(root.iterfind("image"))]


def _spec(path: Path, label: str, el: ET.Element, report: ImportReport) -> AttributeSpec | None:
    """A meta ``<attribute>`` as a spec; None, with a warning, for one labeler cannot hold."""
    name, input_type = (el.findtext("name") or "").strip(), (el.findtext("input_type") or "").strip()
    default, values = el.findtext("default_value") or "", el.findtext("values") or ""
    where = f"{path.name}: label {label!r}, attribute {name!r}"
    kind = _KINDS.get(input_type)
    if kind is None:
        report.warn("attribute of an unknown input type; its values are read as text", f"{where}: {input_type!r}")
        return None
    choices = [v.strip() for v in (values.split("\n") if "\n" in values else values.split()) if v.strip()]
    try:
        if kind == AttributeKind.CHOICE:
            return AttributeSpec(name, kind, tuple(dict.fromkeys(choices)), default if default in choices else None)
        if kind == AttributeKind.BOOLEAN:
            return AttributeSpec(name, kind, default=default.strip().lower() == "true")
        if kind == AttributeKind.NUMBER:
            try:
                return AttributeSpec(name, kind, default=float(default))
            except ValueError:
                return AttributeSpec(name, kind)
        return AttributeSpec(name, kind, default=default if not label_problem(default, "") else None)
    except ValueError as exc:
        report.warn("attribute definition skipped", f"{where}: {exc}")
        return None


def _image(path: Path, k: int, el: ET.Element) -> _Image:
    name = el.get("name")
    if not name:
        raise FormatError(path, f"<image> {k} has no name")
    where = f"image {brief(name)}"
    check_file_name(path, name, f"<image> {k}: name")
    width, height = (_integer(path, el, a, where, minimum=1) for a in ("width", "height"))
    shapes, tags = [], []
    for s, child in enumerate(el):
        what = f"{where}: <{child.tag}> {s}"
        label = (child.get("label") or "").strip()
        if label:
            check_class_name(path, label, what)
        attributes = {a.get("name") or "": a.text or "" for a in child.iterfind("attribute")}
        if child.tag == "tag":
            tags.append((label, attributes))
            continue
        group = _integer(path, child, "group_id", what, minimum=0, default=0)
        if child.tag == "box":
            values = tuple(_number(path, child, a, what) for a in ("xtl", "ytl", "xbr", "ybr")) + (
                _number(path, child, "rotation", what, default=0.0),)
        elif child.tag == "ellipse":
            values = tuple(_number(path, child, a, what) for a in ("cx", "cy", "rx", "ry")) + (
                _number(path, child, "rotation", what, default=0.0),)
        elif child.tag == "polygon":
            values = _point_list(path, child, what)
        elif child.tag == "mask":
            values = _mask_values(path, child, what, width, height)
        else:
            values = ()
        shapes.append(_Shape(child.tag, label, group, values, attributes, child.get("occluded") == "1"))
    return _Image(name, width, height, el.get("subset") or "", shapes, tags)


def _integer(path: Path, el: ET.Element, name: str, where: str, *, minimum: int, default: int | None = None) -> int:
    text = el.get(name)
    if text is None and default is not None:
        return default
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise FormatError(path, f"{where}: '{name}' must be an integer, got {brief(text)}") from None
    if value < minimum:
        raise FormatError(path, f"{where}: '{name}' must be at least {minimum}, got {value}")
    return value


def _number(path: Path, el: ET.Element, name: str, where: str, default: float | None = None) -> float:
    text = el.get(name)
    if text is None and default is not None:
        return default
    try:
        return float(text)
    except (TypeError, ValueError):
        raise FormatError(path, f"{where}: '{name}' must be a number, got {brief(text)}") from None


def _point_list(path: Path, el: ET.Element, where: str) -> tuple:
    """'x0,y0;x1,y1;...' as a flat tuple of floats."""
    text = el.get("points") or ""
    values = text.replace(";", ",").split(",")
    if len(values) != 2 * (text.count(";") + 1):
        raise FormatError(path, f"{where}: 'points' must be 'x0,y0;x1,y1;...', got {brief(text)}")
    try:
        return tuple(np.array(values, dtype=np.float64).tolist())
    except ValueError:
        raise FormatError(path, f"{where}: 'points' must be numbers, got {brief(text)}") from None


def _mask_values(path: Path, el: ET.Element, where: str, width: int, height: int) -> tuple:
    left, top = (_integer(path, el, a, where, minimum=0) for a in ("left", "top"))
    w, h = (_integer(path, el, a, where, minimum=1) for a in ("width", "height"))
    if left + w > width or top + h > height:
        raise FormatError(path, f"{where}: mask crop {w}x{h} at ({left}, {top}) lies outside the image "
                                f"({width}x{height})")
    text = el.get("rle") or ""
    try:
        runs = [int(c) for c in text.split(",")]
    except ValueError:
        raise FormatError(path, f"{where}: 'rle' must be integers separated by commas, got {brief(text)}") from None
    if min(runs) < 0:
        raise FormatError(path, f"{where}: 'rle' has a negative run")
    if sum(runs) != w * h:
        raise FormatError(path, f"{where}: 'rle' runs add up to {sum(runs):,}, not {w}*{h} (the mask's pixels)")
    return left, top, w, h, np.asarray(runs, dtype=np.int64)


# --- import: into the project -------------------------------------------------------------

def import_cvat(store: ProjectStore, paths: Sequence[str | os.PathLike],
                progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import CVAT for images XML files (or folders holding annotations.xml); all of it in
    one transaction, or nothing when a file is malformed (FormatError)."""
    report = ImportReport()
    resolver = ImageResolver(store, report)
    imported = AttributeImport(store, report.warn)
    planned: dict[str, tuple[ImageRecord, list[tuple[str, Instance]], list[str]]] = {}  # path -> (.., tags)
    category_names: list[str] = []
    files = find_cvat_files(paths)
    for n, path in enumerate(files, 1):
        labels, images = _read(path, _parse(path), report)
        for label in labels:
            if not label.is_tag and label.name not in category_names:
                category_names.append(label.name)
            for spec in label.specs:
                imported.define(label.name, spec, f"{path.name}: label {label.name!r}")
        for image in images:
            candidates = [path.parent / image.name, path.parent / "images" / image.subset / image.name,
                          path.parent / "images" / image.name, path.parent.parent / image.name,
                          store.image_root / image.name]
            found = resolver.resolve(candidates, image.name, path.name)
            if found is None:
                continue
            record = found[0]
            if (record.width, record.height) != (image.width, image.height):
                report.warn("image size in the file differs from the image on disk; skipped",
                            f"{path.name}: {image.name} says {image.width}x{image.height}, file is "
                            f"{record.width}x{record.height}")
                continue
            _, instances, tags = planned.setdefault(record.path, (record, [], []))
            instances += _instances(path, image, record, report, imported)
            tags += _tags(path, image, report)
        if progress:
            progress(n, len(files))
    for record, instances, tags in planned.values():
        imported.add_image(record.path, [inst.attributes for _, inst in instances], tags)
    store_planned(store, resolver, report, [(r, i) for r, i, _ in planned.values()], category_names, imported)
    return report


def _tags(path: Path, image: _Image, report: ImportReport) -> list[str]:
    """The image's ``<tag>`` labels, as image tags (a tag's own attributes are not kept)."""
    for label, attributes in image.tags:
        if attributes:
            report.warn("attributes of an image tag not kept (image tags have none)",
                        f"{path.name}: {image.name}, tag {label!r}")
    return [label for label, _ in image.tags if label]


def _instances(path: Path, image: _Image, record: ImageRecord, report: ImportReport,
               imported: AttributeImport) -> list[tuple[str, Instance]]:
    groups: dict[tuple, list[tuple[_Shape, Shape]]] = {}
    for k, s in enumerate(image.shapes):
        where = f"{path.name}: {image.name}, <{s.kind}> {k}"
        if s.kind in NO_AREA_SHAPES:
            report.warn(f"{s.kind} shape has no area; skipped", where)
            continue
        if s.kind not in AREA_SHAPES:
            report.warn(f"unknown shape <{brief(s.kind)[1:-1]}>; skipped", where)
            continue
        if not s.label:
            report.warn("shape without a label; skipped", where)
            continue
        made = checked_shape(lambda: _shape(s, record), s.kind, where, report)
        if made is None:
            continue
        key = (s.label, s.group) if s.group else (s.label, "shape", k)
        groups.setdefault(key, []).append((s, made))
    out = []
    for (label, *rest), parts in groups.items():
        where = f"{path.name}: {image.name}, " + (f"group {rest[0]}" if len(rest) == 1 else f"<{parts[0][0].kind}> "
                                                  f"{rest[1]}") + f" ({label})"
        try:
            merged = merge_parts([made for _, made in parts], record)
        except validate.ShapeError as exc:
            report.warn(f"shape rejected ({exc}); skipped", where)
            continue
        first = parts[0][0]
        texts = dict(first.attributes)
        occluded = imported.spec(label, OCCLUDED)
        if first.occluded or (occluded is not None and occluded.kind == AttributeKind.BOOLEAN):
            texts.setdefault(OCCLUDED, "true" if first.occluded else "false")
        attributes = imported.check_texts(label, texts, where)
        out.append((label, Instance(None, 0, 0, merged, None, Provenance.manual(), attributes=attributes)))
    return out


def _shape(s: _Shape, record: ImageRecord) -> Shape | None:
    """The shape, validated for its image; None when it has no area."""
    h, w = record.height, record.width
    if s.kind == "polygon":
        validate.check_counts([len(s.values) // 2], 1)
        xy = validate.coordinates(s.values).reshape(-1, 2)
        if len(xy) < 3:
            return None
        return validate.check_polygons(Polygons(((tuple(map(tuple, xy.tolist())),),)), h, w)
    if s.kind == "mask":
        left, top, cw, ch, runs = s.values
        validate.check_mask_image_size(cw, ch, h, w)
        full = np.zeros((h, w), np.uint8)
        full[top:top + ch, left:left + cw] = np.repeat(np.arange(runs.size) % 2, runs).reshape(ch, cw)
        return geometry.mask_to_rle(full) if full.any() else None
    a, b, c, d, rotation = validate.coordinates(s.values).tolist()
    if s.kind == "box":
        if a == c or b == d:
            return None
        if not rotation:
            return validate.check_polygons(Polygons.rectangle(a, b, c, d), h, w)
        geom = shapely.box(min(a, c), min(b, d), max(a, c), max(b, d))
    else:  # ellipse: centre (a, b), radii (c, d)
        if c == 0 or d == 0:
            return None
        geom = shapely.affinity.scale(shapely.Point(a, b).buffer(1.0, quad_segs=ELLIPSE_QUAD_SEGMENTS), c, d)
    if rotation:  # degrees clockwise on screen (y down), about the centre
        geom = shapely.affinity.rotate(geom, rotation, origin="centroid")
    shape = geometry.from_shapely(geom)
    return None if shape is None else validate.check_polygons(shape, h, w)
