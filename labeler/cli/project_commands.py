"""The project commands: init, import, export, stats. No model and no Qt."""

from __future__ import annotations

import argparse
import sys

from ..core.entities import ImageStatus
from ..projects import (
    EXPORT_FORMATS, IMPORT_FORMATS, create_project, export_dataset, export_summary, import_labels, import_summary,
    parse_labels,
)
from ..store import ProjectStore
from .console import Progress


def cmd_init(args: argparse.Namespace) -> int:
    labels = parse_labels(args.labels)
    created = create_project(args.project, args.images, labels, progress=Progress("reading images"))
    for line in created.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    print(f"created {created.project}: {created.images} images"
          + (f", {len(created.skipped)} file{'s' * (len(created.skipped) != 1)} skipped" if created.skipped else "")
          + (f", classes: {', '.join(labels)}" if labels else ""))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    with ProjectStore.open(args.project) as store:
        report = import_labels(store, args.format, args.paths, progress=Progress(f"reading {args.format} files"))
    for line in report.warning_lines():
        print(f"warning: {line}", file=sys.stderr)
    print(import_summary(report))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with ProjectStore.open(args.project) as store:
        result = export_dataset(store, args.out, fmt=args.format, all_images=args.all,
                                val_fraction=args.val_fraction, rle=args.rle)
    for line in result.warnings:
        print(f"warning: {line}", file=sys.stderr)
    print(export_summary(result, args.all))
    if result.images == 0 and not args.all:
        print("note: no image is marked accepted yet; use --all to export every image",
              file=sys.stderr)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    with ProjectStore.open(args.project) as store:
        counts = store.image_counts()
        rows = store.instance_counts()
        print(f"project {store.project_dir}")
        print(f"image root {store.image_root}")
        print(f"images: {sum(counts.values())}")
        for status in ImageStatus:
            print(f"  {status.value:<10} {counts[status]:>8}")
        print(f"instances: {sum(r[3] for r in rows)}")
        if rows:
            print(f"  {'class':<20} {'provenance':<20} {'status':<10} {'count':>8}")
            for name, provenance, status, n in rows:
                print(f"  {name:<20} {provenance:<20} {status:<10} {n:>8}")
        for category in store.categories():
            if not any(r[0] == category.name for r in rows):
                print(f"  {category.name:<20} (no instances)")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create a project from a folder of images",
                       description="Create PROJECT_DIR/labeler.db for the images under IMAGE_DIR "
                                   "(searched recursively). Unreadable files are listed and skipped.")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--images", required=True, metavar="IMAGE_DIR", help="the image root")
    p.add_argument("--labels", metavar="a,b,c", help="class names, comma separated")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("import", help="import annotations: " + ", ".join(IMPORT_FORMATS),
                       description="Import annotations in one transaction: on any error nothing "
                                   "is imported. Images must be under the project's image root.")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--format", required=True, choices=IMPORT_FORMATS)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="files or folders (coco: a JSON file, Roboflow _annotations.coco.json files or "
                        "annotations/*.json; labelme: every .json inside; yolo: a folder with data.yaml, "
                        "or the data.yaml; cvat: annotations.xml or a folder holding it)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="export a dataset: " + ", ".join(EXPORT_FORMATS),
                       description="Export accepted instances: COCO instance segmentation (a JSON file), "
                                   "YOLO segmentation (a folder: images/, labels/, data.yaml), labelme (a "
                                   "folder of JSON files), CVAT for images 1.1 (an XML file) or mask PNGs "
                                   "(a folder: instance-id and class PNGs, legend.json).")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--format", default="coco", choices=EXPORT_FORMATS)
    p.add_argument("out", metavar="OUT", help="the file (coco, cvat) or folder (yolo, labelme, masks) to write")
    p.add_argument("--all", action="store_true", help="every image, not only accepted ones")
    p.add_argument("--val-fraction", type=float, default=0.0, metavar="F",
                   help="coco: write OUT_train.json and OUT_val.json with about F of the images in val; "
                        "yolo: images/val and labels/val (an image always lands in the same split)")
    p.add_argument("--rle", action="store_true", help="coco: every mask as compressed RLE")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("stats", help="images by status, instances by class and provenance")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.set_defaults(func=cmd_stats)
