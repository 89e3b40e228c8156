"""The trainer process as Qt signals: polls the trainer client from a timer on the GUI thread.

Like bridge.py for the inference worker: the worker code stays free of Qt, every answer
arrives here in order, and what the person should read (the trainer died, cannot start, a
round raised, waits for another trainer working on the project) comes out as one plain
sentence on ``notice``.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal

from ..workers.client import TrainerClient
from ..workers.protocol import (
    Blocked, Died, Failed, Fatal, RoundDone, RoundStarted, StopRound, Train, TrainerConfig, TrainerReady,
    TrainProgress,
)
from .bridge import PollingBridge


class TrainerBridge(PollingBridge):
    started = Signal(object)  # RoundStarted
    progress = Signal(object)  # TrainProgress
    done = Signal(object)  # RoundDone
    notice = Signal(str)  # the trainer died, cannot start, waits for another one, or a round raised
    busyChanged = Signal(bool)  # a round was asked for / every asked-for round has ended
    waitingChanged = Signal(str)  # who holds the project while this trainer waits for it; "": no longer

    def __init__(self, config: TrainerConfig, screen_busy=None, parent: QObject | None = None,
                 target: Callable | None = None) -> None:
        extra = {} if target is None else {"target": target}  # tests: a stand-in process
        super().__init__(TrainerClient(config, screen_busy=screen_busy, **extra), parent)
        self.round: RoundStarted | None = None  # the round running now
        self.last: TrainProgress | None = None  # its latest progress
        self._busy = False
        self._said_waiting: str | None = None

    @property
    def busy(self) -> bool:
        return self.client.busy

    @property
    def waiting(self) -> str | None:
        """While another live trainer works on the project: the sentence saying who it is and
        that training starts here when it ends; None otherwise."""
        return waiting_notice(self.client.waiting) if self.client.waiting else None

    def train(self, rounds: int = 1) -> bool:
        """Ask for rounds; False when the trainer is not there to ask (it gave up, or it
        waits for another trainer: `waiting` says who)."""
        if not self.running or self.waiting or not self.client.alive:
            return False
        self.client.send(Train(rounds))
        self._check_busy()
        return True

    def stop_round(self) -> None:
        self.client.send(StopRound())

    def poll(self) -> None:
        for answer in self.client.poll():
            if isinstance(answer, RoundStarted):
                self.round, self.last = answer, None
                self.started.emit(answer)
            elif isinstance(answer, TrainProgress):
                self.last = answer
                self.progress.emit(answer)
            elif isinstance(answer, RoundDone):
                self.round = self.last = None
                self.done.emit(answer)
            elif isinstance(answer, Failed):
                self.round = self.last = None
                self.notice.emit(f"Training stopped: {answer.message}")
            elif isinstance(answer, Fatal):
                self.notice.emit(f"Training is off: {answer.message}")
            elif isinstance(answer, Blocked):
                if answer.message != self._said_waiting:  # said once, not at every try
                    self._said_waiting = answer.message
                    self.notice.emit(waiting_notice(answer.message))
                    self.waitingChanged.emit(waiting_notice(answer.message))
            elif isinstance(answer, TrainerReady):
                if self._said_waiting is not None:
                    self.notice.emit("The other trainer has ended: training is on here now")
                    self._end_wait()
            elif isinstance(answer, Died):
                self.round = self.last = None
                self._end_wait()
                self.notice.emit(
                    f"The trainer stopped unexpectedly (exit code {answer.exitcode}); "
                    + ("it was restarted. The current model stays and no label was lost." if answer.restarted
                       else "it kept failing, so training is off until labeler is restarted. "
                            "No label was lost."))
        self._check_busy()

    def _end_wait(self) -> None:
        if self._said_waiting is not None:
            self._said_waiting = None
            self.waitingChanged.emit("")

    def _check_busy(self) -> None:
        if self.busy != self._busy:
            self._busy = self.busy
            self.busyChanged.emit(self._busy)


def waiting_notice(message: str) -> str:
    """A Blocked message ("labeler train (pid 1234, since 14:02) is training this project") as
    the person reads it."""
    text = message if message.startswith("labeler ") else message[:1].upper() + message[1:]
    return f"{text}; training starts here when it ends"
