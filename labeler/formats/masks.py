"""Mask PNG export: per image an instance-id PNG and a class PNG, and one legend.json.

- ``OUT/instances/<sub>/<stem>.png``: 16-bit greyscale, 0 background, the image's
  instances 1..n in the project's instance order (instance_rows: by id).
- ``OUT/classes/<sub>/<stem>.png``: palette ("P") PNG, VOC style: 0 background, the
  project's k-th class (in category order) at index k with its colour; index 255 (VOC's
  "void") is never written. At most 254 classes.
- Where instances overlap, the later one (higher index) wins, in both PNGs: the class PNG
  is the class of the instance PNG's pixel. An instance hidden entirely keeps its entry in
  the legend, with 0 pixels.
- ``OUT/legend.json``: the classes (index, name, colour) and per image its instance ids
  with their class index, the instance's id in the project and its visible pixels.
- Shapes are rasterised as COCO does (pycocotools), so the PNGs are the masks the COCO
  export describes.
- Files are written a batch at a time (each file whole, old or new). The legend of an
  earlier export is removed first and the new one written last, so a stopped export never
  leaves a legend that does not describe its PNGs.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from ..core.entities import ImageRecord, ImageStatus
from ..store import InstanceRow, ProjectStore
from .common import ExportResult, FormatError, write_text_atomic
from .labelme_export import group_rows, output_paths, pixel_mask, with_progress, write_batches

MAX_INSTANCES = 65_535  # per image: the largest 16-bit value
VOID = 255  # VOC's void index: never written
MAX_CLASSES = VOID - 1
BACKGROUND_NAME = "_background_"  # labelme's and VOC's name for index 0
LEGEND_NAME = "legend.json"


def export_masks(store: ProjectStore, out_dir: str | os.PathLike, *, all_images: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> ExportResult:
    """Write the instance and class PNGs of accepted instances, and legend.json. By default
    only images marked accepted; with all_images, every image. ``files`` in the result are
    the PNGs and the legend; ``annotations`` the instances.

    `progress(done, total)` is called as the instances are rasterised (about a hundred
    calls over their count, the last (total, total) before the legend is written); an
    exception raised from it stops the export, leaving the PNGs written so far and no
    legend. An image with more than 65,535 instances, or a project with more than 254
    classes, refuses the export before anything is written."""
    out_dir = Path(out_dir).resolve()
    images = store.images() if all_images else store.images(ImageStatus.ACCEPTED)
    categories = store.categories()
    if len(categories) > MAX_CLASSES:
        raise FormatError(out_dir, f"the project has {len(categories):,} classes; a class PNG holds "
                                   f"at most {MAX_CLASSES} (index {VOID} is void)")
    class_index = {c.id: k for k, c in enumerate(categories, 1)}
    palette = bytearray(3 * 256)
    for k, c in enumerate(categories, 1):
        palette[3 * k:3 * k + 3] = bytes.fromhex(c.color[1:])
    palette[3 * VOID:3 * VOID + 3] = bytes((224, 224, 192))  # VOC's void colour, for viewers
    instance_paths = output_paths(images, out_dir / "instances", ".png")
    class_paths = output_paths(images, out_dir / "classes", ".png")
    grouped = group_rows(store, images)
    for image in images:
        if len(grouped[image.id]) > MAX_INSTANCES:
            raise FormatError(store.image_path(image), f"{len(grouped[image.id]):,} instances; a 16-bit "
                                                       f"instance PNG holds at most {MAX_INSTANCES:,}")

    (out_dir / LEGEND_NAME).unlink(missing_ok=True)
    legend_images: list[dict] = []
    files: list[Path] = []
    instances = 0

    def pngs() -> Iterator[tuple[Path, bytes]]:
        nonlocal instances
        for image, rows in with_progress(images, grouped, progress):
            ids = instance_ids(image, rows)
            lut = np.array([0] + [class_index[r.category_id] for r in rows], np.uint8)
            pixels = np.bincount(ids.ravel(), minlength=len(rows) + 1)
            legend_images.append({
                "image": image.path, "width": image.width, "height": image.height,
                "instance_png": instance_paths[image.id].relative_to(out_dir).as_posix(),
                "class_png": class_paths[image.id].relative_to(out_dir).as_posix(),
                "instances": [{"id": k, "class": int(lut[k]), "instance_id": r.id, "pixels": int(pixels[k])}
                              for k, r in enumerate(rows, 1)]})
            instances += len(rows)
            classes = Image.fromarray(lut[ids])
            classes.putpalette(bytes(palette))  # an "L" image with a palette is a "P" image
            for path, im in ((instance_paths[image.id], Image.fromarray(ids)), (class_paths[image.id], classes)):
                buf = io.BytesIO()
                im.save(buf, format="PNG")
                files.append(path)
                yield path, buf.getvalue()

    write_batches(pngs())
    legend = {
        "background": 0, "void": VOID,
        "classes": [{"index": 0, "name": BACKGROUND_NAME, "colour": "#000000"}]
                   + [{"index": k, "name": c.name, "colour": c.color.lower()} for k, c in enumerate(categories, 1)],
        "images": legend_images,
    }
    write_text_atomic(out_dir / LEGEND_NAME, json.dumps(legend, ensure_ascii=False))
    return ExportResult(files + [out_dir / LEGEND_NAME], len(images), instances)


def instance_ids(image: ImageRecord, rows: list[InstanceRow]) -> np.ndarray:
    """The image's (H, W) uint16 instance-id array: 0 background, row k-1 painted as k, later
    rows over earlier ones. Each mask is painted only inside its pixel box."""
    ids = np.zeros((image.height, image.width), np.uint16)
    for k, row in enumerate(rows, 1):
        found = pixel_mask(row, image)
        if found is not None:
            mask, (x, y, w, h) = found
            np.putmask(ids[y:y + h, x:x + w], mask[y:y + h, x:x + w], k)
    return ids

