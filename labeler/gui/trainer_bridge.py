"""The trainer process as Qt signals: polls the trainer client from a timer on the GUI thread.

Like bridge.py for the inference worker: the worker code stays free of Qt, every answer
arrives here in order, and what the person should read (the trainer died, cannot start, a
round raised) comes out as one plain sentence on ``notice``.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal

from ..workers.client import TrainerClient
from ..workers.protocol import (
    Died, Failed, Fatal, RoundDone, RoundStarted, StopRound, Train, TrainerConfig, TrainProgress,
)
from .bridge import PollingBridge


class TrainerBridge(PollingBridge):
    started = Signal(object)  # RoundStarted
    progress = Signal(object)  # TrainProgress
    done = Signal(object)  # RoundDone
    notice = Signal(str)  # the trainer died, cannot start, or a round raised
    busyChanged = Signal(bool)  # a round was asked for / every asked-for round has ended

    def __init__(self, config: TrainerConfig, screen_busy=None, parent: QObject | None = None,
                 target: Callable | None = None) -> None:
        extra = {} if target is None else {"target": target}  # tests: a stand-in process
        super().__init__(TrainerClient(config, screen_busy=screen_busy, **extra), parent)
        self.round: RoundStarted | None = None  # the round running now
        self.last: TrainProgress | None = None  # its latest progress
        self._busy = False

    @property
    def busy(self) -> bool:
        return self.client.busy

    def train(self, rounds: int = 1) -> bool:
        """Ask for rounds; False when the trainer is not there to ask."""
        if not self.running or not self.client.alive:
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
            elif isinstance(answer, Died):
                self.round = self.last = None
                self.notice.emit(
                    f"The trainer stopped unexpectedly (exit code {answer.exitcode}); "
                    + ("it was restarted. The current model stays and no label was lost." if answer.restarted
                       else "it kept failing, so training is off until labeler is restarted. "
                            "No label was lost."))
        self._check_busy()

    def _check_busy(self) -> None:
        if self.busy != self._busy:
            self._busy = self.busy
            self.busyChanged.emit(self._busy)
