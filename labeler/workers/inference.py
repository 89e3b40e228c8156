"""The inference worker: a spawned process that owns the model and the device.

It answers typed messages (protocol.py) in this order: box prompts at once, then the
image on screen (`Predict(urgent=True)`), then background work one batch at a time, so a
long pre-label run never makes the person wait for the image in front of them. Whatever
goes wrong with one request is reported as `Failed` and the loop goes on; if no model can
be loaded it says `Fatal` and exits.
"""

from __future__ import annotations

import traceback
from collections import deque
from typing import Iterator

from ..store import ProjectStore
from ..store.proposals import has_seen, images_needing_suggestions, seen_images
from .protocol import (
    Cancel, Failed, Fatal, Predict, Prelabel, Progress, PromptBox, Reload, Shutdown, Suggested, WorkerConfig,
    receive_all,
)


def main(config: WorkerConfig, inbox, outbox) -> None:
    """Process entry point (multiprocessing, spawn)."""
    try:
        store = ProjectStore.open(config.project_dir)
        from .suggest import Suggester

        suggester = Suggester(store, config)
    except Exception as exc:  # a bad weights file, no classes, an unreadable project...
        outbox.put(Fatal(f"cannot start the model: {exc}"))
        return
    outbox.put(suggester.ready())
    Worker(suggester, inbox, outbox).serve()
    suggester.close()
    store.close()


class Worker:
    def __init__(self, suggester, inbox, outbox) -> None:
        self.suggester = suggester
        self.store = suggester.store
        self.inbox, self.outbox = inbox, outbox
        self.urgent: deque[int] = deque()
        self.background: Iterator | None = None
        self.done = self.total = 0

    def serve(self) -> None:
        while True:
            idle = not self.urgent and self.background is None
            for message in receive_all(self.inbox, block=idle):
                if isinstance(message, Shutdown):
                    return
                self._safely(self._handle, message)
            if self.urgent:
                ids = list(dict.fromkeys(self.urgent))
                self.urgent.clear()
                self._safely(self._suggest_now, ids)
            elif self.background is not None:
                self._safely(self._step)

    def _safely(self, action, *args) -> None:
        try:
            action(*args)
        except Exception as exc:  # report and go on: one bad request must not end the worker
            self.outbox.put(Failed(None, f"{type(exc).__name__}: {exc}"))
            traceback.print_exc()

    def _handle(self, message) -> None:
        if isinstance(message, PromptBox):
            try:
                self.outbox.put(self.suggester.prompt(message))
            except Exception as exc:
                self.outbox.put(Failed(message.image_id, f"box prompt failed: {exc}"))
        elif isinstance(message, Predict) and message.urgent:
            self.urgent.extend(message.image_ids)
        elif isinstance(message, Predict):
            self._start([self.store.get_image(i) for i in message.image_ids])
        elif isinstance(message, Prelabel):
            self._start(images_needing_suggestions(self.store, self.suggester.version, message.scope))
        elif isinstance(message, Cancel):
            self._finish()
        elif isinstance(message, Reload):
            self._reload()

    def _reload(self) -> None:
        """Swap in the project's current model version. The old model keeps serving if the
        new one cannot be loaded; queued background work belonged to the old one."""
        from .suggest import Suggester

        fresh = Suggester(self.store, self.suggester.config)
        self._finish()
        self.suggester.close()
        self.suggester = fresh
        self.outbox.put(fresh.ready())

    def _unseen(self, image_ids: list[int]) -> tuple[list, list[int]]:
        seen = seen_images(self.store, self.suggester.version)
        todo = [self.store.get_image(i) for i in image_ids if i not in seen]
        return todo, [i for i in image_ids if i in seen]

    def _not_seen_yet(self, images: list):
        """The batch's images, minus those served meanwhile (the image on screen)."""
        for image in images:
            if not has_seen(self.store, image.id, self.suggester.version):
                yield image

    def _suggest_now(self, image_ids: list[int]) -> None:
        todo, seen = self._unseen(image_ids)
        for image_id in seen:  # already looked at by this version: its suggestions are stored
            self.outbox.put(Suggested(image_id, self.suggester.version, 0, "already suggested"))
        for answer in self.suggester.run(todo):
            self.outbox.put(answer)

    def _start(self, images: list) -> None:
        self._finish(report=False)
        self.done, self.total = 0, len(images)
        self.background = self.suggester.run(self._not_seen_yet(images))
        self.outbox.put(Progress(0, self.total, self.total > 0))
        if not images:
            self.background = None

    def _step(self) -> None:
        try:
            answer = next(self.background)
        except StopIteration:
            self._finish()
            return
        except Exception:
            self._finish()
            raise
        self.done += 1
        self.outbox.put(answer)
        self.outbox.put(Progress(self.done, self.total, True))

    def _finish(self, report: bool = True) -> None:
        if self.background is not None:
            self.background.close()
            self.background = None
            if report:
                self.outbox.put(Progress(self.done, self.total, False))
