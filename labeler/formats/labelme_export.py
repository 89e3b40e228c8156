"""labelme JSON export: one file per image, which labelme (5.4 and later) opens and
labeler's labelme import reads back to the same instances.

- The JSON of image ``sub/a.jpg`` is ``OUT/sub/a.json``; its ``imagePath`` is the path from
  that file to the image in the project's image root, so labelme finds the image wherever
  OUT is (OUT may be the image root itself: then the JSON sits beside its image).
  ``imageData`` is null.
- A polygon instance without holes becomes one ``polygon`` shape per part, with its
  vertices as stored; the parts of a multi-part instance share a ``group_id`` (1, 2, ...
  per image), as labelme and labelme2coco key instances by (label, group_id). A one-part
  instance has group_id null.
- An instance with holes, or a mask, becomes a labelme ``mask`` shape, exact to the pixel:
  ``points`` is its pixel box ``[[xmin, ymin], [xmax, ymax]]`` (inclusive) and ``mask`` a
  base64 PNG (mode "L", 0/1) of that box only. Holes are rasterised as COCO does
  (pycocotools), so the mask is the one the COCO export describes. An instance that covers
  no pixel (a sliver between pixel centres) has no mask to write and is left out.
- Shapes are written in the project's instance order (instance_rows); labelme paints later
  shapes over earlier ones.
- Attributes: labelme's shape ``flags`` (true/false only) hold the boolean attributes of the
  class, set or default, which labelme shows as ticks; the others (choice, text, number) go
  in an ``attributes`` object on the shape, which labelme keeps as the shape's other data.
  Image tags are the image's ``flags``, each true.
"""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from .. import geometry
from ..core.attributes import AttributeKind, AttributeSpec
from ..core.entities import ImageRecord, ImageStatus, MaskRLE, Polygons
from ..store import InstanceRow, ProjectStore, with_defaults
from .common import ExportResult, FormatError, atomic_files

LABELME_VERSION = "5.5.0"  # the format written: mask shapes need labelme 5.4 or later
WRITE_BATCH = 128  # files replaced together by one atomic_files (each an open descriptor)


def export_labelme(store: ProjectStore, out_dir: str | os.PathLike, *, all_images: bool = False,
                   progress: Callable[[int, int], None] | None = None) -> ExportResult:
    """Write a labelme JSON per image of accepted instances. By default only images marked
    accepted; with all_images, every image (one with no accepted instance gets an empty
    ``shapes`` list). ``annotations`` in the result counts the instances written.

    `progress(done, total)` is called as the instances are converted (total: their count;
    about a hundred calls, the last one (total, total)), always before anything is
    written: an exception raised from it stops the export with no file written."""
    out_dir = Path(out_dir).resolve()
    images = store.images() if all_images else store.images(ImageStatus.ACCEPTED)
    names = {c.id: c.name for c in store.categories()}
    attributes = ShapeAttributes(store.specs_by_category())
    tags = store.tags_by_image()
    targets = output_paths(images, out_dir, ".json")
    texts: dict[Path, str] = {}
    written = 0
    for image, rows in with_progress(images, group_rows(store, images), progress):
        path = targets[image.id]
        shapes, count = labelme_shapes(image, rows, names, attributes)
        written += count
        texts[path] = json.dumps({
            "version": LABELME_VERSION, "flags": dict.fromkeys(tags.get(image.id, ()), True), "shapes": shapes,
            "imagePath": _relative(store.image_path(image), path.parent),
            "imageData": None, "imageHeight": image.height, "imageWidth": image.width,
        }, ensure_ascii=False)
    write_batches((path, text.encode("utf-8")) for path, text in texts.items())
    return ExportResult(list(texts), len(images), written)


class ShapeAttributes:
    """A shape's labelme ``flags`` (the boolean attributes) and other attributes (None when
    its class has none), every attribute of the class, set or default."""

    def __init__(self, specs: dict[int, tuple[AttributeSpec, ...]]) -> None:
        self.specs = specs
        self._defaults = {cid: self._split(cid, "{}") for cid in specs}

    def of(self, row: InstanceRow) -> tuple[dict, dict | None]:
        if row.category_id not in self.specs:
            return {}, None
        return self._defaults[row.category_id] if row.attributes == "{}" else self._split(row.category_id, row.attributes)

    def _split(self, category_id: int, stored: str) -> tuple[dict, dict | None]:
        specs = self.specs[category_id]
        values = with_defaults(specs, json.loads(stored))
        flags = {s.name: values[s.name] for s in specs if s.kind == AttributeKind.BOOLEAN}
        others = {s.name: values[s.name] for s in specs if s.kind != AttributeKind.BOOLEAN}
        return flags, others or None


