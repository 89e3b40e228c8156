"""The ``labeler`` command. Every subcommand is headless except ``demo`` and ``gui``, and this
module imports no Qt: the GUI is imported only when a window is asked for."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Callable, Sequence

from . import __version__
from .console import Progress
from .core.entities import ImageStatus
from .formats import FormatError, ImageReadError
from .model_commands import cmd_prelabel, cmd_simulate, cmd_train
from .projects import (
    create_project, export_dataset, export_summary, import_labels, import_summary, parse_labels,
)
from .store import ProjectError, ProjectStore


# --- the commands ------------------------------------------------------------------------

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
        result = export_dataset(store, args.out, all_images=args.all, val_fraction=args.val_fraction,
                                rle=args.rle)
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


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import ensure_demo_project

    project = ensure_demo_project(args.dir, reset=args.reset)
    print(f"demo project: {project}")
    if args.no_gui:
        return 0
    return _open_gui(project, args)


def cmd_gui(args: argparse.Namespace) -> int:
    if args.project is None:  # the start window: new project, open, recent
        return _open_gui(None, args)
    ProjectStore.open(args.project).close()  # a clear error before any window appears
    return _open_gui(Path(args.project), args)


def _open_gui(project: Path | None, args: argparse.Namespace) -> int:
    if importlib.util.find_spec("labeler.gui") is None:
        print("the labeling window is not part of this build yet" + (
              f"; the project is ready for the command-line tools: labeler stats {project}"
              if project else ""), file=sys.stderr)
        return 0
    from .gui.app import run  # Qt is imported only when a window is wanted
    from .workers.protocol import AssistConfig, WorkerConfig

    # Without a project yet, the model settings are a template: each project opened gets them.
    model = None if args.no_model else WorkerConfig(
        str(project or ""), model_name=args.model, weights=str(args.weights) if args.weights else None,
        device=args.device, allow_download=not args.offline)
    assist = None if args.no_assist_model else AssistConfig(
        str(project or ""), model=args.assist_model, device=args.device, allow_download=not args.offline)
    try:
        return run(project, model, train_budget=args.train_budget, assist=assist)
    except ValueError as exc:  # a bad --train-budget
        raise ProjectError(str(exc)) from None


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, metavar="NAME", help="a registered model (default: "
                   "maskrcnn_resnet50_fpn_v2; maskrcnn_mobilenet_v3_large_fpn is lighter)")
    p.add_argument("--weights", type=Path, metavar="PATH", help="COCO weights or a labeler checkpoint")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])


def _window_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-model", action="store_true", help="no model worker (no suggestions)")
    _model_options(p)
    p.add_argument("--train-budget", default=None, metavar="STEPS|90s|5m",
                   help="each background training round: optimizer steps (default 200) or a time limit")
    _assist_options(p)
    p.add_argument("--no-assist-model", action="store_true", help="no assist model: the assisted mask tool "
                   "(M) uses GrabCut")
    p.add_argument("--offline", action="store_true", help="never try to download weights (the "
                   "window's setting model/offline does the same for every run)")


def _assist_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--assist-model", default=None, metavar="NAME|FOLDER", help="the promptable model behind "
                   "assisted masks: sam2.1-tiny (default), sam2.1-small, sam2.1-base-plus, sam2.1-large (all "
                   "Apache-2.0, fetched once into the Hugging Face cache when online), or a folder with its "
                   "config.json and model.safetensors")


def build_parser() -> argparse.ArgumentParser:
    from .workers.assist_sim import ASSIST_TOOLS  # OpenCV only, as the formats already are

    parser = argparse.ArgumentParser(
        prog="labeler",
        description="Instance-segmentation labeling. 'labeler PROJECT_DIR' opens a project.",
    )
    parser.add_argument("--version", action="version", version=f"labeler {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="open the bundled demo project (created on first use)",
                       description="Create the demo project in your user data folder if needed and open it.")
    p.add_argument("--dir", type=Path, help="where to create the demo project")
    p.add_argument("--reset", action="store_true", help="recreate it from scratch")
    p.add_argument("--no-gui", action="store_true", help="only create it and print its path")
    _window_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("gui", help="open a project in the labeling window",
                       description="Open PROJECT_DIR in the labeling window; without it, a start "
                                   "window to make a new project or open one.")
    p.add_argument("project", metavar="PROJECT_DIR", nargs="?")
    _window_options(p)
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser("init", help="create a project from a folder of images",
                       description="Create PROJECT_DIR/labeler.db for the images under IMAGE_DIR "
                                   "(searched recursively). Unreadable files are listed and skipped.")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--images", required=True, metavar="IMAGE_DIR", help="the image root")
    p.add_argument("--labels", metavar="a,b,c", help="class names, comma separated")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("import", help="import COCO or labelme annotations",
                       description="Import annotations in one transaction: on any error nothing "
                                   "is imported. Images must be under the project's image root.")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--format", required=True, choices=["coco", "labelme"])
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="JSON files, or folders (coco: Roboflow _annotations.coco.json files or "
                        "annotations/*.json; labelme: every .json inside)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="export COCO JSON",
                       description="Export accepted instances as COCO instance segmentation.")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--format", default="coco", choices=["coco"])
    p.add_argument("out", metavar="OUT.json")
    p.add_argument("--all", action="store_true", help="every image, not only accepted ones")
    p.add_argument("--val-fraction", type=float, default=0.0, metavar="F",
                   help="write OUT_train.json and OUT_val.json with about F of the images in val "
                        "(an image always lands in the same split)")
    p.add_argument("--rle", action="store_true", help="every mask as compressed RLE")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("prelabel", help="let the model suggest instances (headless)",
                       description="Run the model on the images it has not seen yet and store its "
                                   "suggestions for review. Stopped runs resume where they stopped.")
    p.add_argument("project", metavar="PROJECT_DIR")
    _model_options(p)
    p.add_argument("--batch", type=int, default=2, metavar="N", help="images per model call")
    p.add_argument("--images", default="unlabeled", choices=["unlabeled", "all"],
                   help="unlabeled: images nobody has started; all: every image not yet accepted")
    p.add_argument("--score-threshold", type=float, default=0.2, metavar="S",
                   help="suggestions below this score are not stored")
    p.add_argument("--offline", action="store_true", help="never try to download COCO weights")
    p.add_argument("--class-map", metavar="A=B,...", help="which COCO class each project class "
                   "takes from COCO weights, e.g. 'coin=clock,mug=cup,bird=' (empty: none); "
                   "classes with a COCO name match by themselves. Saved in the project")
    p.add_argument("--untrained", action="store_true",
                   help="run even without trained weights (for testing the set-up)")
    p.add_argument("--refine-masks", nargs="?", const="sam2.1-tiny", default=None, metavar="ASSIST_MODEL",
                   help="also put each suggestion's box to the assist model (default sam2.1-tiny, or a name or "
                   "folder as for --assist-model) and keep its mask where it rates it well (predicted IoU >= 0.8) "
                   "and it covers the same object (mask IoU >= 0.5 with the detector's)")
    p.set_defaults(func=cmd_prelabel)

    p = sub.add_parser("train", help="fine-tune the model on the accepted labels (headless)",
                       description="Run training rounds on the accepted images: each round fine-tunes "
                                   "the current model, scores it on held-out accepted images (mask AP) "
                                   "and keeps it only if it is at least as good. Several GPUs: "
                                   "torchrun --nproc-per-node N $(which labeler) train PROJECT_DIR")
    p.add_argument("project", metavar="PROJECT_DIR")
    _model_options(p)
    p.add_argument("--rounds", type=int, default=1, metavar="K")
    p.add_argument("--budget", metavar="STEPS|90s|5m", help="per round: optimizer steps (default 200) "
                   "or a time limit")
    p.add_argument("--batch", type=int, default=2, metavar="N", help="images per step (per GPU)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the optimizer's)")
    p.add_argument("--offline", action="store_true", help="never try to download COCO weights")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("simulate", help="replay labeling a dataset with ground truth: how much does "
                       "the model save?",
                       description="Label the images in path order as a person would with the model's "
                                   "help, retraining as configured, and count the actions against "
                                   "drawing everything by hand. Prints a table, with --assist the lines "
                                   "'NoC@85: X' and 'NoC@90: Y', and last 'ratio: R'.")
    p.add_argument("ground_truth", metavar="GROUND_TRUTH_COCO.json")
    p.add_argument("--images", required=True, metavar="DIR", help="the folder the COCO file's images are in")
    p.add_argument("--assist", default="none", choices=["none", *ASSIST_TOOLS], help="for an instance the "
                   "model did not give: none (its polygon, by hand), grabcut (its true box, then the standard "
                   "clicker's clicks until mask IoU >= 0.85, at most 20 actions, the box being action 1; if never "
                   "reached, the polygon too). Prints NoC@85 and NoC@90: the mean actions until IoU >= 0.85 / "
                   "0.90, the box counting as action 1, 20 when never. sam: the same with the assist model "
                   "(--assist-model)")
    _assist_options(p)
    p.add_argument("--no-model", action="store_true", help="no model and no training: every instance "
                   "by hand, or with --assist")
    p.add_argument("--start-with", type=int, metavar="K", help="images labeled by hand first (default 10)")
    p.add_argument("--retrain-every", type=int, metavar="N", help="a round after every N images (default 10)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N images")
    p.add_argument("--project", default=None, metavar="DIR", help="keep the simulated projects here "
                   "(default: a temporary folder, removed afterwards)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    _model_options(p)
    p.add_argument("--budget", metavar="STEPS|90s|5m", help="per round (default 200 steps)")
    p.add_argument("--batch", type=int, metavar="N", help="images per training step (default 2)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--score-threshold", type=float, metavar="S", help="suggestions shown to the simulated "
                   "person (default 0.5)")
    p.add_argument("--offline", action="store_true", help="never try to download COCO weights")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("stats", help="images by status, instances by class and provenance")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.set_defaults(func=cmd_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    if argv and argv[0] not in commands and not argv[0].startswith("-"):
        argv = ["gui", *argv]  # 'labeler PROJECT_DIR'
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except (ProjectError, FormatError, ImageReadError) as exc:
        print(f"labeler: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labeler: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
