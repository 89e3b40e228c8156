"""The model worker as Qt signals: polls the worker client from a timer on the GUI thread.

Polling every 50 ms costs nothing measurable and keeps the worker code free of Qt; every
answer arrives here in order. Answers from a model version other than the one that said
Ready last are dropped (a result can be overtaken by a newer model).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from ..workers.client import AssistClient, WorkerClient
from ..workers.protocol import (
    AssistConfig, AssistDownload, AssistMissing, AssistReady, Embed, Embedded, Segment, Segmented, Cancel, Died, Failed, Fatal, Predict, Prelabel, Progress, Prompted, PromptBox, Ready, Suggested,
    WorkerConfig,
)

POLL_MS = 50


class PollingBridge(QObject):
    """A worker client polled from a timer on the GUI thread; subclasses turn its answers
    into signals in `poll`."""

    def __init__(self, client, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    def start(self) -> None:
        self.client.start()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self.client.stop()

    @property
    def running(self) -> bool:
        """The process can take work (it has not given up)."""
        return self.client.fatal is None

    def poll(self) -> None:
        raise NotImplementedError


class ModelBridge(PollingBridge):
    ready = Signal(object)  # Ready
    suggested = Signal(object)  # Suggested, from the current model version only
    prompted = Signal(object)  # Prompted
    progress = Signal(object)  # Progress of a batch
    failed = Signal(object)  # Failed: one image or request
    notice = Signal(str)  # something the person should read: the worker died, cannot start...

    def __init__(self, config: WorkerConfig, parent: QObject | None = None) -> None:
        super().__init__(WorkerClient(config), parent)
        self.info: Ready | None = None
        self._next_request = 0

    # --- requests ----------------------------------------------------------------------

    def suggest_now(self, image_id: int) -> None:
        self.client.send(Predict((image_id,), urgent=True))

    def prelabel(self, scope: str = "unlabeled") -> None:
        self.client.send(Prelabel(scope))

    def cancel(self) -> None:
        self.client.send(Cancel())

    def prompt(self, image_id: int, box: tuple[float, float, float, float], category_id: int | None) -> int:
        self._next_request += 1
        self.client.send(PromptBox(self._next_request, image_id, box, category_id))
        return self._next_request

    # --- answers -----------------------------------------------------------------------

    def poll(self) -> None:
        for answer in self.client.poll():
            if isinstance(answer, Ready):
                self.info = answer
                self.ready.emit(answer)
            elif isinstance(answer, Suggested):
                if self.info is not None and answer.model_version == self.info.model_version:
                    self.suggested.emit(answer)
            elif isinstance(answer, Prompted):
                self.prompted.emit(answer)
            elif isinstance(answer, Progress):
                self.progress.emit(answer)
            elif isinstance(answer, Failed):
                self.failed.emit(answer)
            elif isinstance(answer, Fatal):
                self.notice.emit(f"The model is off: {answer.message}")
            elif isinstance(answer, Died):
                self.notice.emit(
                    f"The model worker stopped unexpectedly (exit code {answer.exitcode}); "
                    + ("it was restarted and no label was lost." if answer.restarted else
                       "it kept failing, so suggestions are off until labeler is restarted. "
                       "No label was lost."))


class AssistBridge(PollingBridge):
    """The assist model's worker (workers/prompter.py) as signals."""

    ready = Signal(object)  # AssistReady
    missing = Signal(str)  # no weights here: which files to get and where
    segmented = Signal(object)  # Segmented
    embedded = Signal(object)  # Embedded
    download = Signal(object)  # AssistDownload
    notice = Signal(str)

    def __init__(self, config: AssistConfig, parent: QObject | None = None) -> None:
        super().__init__(AssistClient(config), parent)
        self.info: AssistReady | None = None
        self._next_request = 0

    @property
    def usable(self) -> bool:
        """Ready and still running: prompts will be answered."""
        return self.info is not None and self.client.fatal is None and self.client.alive

    def embed(self, image_ids) -> None:
        self.client.send(Embed(tuple(image_ids)))

    def segment(self, image_id: int, box, clicks) -> int:
        self._next_request += 1
        self.client.send(Segment(self._next_request, image_id, tuple(box) if box is not None else None,
                                 tuple(clicks)))
        return self._next_request

    def poll(self) -> None:
        for answer in self.client.poll():
            if isinstance(answer, AssistReady):
                self.info = answer
                self.ready.emit(answer)
            elif isinstance(answer, Segmented):
                self.segmented.emit(answer)
            elif isinstance(answer, Embedded):
                self.embedded.emit(answer)
            elif isinstance(answer, AssistDownload):
                self.download.emit(answer)
            elif isinstance(answer, AssistMissing):
                self.info = None
                self.missing.emit(answer.message)
            elif isinstance(answer, Fatal):
                self.info = None
                self.notice.emit(f"The assist model is off ({answer.message}); the weight-free tools stay")
            elif isinstance(answer, Failed):
                self.notice.emit(answer.message)
            elif isinstance(answer, Died):
                if not answer.restarted:
                    self.info = None
                self.notice.emit(f"The assist model's worker stopped unexpectedly (exit code {answer.exitcode}); "
                                 + ("it was restarted." if answer.restarted else
                                    "it kept failing, so assisted masks use GrabCut until labeler is restarted."))
