"""The trainer process: runs training rounds when asked, reports progress, never blocks the app.

Spawned by the app (client.TrainerClient). It holds the project's trainer lock for its whole
life, so the CLI and the window never train the same project at once (when a live trainer
elsewhere has it, it says `Blocked` and exits, and the client tries again when that one has
ended), and on start marks a round a dead predecessor left half-done as interrupted. It
ends with its window, however the window ends (lifeline.py). Between two training steps it
waits while the inference worker serves the image on screen (`screen_busy`), so the
person's suggestions come first when both share one GPU (or a few CPU cores).
"""

from __future__ import annotations

import os
import queue
import time
import traceback

from ..core.rounds import RoundStatus
from ..store import ProjectStore
from ..store.training import recover_interrupted
from .lock import WINDOW, TrainerBusy, TrainerLock
from .protocol import Blocked, Failed, Fatal, Shutdown, StopRound, Train, TrainerConfig, TrainerReady
from .trainer import run_round

MAX_PAUSE_S = 30.0  # never wait longer than this for the screen (a stuck flag must not stall training)


def main(config: TrainerConfig, inbox, outbox, screen_busy=None) -> None:
    """Process entry point (multiprocessing, spawn)."""
    lock = TrainerLock(config.project_dir, kind=WINDOW)
    try:
        lock.acquire()
    except TrainerBusy as busy:  # a live trainer elsewhere: the client tries again when it ends
        outbox.put(Blocked(busy.sentence, busy.holder))
        return
    except Exception as exc:
        outbox.put(Fatal(f"cannot start the trainer: {exc}"))
        return
    try:
        store = ProjectStore.open(config.project_dir)
        recover_interrupted(store)
        import torch

        torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 2) - 1))
    except Exception as exc:
        outbox.put(Fatal(f"cannot start the trainer: {exc}"))
        lock.release()
        return
    outbox.put(TrainerReady(os.getpid()))
    try:
        Trainer(store, config, inbox, outbox, screen_busy).serve()
    finally:
        store.close()
        lock.release()


class Trainer:
    def __init__(self, store: ProjectStore, config: TrainerConfig, inbox, outbox, screen_busy=None) -> None:
        self.store, self.config = store, config
        self.inbox, self.outbox = inbox, outbox
        self.screen_busy = screen_busy
        self.rounds = 0
        self.stop_round = self.shutdown = False

    def serve(self) -> None:
        while not self.shutdown:
            if self.rounds == 0:
                self._take(self.inbox.get())
                continue
            self.rounds -= 1
            self.stop_round = False
            try:
                done = run_round(self.store, self.config, report=self.outbox.put, should_stop=self._should_stop,
                                 pause=self._pause)
            except Exception as exc:  # outside a round's own handling: report, go on
                traceback.print_exc()
                self.outbox.put(Failed(None, f"training: {type(exc).__name__}: {exc}"))
                self.rounds = 0
                continue
            self.outbox.put(done)
            if done.status == RoundStatus.SKIPPED:
                self.rounds = 0

    def _take(self, message) -> None:
        if isinstance(message, Shutdown):
            self.shutdown = self.stop_round = True
        elif isinstance(message, StopRound):
            self.stop_round = True
            self.rounds = 0
        elif isinstance(message, Train):
            self.rounds += max(1, message.rounds)

    def _should_stop(self) -> bool:
        while True:
            try:
                self._take(self.inbox.get_nowait())
            except queue.Empty:
                break
        return self.stop_round

    def _pause(self) -> None:
        if self.screen_busy is None:
            return
        deadline = time.monotonic() + MAX_PAUSE_S
        while self.screen_busy.is_set() and time.monotonic() < deadline and not self._should_stop():
            time.sleep(0.02)

