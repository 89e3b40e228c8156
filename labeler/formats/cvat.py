"""CVAT for images 1.1 XML: import and export (one XML file, as CVAT's own
"CVAT for images 1.1" annotations.xml).

Export: every class is a label (type "any"); every image is an ``<image>`` with its stored
relative path as name. A polygon part is a ``<polygon>`` (points to 2 decimals, as CVAT
writes them); the parts of one instance share a ``group_id``. CVAT polygons have no holes,
so an instance with holes, and every mask, is a ``<mask>`` of its tight crop: row-major
runs over the crop, starting with a run of zeros. source is "auto" for a model's shape a
person has not edited, "manual" otherwise.

Import: the standard library's ElementTree, refusing any DOCTYPE (and so any DTD or
entity). Boxes (rotated or not) and ellipses become polygons, polygons stay polygons, masks
become masks at the image's size; shapes with the same label and group_id are one instance.
Polylines, points, cuboids and skeletons have no area and are skipped, as are shapes
without a label, with one warning line per kind. Attributes and image tags are counted and
not kept yet (see _keep_extras, the one place to keep them). Anything structurally wrong
(not XML, another root, an image without width, points that are not numbers, mask runs
that do not add up to the crop, a crop outside its image) refuses the whole file with one
line; a shape that fails geometry.validate is skipped with a warning, as in import_coco.
"""

from __future__ import annotations

import json
import os
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import shapely
import shapely.affinity

from .. import geometry
from ..core.entities import ImageRecord, ImageStatus, Instance, MaskRLE, Polygons, Provenance, Shape
from ..geometry import validate
from ..store import ProjectStore
from .common import (
    ExportResult, FormatError, ImageResolver, ImportReport, brief, check_class_name, check_file_name, checked_shape,
    merge_parts, store_planned, write_texts_atomic,
)

ANNOTATIONS_NAME = "annotations.xml"  # what CVAT's zip holds
AREA_SHAPES = ("box", "polygon", "mask", "ellipse")
NO_AREA_SHAPES = ("polyline", "points", "cuboid", "skeleton")
ELLIPSE_QUAD_SEGMENTS = 16  # 64 vertices, as labelme circles
_NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# --- export ----------------------------------------------------------------------------

def export_cvat(store: ProjectStore, out: str | os.PathLike, *, all_images: bool = False,
                progress: Callable[[int, int], None] | None = None) -> ExportResult:
    """Export accepted instances as one CVAT for images 1.1 XML file. By default only images
    marked accepted; with all_images, every image. `progress(done, total)` as export_coco:
    about a hundred calls while instances are converted, all before anything is written.
    `annotations` in the result counts instances (a multi-part one is several elements)."""
    out = Path(out)
    images = store.images() if all_images else store.images(ImageStatus.ACCEPTED)
    categories = store.categories()
    labels = {c.id: quoteattr(_xml_text(out, c.name, "class name")) for c in categories}
    by_id = {im.id: im for im in images}
    elements: dict[int, list[str]] = {im.id: [] for im in images}
    rows = list(store.instance_rows(image_ids=list(by_id)))
    step = max(1, len(rows) // 100)
    groups = exported = 0
    for n, row in enumerate(rows):
        if progress is not None and n % step == 0:
            progress(n, len(rows))
        common = (f'label={labels[row.category_id]} source="{_source(row.provenance)}" '
                  f'occluded="0"')
        image = by_id[row.image_id]
        if row.kind == "polygon" and not row.has_holes:
            parts = json.loads(row.data)
            group = ""
            if len(parts) > 1:
                groups += 1
                group = f' group_id="{groups}"'
            elements[row.image_id] += [f'<polygon {common} points="{_points(part[0])}" z_order="0"{group}/>'
                                       for part in parts]
        else:
            if row.kind == "mask":
                mask = geometry.rle_to_mask(MaskRLE.from_json(json.loads(row.data)))
            else:
                mask = geometry.to_mask(Polygons.from_json(json.loads(row.data)), image.height, image.width)
            element = _mask_element(common, mask)
            if element is None:
                continue  # no pixels: CVAT has no empty mask
            elements[row.image_id].append(element)
        exported += 1
    if progress is not None:
        progress(len(rows), len(rows))

    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>", "  <version>1.1</version>",
             "  <meta>", "    <task>", f"      <name>{escape(_xml_text(out, store.project_dir.name, 'project name'))}</name>",
             f"      <size>{len(images)}</size>", "      <mode>annotation</mode>", "      <labels>"]
    for c in categories:
        lines += [f"        <label><name>{escape(c.name)}</name><color>{c.color}</color>"
                  f"<type>any</type><attributes></attributes></label>"]
    lines += ["      </labels>", "    </task>", f"    <dumped>{time.strftime('%Y-%m-%d %H:%M:%S%z')}</dumped>",
              "  </meta>"]
    for k, im in enumerate(images):
        name = quoteattr(_xml_text(out, im.path, "image path"))
        shapes = elements[im.id]
        head = f'  <image id="{k}" name={name} width="{im.width}" height="{im.height}"'
        lines.append(f"{head}>\n    " + "\n    ".join(shapes) + "\n  </image>" if shapes else head + "/>")
    lines.append("</annotations>\n")
    write_texts_atomic({out: "\n".join(lines)})
    return ExportResult([out], len(images), exported)


