"""Synthetic "shapes" scenes with exact ground truth, for tests, benchmarks and simulation.

Each scene is a few filled squares, disks (32-gons) and triangles on a plain (or, with
texture, a noisy graded) background. A shape is painted through the mask that
labeler.geometry.to_mask (pycocotools) makes of the very polygon returned as its label,
so the pixels and the label agree exactly, as COCOeval and the dataset will see them.
(cv2.fillPoly would not: it fills the outline inclusively, about a pixel more all round,
which costs a 13 px triangle 30 % of IoU.) Shapes' boxes never overlap, so no label is
hidden under another shape.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np

from .. import geometry
from ..core.entities import ImageStatus, Instance, InstanceStatus, Polygons, Provenance
from ..formats.common import add_image_files, write_text_atomic
from ..imaging import find_images, scan_images
from ..store import ProjectStore
from .data import Sample

CLASSES = ("square", "disk", "triangle")

_TRIES = 200


def _vertices(kind: str, cx: float, cy: float, radius: float, angle: float) -> np.ndarray:
    """(K, 2) float vertices of a shape centred at (cx, cy) whose circumradius is radius."""
    corners = {"square": 4, "disk": 32, "triangle": 3}[kind]
    t = angle + np.arange(corners) * (2 * math.pi / corners)
    return np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], axis=1)


def _background(rng: np.random.Generator, noise: np.random.Generator, height: int, width: int,
                texture: bool) -> np.ndarray:
    base = rng.integers(0, 90, 3).astype(np.float32)
    image = np.broadcast_to(base, (height, width, 3)).copy()
    if texture:
        ramp = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :, None]
        image += ramp * noise.uniform(-40, 40, 3).astype(np.float32)
        image += noise.normal(0, 12, (height, width, 3)).astype(np.float32)
    return image


def shapes_scene(width: int, height: int, seed: int, count: tuple[int, int] = (2, 5),
                 texture: bool = False) -> tuple[np.ndarray, list[tuple[str, Polygons]]]:
    """An RGB uint8 (height, width, 3) image and its ground truth: (class name, polygon in
    pixel coordinates) for each shape, in drawing order. Shape sizes are 10-30 % of the
    short side; the number of shapes is drawn from count (inclusive), fewer only when
    they do not fit without their boxes overlapping."""
    rng = np.random.default_rng(seed)
    noise = np.random.default_rng([seed, 1])  # texture only: the layout does not depend on it
    image = _background(rng, noise, height, width, texture)
    wanted = int(rng.integers(count[0], count[1] + 1))
    short = min(width, height)
    boxes: list[tuple[float, float, float, float]] = []
    truth: list[tuple[str, Polygons]] = []
    for _ in range(_TRIES):
        if len(truth) == wanted:
            break
        kind = CLASSES[int(rng.integers(len(CLASSES)))]
        size = rng.uniform(0.10, 0.30) * short  # the shape's extent across
        pts = _vertices(kind, 0.0, 0.0, size / 2, rng.uniform(0, 2 * math.pi))
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        dx = rng.uniform(1 - lo[0], width - 1 - hi[0])
        dy = rng.uniform(1 - lo[1], height - 1 - hi[1])
        pts = np.round(pts + (dx, dy), 2)
        box = (*pts.min(axis=0), *pts.max(axis=0))
        if any(box[0] < b[2] + 1 and b[0] < box[2] + 1 and box[1] < b[3] + 1 and b[1] < box[3] + 1
               for b in boxes):
            continue
        color = rng.integers(110, 256, 3).astype(np.float32)
        shape = Polygons(((tuple(map(tuple, pts.tolist())),),))
        inside = geometry.to_mask(shape, height, width).astype(bool)
        image[inside] = color + (noise.normal(0, 8, (int(inside.sum()), 3)) if texture else 0)
        boxes.append(box)
        truth.append((kind, shape))
    return np.clip(image, 0, 255).astype(np.uint8), truth


def _write_images(images: Path, count: int, width: int, height: int, seed: int, texture: bool
                  ) -> list[tuple[Path, list[tuple[str, Polygons]]]]:
    images.mkdir(parents=True, exist_ok=True)
    written = []
    for n in range(count):
        image, truth = shapes_scene(width, height, seed + n, texture=texture)
        path = images / f"{n:04d}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: could not write the image")
        written.append((path, truth))
    return written


def _write_dataset(root: Path, count: int, width: int, height: int, seed: int, texture: bool
                   ) -> tuple[Path, list[tuple[Path, list[tuple[str, Polygons]]]]]:
    scenes = _write_images(root / "images", count, width, height, seed, texture)
    images, annotations = [], []
    for image_id, (path, truth) in enumerate(scenes, 1):
        images.append({"id": image_id, "file_name": f"images/{path.name}", "width": width,
                       "height": height})
        for name, shape in truth:
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": CLASSES.index(name) + 1,
                "segmentation": [ring for part in shape.to_json() for ring in part],
                "area": geometry.area(shape), "bbox": list(geometry.bbox(shape)), "iscrowd": 0,
            })
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": k, "name": n, "supercategory": "shape"} for k, n in enumerate(CLASSES, 1)]}
    out = root / "annotations.json"
    write_text_atomic(out, json.dumps(coco))
    return out, scenes


def write_shapes_dataset(root: Path, count: int, width: int = 160, height: int = 128, seed: int = 0,
                         texture: bool = False) -> Path:
    """Write root/images/NNNN.png (image n drawn with seed + n) and root/annotations.json
    (COCO: category ids 1..3 in CLASSES order, polygon segmentation, area and xywh bbox
    computed by labeler.geometry, iscrowd 0). Returns the JSON's path."""
    return _write_dataset(Path(root), count, width, height, seed, texture)[0]


def make_shapes_project(root: Path, count: int, width: int = 160, height: int = 128, seed: int = 0,
                        accepted: int = 0) -> Path:
    """A labeler project at root/"project" over root/"images" (written by
    write_shapes_dataset, annotations.json included, so the full ground truth stays at
    hand), with classes CLASSES. The first ``accepted`` images carry their ground truth as
    accepted manual instances and are marked accepted; the rest are unlabeled. Returns
    the project folder."""
    root = Path(root)
    _, scenes = _write_dataset(root, count, width, height, seed, texture=False)
    project = root / "project"
    with ProjectStore.create(project, root / "images", CLASSES) as store:
        infos, errors = scan_images(find_images(root / "images"))
        if errors:
            raise OSError(errors[0])
        add_image_files(store, infos)
        categories = {c.name: c.id for c in store.categories()}
        with store.transaction():
            for path, truth in scenes[:accepted]:
                record = store.image_by_path(path.name)
                for name, shape in truth:
                    store.put_instance(Instance(None, record.id, categories[name], shape, None,
                                                Provenance.manual(), InstanceStatus.ACCEPTED))
                store.set_image_status(record.id, ImageStatus.ACCEPTED)
    return project


def shapes_samples(root: Path, count: int, width: int = 160, height: int = 128, seed: int = 0,
                   texture: bool = False) -> list[Sample]:
    """Write a shapes dataset under root (as write_shapes_dataset) and return it as
    training samples, model label k + 1 for CLASSES[k]: no project needed."""
    _, scenes = _write_dataset(Path(root), count, width, height, seed, texture)
    return [Sample(n, path, width, height, tuple(CLASSES.index(name) + 1 for name, _ in truth),
                   tuple(shape for _, shape in truth))
            for n, (path, truth) in enumerate(scenes, 1)]
