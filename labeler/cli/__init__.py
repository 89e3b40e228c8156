"""The ``labeler`` command. Each module holds one group of subcommands, with its options:

  project_commands  init, import, export, stats (no model, no Qt)
  window_commands   demo, gui (Qt is imported only when a window is wanted)
  model_commands    prelabel, train, simulate (headless, for GPU servers as much as laptops)
  options           the options several commands share, and the worker settings they make
  console           the progress line on stderr

Importing this package imports no Qt and no torch. A UserError (core/errors.py) from any
command is one line, "labeler: error: ...", and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from .. import __version__
from ..core.errors import UserError
from . import model_commands, project_commands, window_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labeler",
        description="Instance-segmentation labeling. 'labeler PROJECT_DIR' opens a project.",
    )
    parser.add_argument("--version", action="version", version=f"labeler {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in (window_commands, project_commands, model_commands):
        group.add_commands(sub)
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
    except UserError as exc:
        print(f"labeler: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labeler: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