def labelme_shapes(image: ImageRecord, rows: Iterable[InstanceRow], names: dict[int, str],
                   attributes: ShapeAttributes | None = None) -> tuple[list[dict], int]:
    """The labelme shapes of one image's instances, in their order, and how many instances
    they are."""
    shapes: list[dict] = []
    group = count = 0
    attributes = attributes or ShapeAttributes({})
    for row in rows:
        label = names[row.category_id]
        flags, others = attributes.of(row)
        if row.kind == "polygon" and not row.has_holes:
            parts = json.loads(row.data)  # [[flat exterior], ...]: one ring per part
            group_id = None
            if len(parts) > 1:
                group += 1
                group_id = group
            for (flat,) in parts:
                shapes.append(_shape(label, [list(p) for p in zip(flat[0::2], flat[1::2])], "polygon", group_id,
                                     flags, others))
            count += 1
            continue
        found = pixel_mask(row, image)
        if found is None:
            continue
        mask, (x, y, w, h) = found
        crop = mask[y:y + h, x:x + w]
        buf = io.BytesIO()
        Image.fromarray(crop.copy(order="C")).save(buf, format="PNG")
        mask_shape = _shape(label, [[x, y], [x + w - 1, y + h - 1]], "mask", None, flags, others)
        mask_shape["mask"] = base64.b64encode(buf.getvalue()).decode("ascii")
        shapes.append(mask_shape)
        count += 1
    return shapes, count


def pixel_mask(row: InstanceRow, image: ImageRecord) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """The instance's (H, W) 0/1 mask as COCO rasterises it and its pixel box (x, y, w, h);
    None when it covers no pixel."""
    data = json.loads(row.data)
    if row.kind == "polygon" and row.has_holes:  # rasterised straight to pixels (pycocotools)
        mask = geometry.polygons_to_mask(Polygons.from_json(data), image.height, image.width)
    else:  # an RLE, whose box pycocotools' toBbox reads without a pass over the pixels
        rle = (MaskRLE.from_json(data) if row.kind == "mask"
               else geometry.to_rle(Polygons.from_json(data), image.height, image.width))
        x, y, w, h = (int(v) for v in geometry.bbox(rle))
        return (geometry.rle_to_mask(rle), (x, y, w, h)) if w and h else None
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return mask, (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def _shape(label: str, points: list, kind: str, group_id: int | None, flags: dict, others: dict | None) -> dict:
    shape = {"label": label, "points": points, "group_id": group_id, "description": "",
             "shape_type": kind, "flags": dict(flags), "mask": None}
    if others is not None:
        shape["attributes"] = dict(others)
    return shape


def _relative(image: Path, folder: Path) -> str:
    """The image's path from `folder`, '/' separated (absolute when there is none: another
    drive on Windows)."""
    try:
        return Path(os.path.relpath(image, folder)).as_posix()
    except ValueError:
        return image.as_posix()


# --- what the per-image exports share (labelme JSON, mask PNGs) ----------------------

def output_paths(images: Sequence[ImageRecord], folder: Path, suffix: str) -> dict[int, Path]:
    """image id -> ``folder/<the image's sub-folders>/<its stem><suffix>``. Two images that
    would get the same file (``a.png`` and ``a.jpg``; ``A.png`` and ``a.jpg`` on a file
    system that ignores case) refuse the export before anything is written."""
    out: dict[int, Path] = {}
    seen: dict[str, str] = {}
    for image in images:
        relative = Path(image.path).with_suffix(suffix)
        key = relative.as_posix().casefold()
        if key in seen:
            raise FormatError(folder / relative, f"images {seen[key]!r} and {image.path!r} would both "
                                                 f"be written to this file; rename one of them")
        seen[key] = image.path
        out[image.id] = folder / relative
    return out


def group_rows(store: ProjectStore, images: Sequence[ImageRecord]) -> dict[int, list[InstanceRow]]:
    """image id -> its accepted instances, in instance_rows order (shapes not parsed)."""
    grouped: dict[int, list[InstanceRow]] = {im.id: [] for im in images}
    for row in store.instance_rows(image_ids=list(grouped)):
        grouped[row.image_id].append(row)
    return grouped


def with_progress(images: Sequence[ImageRecord], grouped: dict[int, list[InstanceRow]],
                  progress: Callable[[int, int], None] | None) -> Iterator[tuple[ImageRecord, list[InstanceRow]]]:
    """Each image with its instances, calling `progress(done, total)` about a hundred times
    over the instances, the last call (total, total) after the last image is handled."""
    total = sum(map(len, grouped.values()))
    step, done, reported = max(1, total // 100), 0, -1
    for image in images:
        if progress is not None and done // step != reported:
            reported = done // step
            progress(done, total)
        yield image, grouped[image.id]
        done += len(grouped[image.id])
    if progress is not None:
        progress(total, total)


def write_batches(files: Iterable[tuple[Path, bytes]]) -> None:
    """Write files a batch at a time with atomic_files: each file is whole, old or new."""
    batch: list[tuple[Path, bytes]] = []
    for item in files:
        batch.append(item)
        if len(batch) == WRITE_BATCH:
            _write(batch)
            batch = []
    if batch:
        _write(batch)


def _write(batch: list[tuple[Path, bytes]]) -> None:
    with atomic_files([path for path, _ in batch]) as handles:
        for f, (_, data) in zip(handles, batch):
            f.write(data)
