"""What the command line shows while it works."""

from __future__ import annotations

import sys


class Progress:
    """A one-line progress display on stderr (redrawn in place on a terminal)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.tty = sys.stderr.isatty()
        self._last = -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        if self.tty:
            print(f"\r{self.what}: {done}/{total} ({percent}%)", end="", file=sys.stderr, flush=True)
            if done == total:
                print(file=sys.stderr)
        elif percent // 10 != self._last // 10 or done == total:
            print(f"{self.what}: {done}/{total} ({percent}%)", file=sys.stderr, flush=True)
        self._last = percent