def _points(flat: list[float]) -> str:
    """A flat [x0, y0, x1, y1, ...] ring as CVAT's "x0,y0;x1,y1;..." with 2 decimals."""
    return (("%.2f,%.2f;" * (len(flat) // 2)) % tuple(flat))[:-1]


def _source(provenance: str) -> str:
    """CVAT's source: "auto" for a model's unedited shape, "manual" for a person's."""
    return "auto" if provenance.startswith("model") and not provenance.endswith("edited") else "manual"


def _mask_element(common: str, mask: np.ndarray) -> str | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    top, left = int(rows[0]), int(cols[0])
    crop = mask[top:rows[-1] + 1, left:cols[-1] + 1]
    return (f'<mask {common} rle="{cvat_rle(crop)}" left="{left}" top="{top}" '
            f'width="{crop.shape[1]}" height="{crop.shape[0]}" z_order="0"/>')


def cvat_rle(crop: np.ndarray) -> str:
    """CVAT's mask runs: row-major over the crop, alternating zeros and ones, starting
    with zeros (0 first when the top-left pixel is set), as "3, 5, 7"."""
    flat = crop.ravel() != 0
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], edges, [flat.size])))
    if flat[0]:
        runs = np.concatenate(([0], runs))
    return ", ".join(map(str, runs.tolist()))


def _xml_text(out: Path, text: str, what: str) -> str:
    """Text XML 1.0 can hold (no control characters, no lone surrogates), or FormatError."""
    if _NOT_XML_TEXT.search(text):
        raise FormatError(out, f"{what} {brief(text)} has characters XML cannot hold")
    return text


# --- import: reading the file -------------------------------------------------------------

@dataclass
class _Shape:
    kind: str
    label: str  # "" when the shape has none
    group: int  # 0: no group
    values: tuple  # points: flat floats; box: (xtl, ytl, xbr, ybr, rotation); ellipse: (cx, cy, rx, ry,
    # rotation); mask: (left, top, width, height, runs)
    attributes: dict[str, str] = field(default_factory=dict)


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
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.rglob(ANNOTATIONS_NAME)) or sorted(p.glob("*.xml"))
            if not found:
                raise FormatError(p, f"folder has no {ANNOTATIONS_NAME} and no .xml file")
            files += found
        else:
            files.append(p)
    return files


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


def _read(path: Path, root: ET.Element, report: ImportReport) -> tuple[list[str], list[_Image]]:
    """(label names from the meta, images), structure checked."""
    labels = []
    for label in root.iterfind("meta/*/labels/label"):
        if label.findtext("parent"):
            continue  # a skeleton's point
        name = check_class_name(path, label.findtext("name"), "label in <meta>")
        if name not in labels:
            labels.append(name)
    if root.find("track") is not None:
        report.warn("tracks (CVAT for video) skipped; export the task as CVAT for images",
                    f"{path.name}: {len(root.findall('track'))} tracks")
    return labels, [_image(path, k, el) for k, el in enumerate(root.iterfind("image"))]


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
        shapes.append(_Shape(child.tag, label, group, values, attributes))
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
    planned: dict[str, tuple[ImageRecord, list[tuple[str, Instance]]]] = {}
    category_names: list[str] = []
    read: list[_Image] = []
    files = find_cvat_files(paths)
    for n, path in enumerate(files, 1):
        labels, images = _read(path, _parse(path), report)
        category_names += [name for name in labels if name not in category_names]
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
            read.append(image)
            planned.setdefault(record.path, (record, []))[1].extend(_instances(path, image, record, report))
        if progress:
            progress(n, len(files))
    _keep_extras(report, read)
    store_planned(store, resolver, report, list(planned.values()), category_names)
    return report


def _keep_extras(report: ImportReport, images: list[_Image]) -> None:
    """What the project cannot hold yet: shape attributes and image tags. The one place
    to store them once the project has attributes."""
    attributes = sum(len(s.attributes) for im in images for s in im.shapes)
    tags = sum(len(im.tags) for im in images)
    if attributes or tags:
        report.warn(f"{attributes} attributes and {tags} tags not kept (attributes arrive in a later version)")


def _instances(path: Path, image: _Image, record: ImageRecord, report: ImportReport) -> list[tuple[str, Instance]]:
    groups: dict[tuple, list[Shape]] = {}
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
        groups.setdefault(key, []).append(made)
    out = []
    for (label, *rest), shapes in groups.items():
        try:
            merged = merge_parts(shapes, record)
        except validate.ShapeError as exc:
            report.warn(f"shape rejected ({exc}); skipped", f"{path.name}: {image.name}, group {rest[0]} ({label})")
            continue
        out.append((label, Instance(None, 0, 0, merged, None, Provenance.manual())))
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
