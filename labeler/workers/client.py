"""The app's side of a worker process: start it (spawn), send, poll, restart when it dies.

No Qt here: the GUI polls `poll()` from a timer (gui/bridge.py), and tests and scripts can
drive it directly. The client remembers what it asked for and has not been answered yet
(images for the screen, a running batch), and asks a restarted worker again, so a crash
loses nothing but time. A worker that dies MAX_RESTARTS times in a row without answering
anything in between is not started again.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from typing import Callable

from . import inference
from .protocol import (
    Cancel, Died, Failed, Fatal, Predict, Prelabel, Progress, Prompted, Shutdown, Suggested,
    WorkerConfig,
)

MAX_RESTARTS = 3


class WorkerClient:
    def __init__(self, config: WorkerConfig, target: Callable = inference.main) -> None:
        self.config = config
        self._target = target
        self._ctx = mp.get_context("spawn")  # fork would copy the GUI's threads and CUDA state
        self._process = None
        self._inbox = self._outbox = None
        self._pending_urgent: dict[int, None] = {}
        self._batch: Prelabel | Predict | None = None
        self._deaths = 0
        self._suspects: set[int] = set()  # images on screen when the worker last died
        self.fatal: str | None = None

    # --- life --------------------------------------------------------------------------

    def start(self) -> None:
        self._inbox, self._outbox = self._ctx.Queue(), self._ctx.Queue()
        self._process = self._ctx.Process(target=self._target, args=(self.config, self._inbox, self._outbox),
                                          name="labeler-inference", daemon=True)
        self._process.start()
        if self._pending_urgent:
            self._inbox.put(Predict(tuple(self._pending_urgent), urgent=True))
        if self._batch is not None:
            self._inbox.put(self._batch)

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self, timeout: float = 5.0) -> None:
        if self._process is None:
            return
        if self._process.is_alive():
            self._inbox.put(Shutdown())
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._process = None
        for q in (self._inbox, self._outbox):
            q.cancel_join_thread()
            q.close()

    # --- talking -----------------------------------------------------------------------

    def send(self, message) -> None:
        if isinstance(message, Predict) and message.urgent:
            self._pending_urgent.update(dict.fromkeys(message.image_ids))
        elif isinstance(message, (Predict, Prelabel)):
            self._batch = message
        elif isinstance(message, Cancel):
            self._batch = None
        if self.alive:
            self._inbox.put(message)

    def poll(self) -> list:
        """Every answer waiting now (never blocks); a `Died` message when the process ended,
        after which a new one has been started unless it keeps dying."""
        answers = []
        if self._outbox is None:
            return answers
        while True:
            try:
                answers.append(self._outbox.get_nowait())
            except (queue.Empty, OSError, ValueError):
                break
        for answer in answers:
            self._note(answer)
        if self._process is not None and not self._process.is_alive() and self.fatal is None:
            answers.extend(self._restart())
        return answers

    def _note(self, answer) -> None:
        if isinstance(answer, (Suggested, Failed)) and answer.image_id is not None:
            self._pending_urgent.pop(answer.image_id, None)
        if isinstance(answer, Progress) and not answer.running:
            self._batch = None
        if isinstance(answer, Fatal):
            self.fatal = answer.message
        if isinstance(answer, (Suggested, Prompted)):
            self._deaths = 0

    def _restart(self) -> list:
        exitcode = self._process.exitcode
        self._deaths += 1
        self.stop()
        # An image that was being served at two deaths in a row is given up on, not retried.
        again = self._suspects & set(self._pending_urgent)
        self._suspects = set(self._pending_urgent) - again
        out = []
        for image_id in again:
            del self._pending_urgent[image_id]
            out.append(Failed(image_id, "the model worker died twice on this image; skipped"))
        if self._deaths > MAX_RESTARTS:
            self.fatal = f"the model worker died {self._deaths} times in a row (exit code {exitcode})"
            return [Died(exitcode, restarted=False), *out]
        self.start()
        return [Died(exitcode, restarted=True), *out]
