"""The assist model in the window (SAM 2.1, workers/prompter.py): starts its worker, hands it
to the canvas once it is ready, asks it to encode the image on screen and the next ones in
the browser's order, and shows in the status bar what it does (fetching its weights,
encoding, missing). Without it the assisted mask tool (M) uses GrabCut; nothing else changes.
It builds its status-bar widgets (`label`, `download`); the window places them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox, QProgressBar, QWidget

from ..core.errors import UserError
from ..prompt_weights import resolve_weights
from ..workers.protocol import AssistConfig
from . import preferences
from .bridge import AssistBridge
from .canvas.view import CanvasView
from .session import Session

AHEAD = 4  # images after the one on screen that are encoded ahead
OFF_TEXT = "Assist: GrabCut"


class AssistController(QObject):
    """`order`: the image ids in the browser's order (the next ones are encoded ahead).
    `window`: the parent of the dialogs this opens."""

    def __init__(self, session: Session, canvas: CanvasView, order: Callable[[], list[int]],
                 window: QWidget | None = None) -> None:
        super().__init__(window)
        self.window, self.session, self.canvas, self.order = window, session, canvas, order
        self.bridge: AssistBridge | None = None
        self.config: AssistConfig | None = None
        self.encoded: dict[int, float] = {}  # image id -> encoder seconds (0: from the cache), this session
        self.label = QLabel(OFF_TEXT)
        self.label.setToolTip("The assisted mask tool (M) uses GrabCut: no model weights needed")
        self.download = QProgressBar()
        self.download.setMaximumWidth(160)
        self.download.setFormat("assist model %p%")
        self.download.hide()
        self.session.imageChanged.connect(lambda _image: self.embed_ahead())

    def start(self, config: AssistConfig) -> None:
        self.stop()
        self.config = config
        self.bridge = AssistBridge(config, self)
        self.bridge.ready.connect(self._on_ready)
        self.bridge.missing.connect(self._on_missing)
        self.bridge.download.connect(self._on_download)
        self.bridge.embedded.connect(self._on_embedded)
        self.bridge.notice.connect(self._on_notice)
        self.label.setText("Assist: starting")
        self.bridge.start()

    def stop(self) -> None:
        if self.bridge is not None:
            self.canvas.assist_model = None
            self.bridge.stop()
            self.bridge.deleteLater()
            self.bridge = None

    def choose_weights(self) -> None:
        """Model > Assist model weights folder: a folder with a SAM 2.1 model's config.json and
        model.safetensors; remembered, and the assist model restarts with it."""
        folder = QFileDialog.getExistingDirectory(self.window, "The folder of a SAM 2.1 model (config.json, "
                                                  "model.safetensors)", preferences.assist_model() or "")
        if not folder:
            return

        try:
            resolve_weights(folder, allow_download=False)
        except UserError as exc:
            QMessageBox.warning(self.window, "Assist model", str(exc))
            return
        preferences.set_assist_model(folder)
        base = self.config or AssistConfig(str(self.session.store.project_dir))
        self.start(replace(base, model=folder))

    def embed_ahead(self) -> None:
        """The image on screen, then the next AHEAD ones in the browser's order."""
        image = self.session.image
        if self.bridge is None or not self.bridge.usable or image is None:
            return
        order = self.order()
        at = order.index(image.id) if image.id in order else -1
        self.bridge.embed([image.id, *[i for i in order[at + 1:at + 1 + AHEAD] if i != image.id]])

    def _on_ready(self, info) -> None:
        self.canvas.assist_model = self.bridge
        self.download.hide()
        self.label.setText(f"Assist: {info.model}")
        self.label.setToolTip(f"The assisted mask tool (M) uses {info.model} on {info.device}; images are "
                              "encoded ahead, so a click answers from the decoder alone")
        self.session.message.emit(f"Assisted masks (M) now use {info.model} on {info.device}")
        self.embed_ahead()

    def _on_missing(self, text: str) -> None:
        self.canvas.assist_model = None
        self.download.hide()
        self.label.setText(OFF_TEXT)
        self.label.setToolTip(text)
        self.session.message.emit(f"Assist model off: {text}. The assisted mask tool (M) uses GrabCut meanwhile")

    def _on_download(self, progress) -> None:
        self.download.setRange(0, 1000)
        self.download.setValue(int(1000 * progress.done / max(1, progress.total)))
        self.download.setVisible(progress.done < progress.total)
        self.label.setText("Assist: fetching weights")

    def _on_embedded(self, answer) -> None:
        self.encoded[answer.image_id] = answer.seconds

    def _on_notice(self, text: str) -> None:
        if self.bridge is not None and not self.bridge.usable:
            self.label.setText(OFF_TEXT)
        self.session.message.emit(text)
