"""The commands that open a window: demo and gui. Qt is imported only when the window is
wanted, so that the rest of the command line runs on machines without a display."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..store import ProjectStore
from .options import add_assist_options, add_model_options, worker_config


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import ensure_demo_project

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
    from ..gui.app import run
    from ..workers.protocol import AssistConfig

    model = None if args.no_model else worker_config(args, project)
    assist = None if args.no_assist_model else AssistConfig(
        str(project or ""), model=args.assist_model, device=args.device, allow_download=not args.offline)
    return run(project, model, train_budget=args.train_budget, assist=assist)


def _window_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-model", action="store_true", help="no model worker (no suggestions)")
    add_model_options(p)
    p.add_argument("--train-budget", default=None, metavar="STEPS|90s|5m",
                   help="each background training round: optimizer steps (default 200) or a time limit")
    add_assist_options(p)
    p.add_argument("--no-assist-model", action="store_true", help="no assist model: the assisted mask tool "
                   "(M) uses GrabCut")
    p.add_argument("--offline", action="store_true", help="never try to download weights (the "
                   "window's setting model/offline does the same for every run)")

def add_commands(sub: argparse._SubParsersAction) -> None:
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
