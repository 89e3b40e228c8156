"""Export and import at scale: 10,000 images x 10 instances (100,000 polygons of 20
vertices), in every format. Prints the time of each step and the peak memory. Targets:
COCO, YOLO and CVAT XML export each < 5 s.

    python benchmarks/export_import.py [--images N] [--per-image K] [--keep DIR] [--no-masks]
                                       [--attributes]

With --attributes every class has three attributes (a boolean, a choice, a number) and
every other instance has all three set: what attributes add to each export and import.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from labeler.core import AttributeKind, AttributeSpec, ImageRecord, ImageStatus, Instance, Polygons
from labeler.formats import export_coco, import_coco
from labeler.formats.common import add_image_files
from labeler.imaging import find_images, scan_images
from labeler.projects import export_dataset, import_labels
from labeler.store import ProjectStore

WIDTH, HEIGHT, VERTICES = 640, 480, 20


def star_polygon(rng: np.random.Generator) -> Polygons:
    cx, cy = rng.uniform(60, WIDTH - 60), rng.uniform(60, HEIGHT - 60)
    angles = np.sort(rng.uniform(0, 2 * math.pi, VERTICES))
    radii = rng.uniform(15, 50, VERTICES)
    ring = tuple((round(float(cx + r * math.cos(a)), 2), round(float(cy + r * math.sin(a)), 2))
                 for a, r in zip(angles, radii))
    return Polygons(((ring,),))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, fn):
    start = time.perf_counter()
    result = fn()
    print(f"{label:<46} {time.perf_counter() - start:7.2f} s   (peak RSS {peak_rss_mb():,.0f} MB)", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--per-image", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temp folder)")
    parser.add_argument("--no-masks", action="store_true", help="skip the mask-PNG export (2 PNGs per image)")
    parser.add_argument("--attributes", action="store_true", help="three attributes per class, set on every "
                                                                   "other instance")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="labeler-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()}")
    print(f"{args.images:,} images x {args.per_image} instances = {args.images * args.per_image:,} "
          f"polygons of {VERTICES} vertices, in {work}")

    images = work / "images"
    images.mkdir(exist_ok=True)
    template = images / "template.png"
    Image.new("RGB", (WIDTH, HEIGHT), (90, 120, 150)).save(template)
    paths = [images / f"{k // 1000:02d}" / f"img_{k:06d}.png" for k in range(args.images)]

    def make_files():
        for p in paths:
            p.parent.mkdir(exist_ok=True)
            if not p.exists():
                os.link(template, p)
        template.unlink()

    timed("image files (hard links)", make_files)
    rng = np.random.default_rng(0)
    shapes = timed("random polygons", lambda: [star_polygon(rng) for _ in range(args.images * args.per_image)])

    source = ProjectStore.create(work / "source", images, ["a", "b", "c"])

    specs = (AttributeSpec("occluded", AttributeKind.BOOLEAN), AttributeSpec("colour", AttributeKind.CHOICE,
                                                                             ("red", "green", "blue")),
             AttributeSpec("count", AttributeKind.NUMBER))
    values = {"occluded": True, "colour": "blue", "count": 7.0}
    if args.attributes:
        for c in source.categories():
            source.set_attribute_specs(c.id, specs)
        print("attributes: 3 per class, set on every other instance")

    def fill():
        records = source.add_images(ImageRecord(None, p.relative_to(images).as_posix(), WIDTH, HEIGHT,
                                                ImageStatus.ACCEPTED) for p in paths)
        source.add_instances(Instance(None, im.id, 1 + k % 3, shapes[i * args.per_image + k],
                                      attributes=values if args.attributes and k % 2 else {})
                             for i, im in enumerate(records) for k in range(args.per_image))

    timed("store: insert images and instances (1 txn)", fill)
    result = timed("export COCO (100k annotations)" if args.images * args.per_image == 100_000
                   else "export COCO", lambda: export_coco(source, work / "export.json"))
    size_mb = (work / "export.json").stat().st_size / 1e6
    print(f"  -> {result.annotations:,} annotations, {size_mb:.1f} MB")
    timed("export COCO, train/val split", lambda: export_coco(source, work / "split.json", val_fraction=0.2))
    n = f" ({args.images * args.per_image // 1000}k annotations)"
    timed("export YOLO segmentation" + n, lambda: export_dataset(source, work / "yolo", fmt="yolo", val_fraction=0.2))
    timed("export CVAT for images 1.1 XML" + n, lambda: export_dataset(source, work / "cvat.xml", fmt="cvat"))
    timed("export labelme JSON" + n, lambda: export_dataset(source, work / "labelme", fmt="labelme"))
    if not args.no_masks:
        timed("export mask PNGs" + n, lambda: export_dataset(source, work / "masks", fmt="masks"))
    source.close()

    target = ProjectStore.create(work / "target", images)
    infos = timed("init: scan and verify every image", lambda: scan_images(find_images(images))[0])
    timed("init: add images to the project", lambda: add_image_files(target, infos))
    report = timed("import COCO", lambda: import_coco(target, [work / "export.json"]))
    print(f"  -> {report.instances_added:,} instances on {report.images_labeled:,} images")
    target.close()
    for fmt, path in (("yolo", work / "yolo"), ("cvat", work / "cvat.xml")):
        fresh = ProjectStore.create(work / f"target_{fmt}", images)
        add_image_files(fresh, infos)
        report = timed(f"import {fmt}", lambda: import_labels(fresh, fmt, [path]))
        print(f"  -> {report.instances_added:,} instances on {report.images_labeled:,} images")
        fresh.close()
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
