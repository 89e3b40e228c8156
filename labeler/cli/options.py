"""Options several commands share, and the worker settings they make."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, metavar="NAME", help="a registered model (default: "
                   "maskrcnn_resnet50_fpn_v2; maskrcnn_mobilenet_v3_large_fpn is lighter)")
    p.add_argument("--weights", type=Path, metavar="PATH", help="COCO weights or a labeler checkpoint")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])


def add_assist_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--assist-model", default=None, metavar="NAME|FOLDER", help="the promptable model behind "
                   "assisted masks: sam2.1-tiny (default), sam2.1-small, sam2.1-base-plus, sam2.1-large (all "
                   "Apache-2.0, fetched once into the Hugging Face cache when online), or a folder with its "
                   "config.json and model.safetensors")


def worker_config(args: argparse.Namespace, project: str | Path | None, **settings):
    """The model worker's settings from --model, --weights, --device and --offline (no
    project: a template that each project opened in the window gets)."""
    from ..workers.protocol import WorkerConfig

    return WorkerConfig(str(project or ""), model_name=args.model,
                        weights=str(args.weights) if args.weights else None, device=args.device,
                        allow_download=not args.offline, **settings)
