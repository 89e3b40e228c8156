"""The app's side of the worker processes: start them (spawn), send, poll, restart on death.

No Qt here: the GUI polls `poll()` from a timer (gui/bridge.py), and tests and scripts can
drive the clients directly. `WorkerClient` (inference) remembers what it asked for and has
not been answered yet (images for the screen, a running batch) and asks a restarted worker
again, so a crash loses nothing but time; while it serves the image on screen it sets
`screen_busy`, which the trainer waits on between steps. A process that dies MAX_RESTARTS
times in a row without answering anything in between is not started again.

Every process started here holds a lifeline to this one (lifeline.py) and ends within
moments of it, however it ends. A trainer that finds another live trainer working on the
project (`Blocked`) is not a failure: the client watches that trainer, cheaply, and starts
its own again once it has ended.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from typing import Callable

from ..core.rounds import RoundStatus
from . import inference, lifeline, prompter, training
from .protocol import (
    AssistConfig, AssistMissing, Blocked, Cancel, Died, Embed, Failed, Fatal, Predict, Prelabel, Progress, Prompted,
    RoundDone, Segment, Segmented, Shutdown, StopRound, Suggested, Train, TrainerConfig, TrainerReady, TrainProgress,
    WorkerConfig,
)

MAX_RESTARTS = 3
RETRY_S = 2.0  # a blocked trainer: how often to look whether the trainer in its way has ended
UNKNOWN_RETRY_S = 15.0  # ...and how often to simply try again when we cannot see it (unnamed, another machine)
_CONTEXT = mp.get_context("spawn")  # fork would copy the GUI's threads and CUDA state


class ProcessClient:
    """One worker process and its two queues."""

    name = "labeler-worker"

    def __init__(self, config, target: Callable) -> None:
        self.config = config
        self._target = target
        self._ctx = _CONTEXT
        self._process = None
        self._inbox = self._outbox = None
        self._lifeline: lifeline.Lifeline | None = None
        self._deaths = 0
        self.fatal: str | None = None

    def _args(self) -> tuple:
        return (self.config, self._inbox, self._outbox)

    def start(self) -> None:
        self._inbox, self._outbox = self._ctx.Queue(), self._ctx.Queue()
        self._lifeline = lifeline.Lifeline(self._ctx)
        self._process = self._ctx.Process(target=lifeline.run, args=(self._lifeline.child_end, self._target,
                                                                     *self._args()), name=self.name, daemon=True)
        self._process.start()
        self._lifeline.started()

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
        self._lifeline.close()  # after the join: closing it first would cut a clean shutdown short
        for q in (self._inbox, self._outbox):
            q.cancel_join_thread()
            q.close()

    def send(self, message) -> None:
        if self.alive:
            self._inbox.put(message)

    def poll(self) -> list:
        """Every answer waiting now (never blocks); a `Died` message when the process ended
        unasked, after which a new one has been started unless it keeps dying."""
        answers = []
        if self._outbox is None:
            return answers
        # Looked at before reading: everything a dead process said is in the pipe by now.
        ended = self._process is not None and not self._process.is_alive()
        while True:
            try:
                answers.append(self._outbox.get_nowait())
            except (queue.Empty, OSError, ValueError):
                break
        for answer in answers:
            if isinstance(answer, Fatal):
                self.fatal = answer.message
            self._note(answer)
        if ended and self.fatal is None:
            answers.extend(self._ended())
        return answers

    def _ended(self) -> list:
        """The process is gone (subclasses: when that is not a death)."""
        return self._restart()

    def _note(self, answer) -> None:
        """Bookkeeping on each answer (subclasses)."""

    def _before_restart(self) -> list:
        """Answers to add when the process died (subclasses)."""
        return []

    def _restart(self) -> list:
        exitcode = self._process.exitcode
        self._deaths += 1
        self.stop()
        out = self._before_restart()
        if self._deaths > MAX_RESTARTS:
            self.fatal = f"the {self.name} process died {self._deaths} times in a row (exit code {exitcode})"
            return [Died(exitcode, restarted=False), *out]
        self.start()
        return [Died(exitcode, restarted=True), *out]


class WorkerClient(ProcessClient):
    """The inference worker."""

    name = "labeler-inference"

    def __init__(self, config: WorkerConfig, target: Callable = inference.main) -> None:
        super().__init__(config, target)
        self._pending_urgent: dict[int, None] = {}
        self._batch: Prelabel | Predict | None = None
        self._suspects: set[int] = set()  # images on screen when the worker last died
        self.screen_busy = self._ctx.Event()  # set while an image on screen waits for its suggestions

    def start(self) -> None:
        super().start()
        if self._pending_urgent:
            self._inbox.put(Predict(tuple(self._pending_urgent), urgent=True))
        if self._batch is not None:
            self._inbox.put(self._batch)

    def send(self, message) -> None:
        if isinstance(message, Predict) and message.urgent:
            self._pending_urgent.update(dict.fromkeys(message.image_ids))
        elif isinstance(message, (Predict, Prelabel)):
            self._batch = message
        elif isinstance(message, Cancel):
            self._batch = None
        super().send(message)
        self._sync_screen_busy()

    def poll(self) -> list:
        answers = super().poll()
        self._sync_screen_busy()
        return answers

    def _sync_screen_busy(self) -> None:
        """Set while a live worker owes the screen an answer; never left set by a worker that
        is dead or has given up (the trainer would wait on it at every step)."""
        if self._pending_urgent and self.fatal is None and self.alive:
            self.screen_busy.set()
        else:
            self.screen_busy.clear()

    def _note(self, answer) -> None:
        if isinstance(answer, (Suggested, Failed)) and answer.image_id is not None:
            self._pending_urgent.pop(answer.image_id, None)
        if isinstance(answer, Progress) and not answer.running:
            self._batch = None
        if isinstance(answer, (Suggested, Prompted)):
            self._deaths = 0

    def _before_restart(self) -> list:
        # An image that was being served at two deaths in a row is given up on, not retried.
        again = self._suspects & set(self._pending_urgent)
        self._suspects = set(self._pending_urgent) - again
        out = []
        for image_id in again:
            del self._pending_urgent[image_id]
            out.append(Failed(image_id, "the model worker died twice on this image; skipped"))
        return out


class TrainerClient(ProcessClient):
    """The trainer. A restarted trainer starts idle: the app asks for a round again when one
    is due (the half-done round is recorded as interrupted, the current model stays). While
    another live trainer holds the project (`waiting`: who, in a sentence), it is started
    again as soon as that one has ended."""

    name = "labeler-trainer"

    def __init__(self, config: TrainerConfig, screen_busy=None, target: Callable = training.main) -> None:
        super().__init__(config, target)
        self.screen_busy = screen_busy
        self.rounds_left = 0  # asked for and not reported done
        self.waiting: str | None = None  # who holds the project's trainer lock, while this one waits
        self._blocker = None  # lock.Holder that said so, None when it did not say who it is
        self._blocked = False  # the process ended because of it (so its end is no death)
        self._retry_at = 0.0

    @property
    def busy(self) -> bool:
        return self.rounds_left > 0

    def _args(self) -> tuple:
        return (self.config, self._inbox, self._outbox, self.screen_busy)

    def send(self, message) -> None:
        if isinstance(message, Train):
            if not self.alive or self.waiting is not None:
                return  # nobody to run it (the app asks again when a round is due)
            self.rounds_left += max(1, message.rounds)
        elif isinstance(message, StopRound):
            self.rounds_left = min(self.rounds_left, 1)
        super().send(message)

    def _note(self, answer) -> None:
        if isinstance(answer, (TrainProgress, RoundDone)):
            self._deaths = 0
        if isinstance(answer, RoundDone):
            self.rounds_left = 0 if answer.status == RoundStatus.SKIPPED else max(0, self.rounds_left - 1)
        elif isinstance(answer, (Failed, Fatal)):
            self.rounds_left = 0
        elif isinstance(answer, Blocked):
            self.rounds_left = 0  # asked for before it found the lock taken: nobody will run them
            self.waiting, self._blocker, self._blocked = answer.message, answer.holder, True
            self._retry_at = time.monotonic() + (RETRY_S if self._watchable else UNKNOWN_RETRY_S)
        elif isinstance(answer, TrainerReady):
            self.waiting = self._blocker = None

    def _ended(self) -> list:
        if not self._blocked:
            return self._restart()
        now = time.monotonic()
        if now < self._retry_at:
            return []
        if self._watchable and self._blocker.blocks():
            self._retry_at = now + RETRY_S  # one look at one process: cheap enough every few seconds
            return []
        self._blocked = False
        self.stop()  # the way is clear (or we cannot tell): try again
        self.start()
        return []

    @property
    def _watchable(self) -> bool:
        """The trainer in the way said who it is and runs on this machine: we can see it end."""
        return self._blocker is not None and self._blocker.local

    def _before_restart(self) -> list:
        self.rounds_left = 0
        self.waiting = self._blocker = None
        return []


class AssistClient(ProcessClient):
    """The assist model's worker (prompter.py). A worker that has no weights (`AssistMissing`)
    is not started again; one that dies is, with the images to encode, and the prompts it
    owed are answered with the error (the person clicks again)."""

    name = "labeler-assist"

    def __init__(self, config: AssistConfig, target: Callable = prompter.main) -> None:
        super().__init__(config, target)
        self._ahead: Embed | None = None
        self._owed: dict[int, Segment] = {}

    def start(self) -> None:
        super().start()
        if self._ahead is not None:
            self._inbox.put(self._ahead)

    def send(self, message) -> None:
        if isinstance(message, Embed):
            self._ahead = message
        elif isinstance(message, Segment):
            self._owed[message.request_id] = message
        super().send(message)

    def _note(self, answer) -> None:
        if isinstance(answer, AssistMissing):
            self.fatal = answer.message
        elif isinstance(answer, Segmented):
            self._owed.pop(answer.request_id, None)
            self._deaths = 0

    def _before_restart(self) -> list:
        owed, self._owed = self._owed, {}
        return [Segmented(r.request_id, r.image_id, (), "the assist worker stopped; click again")
                for r in owed.values()]
