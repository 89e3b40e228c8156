"""A worker process ends when the process that started it ends, however that one ends.

The parent keeps the write end of a one-way pipe per child and never writes to it; the
child reads its end on a daemon thread. When the parent dies (SIGKILL, a crash, a normal
exit), the operating system closes the write end, the read returns end-of-file and the
child exits at once. This works alike on Linux, macOS and Windows (PR_SET_PDEATHSIG is
Linux only). Exiting without cleanup is safe here: the store is SQLite in WAL mode (an
open transaction is rolled back), and the trainer lock is released by the system.

The write end is an ordinary non-inheritable descriptor: spawn hands a child only what is
pickled into its arguments (here, its own read end), so one child never holds another's
write end and each sees its parent's death alone.
"""

from __future__ import annotations

import os
import threading
from typing import Callable

EXIT_CODE = 3  # what a worker exits with when its parent is gone (nobody is left to read it)


class Lifeline:
    """The parent's side: make one per child process, pass `child_end` to it, call
    `started()` once the process has started and `close()` when it is stopped."""

    def __init__(self, context) -> None:
        self.child_end, self._parent_end = context.Pipe(duplex=False)

    def started(self) -> None:
        """The child has its own copy of its end now; ours would only leak."""
        self.child_end.close()

    def close(self) -> None:
        self.child_end.close()
        self._parent_end.close()

    @property
    def closed(self) -> bool:
        return self._parent_end.closed


def watch(child_end) -> threading.Thread:
    """In the child: exit the process as soon as the parent's end is closed."""

    def wait() -> None:
        try:
            while True:
                child_end.recv_bytes()  # the parent never writes: this returns only at end-of-file
        except (EOFError, OSError):
            pass
        os._exit(EXIT_CODE)

    thread = threading.Thread(target=wait, name="labeler-lifeline", daemon=True)
    thread.start()
    return thread


def run(child_end, target: Callable, *args) -> None:
    """Process entry point: watch the lifeline, then run the worker's own main."""
    watch(child_end)
    target(*args)
