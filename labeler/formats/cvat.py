"""CVAT for images 1.1 XML export (one XML file, as CVAT's own "CVAT for images 1.1"
annotations.xml); the import is cvat_import.py.

Every class is a label (type "any") with its attributes; every image is an ``<image>`` with
its stored relative path as name. A polygon part is a ``<polygon>`` (points to 2 decimals,
as CVAT writes them); the parts of one instance share a ``group_id``. CVAT polygons have no
holes, so an instance with holes, and every mask, is a ``<mask>`` of its tight crop:
row-major runs over the crop, starting with a run of zeros. source is "auto" for a model's
shape a person has not edited, "manual" otherwise.

Attributes as CVAT writes them: each label's ``<attributes>`` in the meta (boolean ->
checkbox, choice -> select, text -> text, number -> number with its min, max and step 1),
and under every shape one ``<attribute name="...">`` per attribute of its class, set or
default. A boolean attribute named ``occluded`` is CVAT's own ``occluded`` flag on the shape
instead. CVAT's numbers are integers: a number attribute with a fractional value is written
as a text attribute, with a warning. Image tags are ``<tag label="...">`` elements, their
labels declared with type "tag".
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from .. import geometry
from ..core.attributes import AttributeKind, AttributeSpec, value_text
from ..core.entities import ImageStatus, MaskRLE, Polygons
from ..store import ProjectStore
from .common import ExportResult, FormatError, brief, write_texts_atomic

ANNOTATIONS_NAME = "annotations.xml"  # what CVAT's zip holds
OCCLUDED = "occluded"  # CVAT's own flag on every shape; a boolean attribute of that name is it
TAG_COLOR = "#a0a0a0"  # the colour of a tag's label (CVAT needs one)
_NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_INPUT_TYPES = {AttributeKind.BOOLEAN: "checkbox", AttributeKind.CHOICE: "select", AttributeKind.TEXT: "text",
                AttributeKind.NUMBER: "number"}


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
    attributes = _ShapeAttributes(out, store.specs_by_category())
    by_id = {im.id: im for im in images}
    elements: dict[int, list[str]] = {im.id: [] for im in images}
    rows = list(store.instance_rows(image_ids=list(by_id)))
    step = max(1, len(rows) // 100)
    groups = exported = 0
    for n, row in enumerate(rows):
        if progress is not None and n % step == 0:
            progress(n, len(rows))
        occluded, children = attributes.of(row.category_id, row.attributes)
        common = f'label={labels[row.category_id]} source="{_source(row.provenance)}" occluded="{occluded}"'
        image = by_id[row.image_id]
        if row.kind == "polygon" and not row.has_holes:
            parts = json.loads(row.data)
            group = ""
            if len(parts) > 1:
                groups += 1
                group = f' group_id="{groups}"'
            elements[row.image_id] += [_element("polygon", f'{common} points="{_points(part[0])}" z_order="0"{group}',
                                                children) for part in parts]
        else:
            if row.kind == "mask":
                mask = geometry.rle_to_mask(MaskRLE.from_json(json.loads(row.data)))
            else:
                mask = geometry.to_mask(Polygons.from_json(json.loads(row.data)), image.height, image.width)
            element = _mask_element(common, mask, children)
            if element is None:
                continue  # no pixels: CVAT has no empty mask
            elements[row.image_id].append(element)
        exported += 1
    if progress is not None:
        progress(len(rows), len(rows))

    tags = {i: t for i, t in store.tags_by_image().items() if i in by_id}
    class_names = {c.name for c in categories}
    tag_labels = sorted({t for image_tags in tags.values() for t in image_tags} - class_names)
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>", "  <version>1.1</version>",
             "  <meta>", "    <task>", f"      <name>{escape(_xml_text(out, store.project_dir.name, 'project name'))}</name>",
             f"      <size>{len(images)}</size>", "      <mode>annotation</mode>", "      <labels>"]
    lines += [f"        <label><name>{escape(c.name)}</name><color>{c.color}</color><type>any</type>"
              f"<attributes>{attributes.meta(c.id, c.name)}</attributes></label>" for c in categories]
    lines += [f"        <label><name>{escape(_xml_text(out, t, 'image tag'))}</name><color>{TAG_COLOR}</color>"
              f"<type>tag</type><attributes></attributes></label>" for t in tag_labels]
    lines += ["      </labels>", "    </task>", f"    <dumped>{time.strftime('%Y-%m-%d %H:%M:%S%z')}</dumped>",
              "  </meta>"]
    for k, im in enumerate(images):
        name = quoteattr(_xml_text(out, im.path, "image path"))
        children = elements[im.id] + [f'<tag label={quoteattr(t)} source="manual"/>' for t in tags.get(im.id, ())]
        head = f'  <image id="{k}" name={name} width="{im.width}" height="{im.height}"'
        lines.append(f"{head}>\n    " + "\n    ".join(children) + "\n  </image>" if children else head + "/>")
    lines.append("</annotations>\n")
    write_texts_atomic({out: "\n".join(lines)})
    return ExportResult([out], len(images), exported, attributes.warnings)


class _ShapeAttributes:
    """Each shape's occluded flag and ``<attribute>`` children, and each label's attribute
    meta. Every number value written is seen first, so the meta's range holds them all."""

    def __init__(self, out: Path, specs: Mapping[int, Sequence[AttributeSpec]]) -> None:
        self.out = out
        self.specs = specs
        self.numbers: dict[tuple[int, str], list[float]] = {}  # (category id, name) -> values' min, max
        self.fractional: set[tuple[int, str]] = set()
        self.warnings: list[str] = []
        self._defaults = {cid: self._children(cid, {}) for cid in specs}

    def of(self, category_id: int, stored: str) -> tuple[str, str]:
        """("0" or "1", the children's XML) for a shape of that class with those stored values."""
        if category_id not in self.specs:
            return "0", ""
        return self._defaults[category_id] if stored == "{}" else self._children(category_id, json.loads(stored))

    def _children(self, category_id: int, stored: dict) -> tuple[str, str]:
        occluded, parts = "0", []
        for spec in self.specs[category_id]:
            value = stored.get(spec.name, spec.default)
            if spec.name == OCCLUDED and spec.kind == AttributeKind.BOOLEAN:
                occluded = "1" if value else "0"
                continue
            if spec.kind == AttributeKind.NUMBER:
                self._seen((category_id, spec.name), value)
            text = escape(_xml_text(self.out, value_text(value), f"attribute {spec.name!r} value"))
            parts.append(f"<attribute name={quoteattr(spec.name)}>{text}</attribute>")
        return occluded, "".join(parts)

    def _seen(self, key: tuple[int, str], value: float) -> None:
        if not float(value).is_integer():
            self.fractional.add(key)
        low_high = self.numbers.setdefault(key, [value, value])
        low_high[0], low_high[1] = min(low_high[0], value), max(low_high[1], value)

    def meta(self, category_id: int, class_name: str) -> str:
        """The label's ``<attribute>`` definitions, as CVAT's meta writes them."""
        out = []
        for spec in self.specs.get(category_id, ()):
            if spec.name == OCCLUDED and spec.kind == AttributeKind.BOOLEAN:
                continue
            kind, values = _INPUT_TYPES[spec.kind], value_text(spec.default)
            if spec.kind == AttributeKind.BOOLEAN:
                values = "false\ntrue"
            elif spec.kind == AttributeKind.CHOICE:
                values = "\n".join(spec.choices)
            elif spec.kind == AttributeKind.NUMBER:
                key = (category_id, spec.name)
                if key in self.fractional:
                    kind = "text"
                    self.warnings.append(f"number attribute {spec.name!r} of class {class_name!r} has fractional "
                                         f"values: written as a CVAT text attribute (CVAT's numbers are integers)")
                else:
                    low, high = self.numbers[key]
                    values = f"{math.floor(low)}\n{math.ceil(high)}\n1"
            out.append(f"<attribute><name>{escape(spec.name)}</name><mutable>False</mutable>"
                       f"<input_type>{kind}</input_type><default_value>{escape(value_text(spec.default))}"
                       f"</default_value><values>{escape(values)}</values></attribute>")
        return "".join(out)


def _element(tag: str, attributes: str, children: str) -> str:
    return f"<{tag} {attributes}>{children}</{tag}>" if children else f"<{tag} {attributes}/>"


def _points(flat: list[float]) -> str:
    """A flat [x0, y0, x1, y1, ...] ring as CVAT's "x0,y0;x1,y1;..." with 2 decimals."""
    return (("%.2f,%.2f;" * (len(flat) // 2)) % tuple(flat))[:-1]


def _source(provenance: str) -> str:
    """CVAT's source: "auto" for a model's unedited shape, "manual" for a person's."""
    return "auto" if provenance.startswith("model") and not provenance.endswith("edited") else "manual"


def _mask_element(common: str, mask: np.ndarray, children: str) -> str | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    top, left = int(rows[0]), int(cols[0])
    crop = mask[top:rows[-1] + 1, left:cols[-1] + 1]
    return _element("mask", f'{common} rle="{cvat_rle(crop)}" left="{left}" top="{top}" '
                            f'width="{crop.shape[1]}" height="{crop.shape[0]}" z_order="0"', children)


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
