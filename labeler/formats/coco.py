"""COCO instance-segmentation JSON: import and export.

Export writes what pycocotools, torchvision's CocoDetection and detectron2 load unchanged:
category ids from 1, iscrowd always 0, area and xywh bbox computed from the shape,
segmentation as polygons where the shape is a polygon without holes and as compressed RLE
otherwise (or always, with force_rle). Each annotation has an ``attributes`` object as CVAT's
COCO export writes it: every attribute its class defines, set or default
({"occluded": false, "colour": "red"}; {} for a class without any). An image with tags has
a ``tags`` list of strings in its image entry (COCO and CVAT have no place for them). Both
are extra keys, which pycocotools and torchvision ignore.

Import reads polygons, compressed and uncompressed RLE, crowd regions, non-contiguous
category ids and Roboflow's per-split ``_annotations.coco.json`` layout. Decisions:
- ``area`` and ``bbox`` in the file are never trusted; they are recomputed.
- An annotation with an empty segmentation (box only) is imported as a rectangle with
  status "proposed", and its image is left "in review": the box is kept, but it does not
  count as a mask (nor get exported) until a person accepts or redraws it.
- A crowd region (iscrowd=1) is imported as an ordinary mask instance (with a warning):
  its pixels are labeled, and our export has no crowd regions.
- Degenerate polygons (fewer than 3 points) are dropped with a warning.
- Every shape passes geometry.validate (finite coordinates near the image, bounded
  vertices, parts and crossings, RLE runs that add up to the image): one that fails is
  skipped with a warning naming the file, the annotation and the reason.
- ``attributes`` are read back: a name the class does not define in the project is
  defined on it from the value's JSON type (true/false boolean, a number number, else
  text) with one warning line; a value that does not fit the class's spec is dropped with a
  warning. ``tags`` on an image entry become its tags. Both only for images this import
  labels (store/attributes.py AttributeImport).
- Anything structurally wrong (not JSON, missing keys, ids that are not integers, unknown
  ids, a category id given to two names, class or file names that cannot be names) stops
  the import with one line naming the file and the problem; nothing of that import is
  stored.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .. import geometry
from ..geometry import validate
from ..core.attributes import label_problem
from ..core.entities import (
    ImageRecord, ImageStatus, Instance, InstanceStatus, MaskRLE, Polygons, Provenance, Shape,
)
from ..store import AttributeImport, ProjectStore, with_defaults
from .common import (
    ExportResult, FormatError, ImageResolver, ImportReport, annotation_files, brief, check_class_name,
    check_file_name, load_json,
    store_planned, write_texts_atomic,
)

ROBOFLOW_NAME = "_annotations.coco.json"


# --- export ----------------------------------------------------------------------------

def export_coco(store: ProjectStore, out: str | os.PathLike, *, all_images: bool = False,
                val_fraction: float = 0.0, force_rle: bool = False,
                progress: Callable[[int, int], None] | None = None) -> ExportResult:
    """Export accepted instances. By default only images marked accepted; with all_images,
    every image. With val_fraction > 0, writes OUT_train.json and OUT_val.json: an image's
    split depends only on its path, so it stays in the same split across exports.

    `progress(done, total)` is called as the instances are read and converted (total: their
    count; about a hundred calls, the last one (total, total) even when there are none),
    always before anything is written: an exception raised from it stops the export with
    no file written."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val fraction must be in [0, 1), got {val_fraction}")
    out = Path(out)
    images = store.images() if all_images else store.images(ImageStatus.ACCEPTED)
    categories = store.categories()
    cat_ids = {c.id: k for k, c in enumerate(categories, 1)}
    coco_categories = [{"id": cat_ids[c.id], "name": c.name, "supercategory": ""} for c in categories]
    by_id = {im.id: im for im in images}
    specs = store.specs_by_category()
    defaults = {c.id: json.dumps(with_defaults(specs.get(c.id, ()), {})) for c in categories}
    tags = store.tags_by_image()

    # Annotations are written as JSON text straight from the stored shapes: parsing and
    # re-encoding 100,000 polygons would cost more than everything else together.
    annotations_by_image: dict[int, list[tuple]] = {im.id: [] for im in images}
    rows = list(store.instance_rows(image_ids=list(by_id)))
    step = max(1, len(rows) // 100)
    for n, row in enumerate(rows):
        if progress is not None and n % step == 0:
            progress(n, len(rows))
        if row.kind == "polygon" and not row.has_holes and not force_rle:
            segmentation = _coco_polygons_text(row.data)
        elif row.kind == "mask":
            segmentation = row.data  # already {"size": [h, w], "counts": "..."}
        else:
            image = by_id[row.image_id]
            shape = Polygons.from_json(json.loads(row.data))
            segmentation = json.dumps(geometry.to_rle(shape, image.height, image.width).to_json())
        attributes = defaults[row.category_id] if row.attributes == "{}" else json.dumps(
            with_defaults(specs.get(row.category_id, ()), json.loads(row.attributes)))
        annotations_by_image[row.image_id].append(
            (row.image_id, cat_ids[row.category_id], segmentation, row.area, row.bbox, attributes))
    if progress is not None:
        progress(len(rows), len(rows))

    if val_fraction > 0:
        splits: dict[str, list] = {"train": [], "val": []}
        for im in images:
            splits["val" if split_value(im.path) < val_fraction else "train"].append(im)
        targets = [(out.with_name(f"{out.stem}_{name}{out.suffix or '.json'}"), ims)
                   for name, ims in splits.items()]
    else:
        targets = [(out, images)]

    texts, total = {}, 0
    for path, split_images in targets:
        header = json.dumps({
            "info": {"description": "exported by labeler", "version": "1.0",
                     "date_created": time.strftime("%Y-%m-%d")},
            "licenses": [],
            "images": [{"id": im.id, "file_name": im.path, "width": im.width, "height": im.height,
                        **({"tags": list(tags[im.id])} if im.id in tags else {})} for im in split_images],
            "categories": coco_categories,
        }, separators=(",", ":"))
        anns = [a for im in split_images for a in annotations_by_image[im.id]]
        body = ",".join(
            f'{{"id":{k},"image_id":{image_id},"category_id":{category_id},'
            f'"segmentation":{segmentation},"area":{area!r},'
            f'"bbox":[{bx!r},{by!r},{bw!r},{bh!r}],"iscrowd":0,"attributes":{attributes}}}'
            for k, (image_id, category_id, segmentation, area, (bx, by, bw, bh), attributes)
            in enumerate(anns, 1))
        texts[path] = f'{header[:-1]},"annotations":[{body}]}}'
        total += len(anns)
    write_texts_atomic(texts)  # a kill never leaves a new train file beside an old val file
    return ExportResult(list(texts), len(images), total)


def _coco_polygons_text(data: str) -> str:
    """Stored polygons without holes, '[[[x,y,...]],[[x,y,...]]]' (one exterior per part),
    as COCO's '[[x,y,...],[x,y,...]]', by text surgery on the compact JSON the store writes."""
    return "[" + data[2:-2].replace("]],[[", "],[") + "]"


def split_value(path: str) -> float:
    """A number in [0, 1) fixed by the image path alone (stable across runs and machines);
    the same one that orders images for the held-out split (store.training.split_value)."""
    from ..store.training import split_value as path_value

    return path_value(path)


# --- import ----------------------------------------------------------------------------

def find_coco_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """JSON files as given; a folder means every Roboflow ``_annotations.coco.json`` in it,
    or failing that every .json file in its ``annotations/`` subfolder."""
    def in_folder(p: Path) -> list[Path]:
        return sorted(p.rglob(ROBOFLOW_NAME)) or sorted((p / "annotations").glob("*.json"))

    return annotation_files(paths, in_folder, f"folder has no {ROBOFLOW_NAME} and no annotations/*.json")


def import_coco(store: ProjectStore, paths: Sequence[str | os.PathLike],
                progress: Callable[[int, int], None] | None = None) -> ImportReport:
    report = ImportReport()
    resolver = ImageResolver(store, report)
    imported = AttributeImport(store, report.warn)
    planned = []  # (image record, [(category name, instance), ...])
    category_names: list[str] = []
    files = find_coco_files(paths)
    for n, path in enumerate(files, 1):
        data = load_json(path)
        coco = _CocoFile(path, data, report, imported)
        category_names += [n for n in coco.categories.values() if n not in category_names]
        for image_entry, anns in coco.images_with_annotations():
            found = resolver.resolve(_candidates(path, image_entry["file_name"], store),
                                     image_entry["file_name"], path.name)
            if found is None:
                continue
            record, file = found
            if (record.width, record.height) != (image_entry["width"], image_entry["height"]):
                report.warn("image size in the file differs from the image on disk; skipped",
                            f"{path.name}: {image_entry['file_name']} says "
                            f"{image_entry['width']}x{image_entry['height']}, file is "
                            f"{record.width}x{record.height}")
                continue
            converted = [c for c in (coco.instance(k, a, record) for k, a in anns) if c is not None]
            planned.append((record, converted))
            imported.add_image(record.path, [inst.attributes for _, inst in converted],
                               coco.tags(image_entry))
        if progress:
            progress(n, len(files))
    store_planned(store, resolver, report, planned, category_names, imported)
    return report


def _candidates(json_path: Path, file_name: str, store: ProjectStore) -> list[Path]:
    """Where a COCO file_name may point: beside the JSON, beside its folder, in the
    standard ``images/`` or ``images/<split>/`` folder, or under the image root."""
    here = json_path.parent
    split = json_path.stem.split("_", 1)[-1]  # instances_val -> val
    return [here / file_name, here.parent / file_name, here.parent / "images" / file_name,
            here.parent / "images" / split / file_name, store.image_root / file_name]


class _CocoFile:
    """One parsed COCO file, checked enough that later steps can index it safely."""

    def __init__(self, path: Path, data: Any, report: ImportReport, imported: AttributeImport) -> None:
        self.path = path
        self.report = report
        self.imported = imported
        if not isinstance(data, dict):
            raise FormatError(path, "not a COCO file (top level is not an object)")
        for key in ("images", "annotations", "categories"):
            if not isinstance(data.get(key), list):
                raise FormatError(path, f"not a COCO file (no '{key}' list)")
        self.categories: dict[int, str] = {}
        for c in data["categories"]:
            self._add_category(c)
        self.images: dict[int, dict] = {}
        for im in data["images"]:
            if not (isinstance(im, dict) and _is_int(im.get("id"))
                    and isinstance(im.get("file_name"), str) and _positive_int(im.get("width"))
                    and _positive_int(im.get("height"))):
                raise FormatError(path, "image entry needs integer 'id', 'width', 'height' and a "
                                        f"'file_name': {brief(im)}")
            if im["id"] in self.images:
                raise FormatError(path, f"image id {im['id']} appears twice")
            check_file_name(path, im["file_name"], f"image {brief(im['id'])}: file_name")
            self.images[im["id"]] = im
        self.by_image: dict[int, list[tuple[int, dict]]] = {i: [] for i in self.images}
        for k, ann in enumerate(data["annotations"]):
            if not isinstance(ann, dict):
                raise FormatError(path, f"annotation at index {k} is not an object: {brief(ann)}")
            image_id, category_id = ann.get("image_id"), ann.get("category_id")
            if not (_is_int(image_id) and image_id in self.images):
                raise FormatError(path, f"{_annotation(k, ann)} refers to unknown image id {brief(image_id)}")
            if not (_is_int(category_id) and category_id in self.categories):
                raise FormatError(path, f"{_annotation(k, ann)} refers to unknown category id "
                                        f"{brief(category_id)}")
            self.by_image[image_id].append((k, ann))

    def _add_category(self, c: Any) -> None:
        """One category entry. An id given twice to different names refuses the file: which
        name its annotations mean cannot be known, and guessing moves them to another class."""
        if not (isinstance(c, dict) and _is_int(c.get("id")) and isinstance(c.get("name"), str)):
            raise FormatError(self.path, f"category entry needs an integer 'id' and a 'name': {brief(c)}")
        if not c["name"].strip():
            raise FormatError(self.path, f"category {c['id']} has an empty name")
        name = check_class_name(self.path, c["name"], f"category {c['id']}")
        known = self.categories.get(c["id"])
        if known is not None and known != name:
            raise FormatError(self.path, f"category id {c['id']} appears twice, as {brief(known)} and "
                                         f"{brief(name)}: which its annotations mean is unknown")
        self.categories[c["id"]] = name

    def tags(self, image: dict) -> list[str]:
        """An image entry's tags (ours); anything but a list of usable names is dropped with a warning."""
        tags = image.get("tags", [])
        if isinstance(tags, list) and all(isinstance(t, str) and not label_problem(t, "") for t in tags):
            return tags
        self.report.warn("image tags are not a list of names; ignored", f"{self.path.name}: {image['file_name']}")
        return []

    def images_with_annotations(self):
        for image_id, image in self.images.items():
            yield image, self.by_image[image_id]

    def instance(self, k: int, ann: dict, record: ImageRecord) -> tuple[str, Instance] | None:
        """(category name, instance with image id 0) or None for a dropped annotation (the
        k-th of the file). A shape that fails validation is dropped with a warning; a
        segmentation of the wrong structure refuses the file."""
        name = self.categories[ann["category_id"]]
        where = f"{self.path.name}: {_annotation(k, ann)}"
        seg = ann.get("segmentation")
        status = InstanceStatus.ACCEPTED
        try:
            if ann.get("iscrowd"):
                self.report.warn("crowd region (iscrowd=1) imported as an ordinary mask", where)
            shape: Shape | None
            if isinstance(seg, dict):
                shape = validate.rle_from_coco(seg, record.height, record.width)
            elif seg is None or seg == []:
                shape = self._box(ann, where, record)
                status = InstanceStatus.PROPOSED
            elif isinstance(seg, list):
                shape = self._polygons(seg, where, record)
            else:
                raise ValueError(f"segmentation must be a list of polygons or an RLE object, "
                                 f"got {type(seg).__name__}")
        except validate.ShapeError as exc:
            self.report.warn(f"shape rejected ({exc}); annotation skipped", where)
            return None
        except (ValueError, TypeError, KeyError) as exc:
            raise FormatError(self.path, f"{_annotation(k, ann)}: {exc}") from None
        if shape is None:
            return None
        if isinstance(shape, MaskRLE) and geometry.area(shape) == 0:
            self.report.warn("empty mask dropped", where)
            return None
        attributes = self.imported.check(name, ann.get("attributes"), where)
        return name, Instance(None, 0, 0, shape, None, Provenance.manual(), status, attributes)

    def _polygons(self, seg: list, where: str, record: ImageRecord) -> Polygons | None:
        validate.check_counts([], len(seg))  # 20,000 rings are refused before any is read
        rings = []
        for ring in seg:
            if not isinstance(ring, list) or not all(isinstance(c, (int, float)) for c in ring):
                raise ValueError("polygon must be a flat list of numbers")
            if len(ring) % 2 or len(ring) < 6:
                self.report.warn("degenerate polygon (fewer than 3 points) dropped", where)
                continue
            rings.append(ring)
        return validate.polygons_from_flat(rings, record.height, record.width) if rings else None

    def _box(self, ann: dict, where: str, record: ImageRecord) -> Polygons | None:
        box = ann.get("bbox")
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(c, (int, float)) for c in box)):
            raise ValueError("has neither a segmentation nor a valid bbox")
        x, y, w, h = validate.coordinates(box).tolist()
        if w <= 0 or h <= 0:
            self.report.warn("empty box dropped", where)
            return None
        shape = validate.check_polygons(Polygons.rectangle(x, y, x + w, y + h), record.height, record.width)
        self.report.warn("box without a mask imported as a rectangle proposal to review", where)
        return shape


def _is_int(value: Any) -> bool:
    """An integer id (JSON true/false are not ids; a list is not hashable)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: Any) -> bool:
    return _is_int(value) and value > 0


def _annotation(k: int, ann: dict) -> str:
    """How a message names the k-th annotation: by its id when it has an integer one."""
    ann_id = ann.get("id")
    return f"annotation {brief(ann_id)}" if _is_int(ann_id) else f"annotation at index {k}"
