"""Model → About the model: which model, on what device, from which weights; and when it has
none, the exact file it looks for, the folder it looks in, and a Download button.

The worker says what it loaded (protocol.Ready); this dialog only shows it, fetches the file
(labeler.downloads, off the GUI thread behind a progress dialog with Cancel) and says when
the model should be restarted to take it. The offline switch is the person's setting
(preferences.py): with it on there is no Download button and the worker never tries.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget,
)

from ...core.errors import UserError
from ...downloads import download
from ...workers.protocol import Ready
from ..preferences import offline, set_offline
from .task_dialog import Cancelled, TaskDialog


def describe(info: Ready | None) -> str:
    if info is None:
        return "No model is running (labeler was started with --no-model, or the model is still starting)."
    message = info.message
    if info.weights_source == "none" and info.weights_file:  # the file and folder are shown on their own
        message = message.split(". ")[0] + "."
    return f"{info.model_name}, version {info.model_version}, on {info.device}.\n\n{message}"


class ModelDialog(QDialog):
    restartRequested = Signal(str)  # restart the model worker (it looks for its weights again); why

    def __init__(self, parent: QWidget | None, info: Ready | None, can_download: bool = True) -> None:
        """`can_download`: False when this run is offline (`--offline`, or the setting when it
        started): no Download button, whatever the box says."""
        super().__init__(parent)
        self.can_download = can_download
        self.setWindowTitle("About the model")
        self.setMinimumWidth(520)
        self.info = info
        self.text = QLabel(describe(info))
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.where = QLabel()
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.start_download)
        self.again_button = QPushButton("Look for the weights again")
        self.again_button.setToolTip("After copying the file into the folder by hand: restart the model with it")
        self.again_button.clicked.connect(lambda: self.restartRequested.emit("The model is restarting and "
                                                                             "looks for its weights again"))
        self.offline_box = QCheckBox("This machine must not use the network (never download weights)")
        self.offline_box.setChecked(offline())
        self.offline_box.toggled.connect(self._on_offline)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.download_button)
        row.addWidget(self.again_button)
        row.addStretch(1)
        layout.addWidget(self.text)
        layout.addWidget(self.where)
        layout.addLayout(row)
        for widget in (self.result, self.offline_box, buttons):
            layout.addWidget(widget)
        self._update()

    @property
    def wanted(self) -> Path | None:
        """The COCO weights file the model would start from, when it has no weights."""
        info = self.info
        if info is None or info.weights_source != "none" or not info.weights_file:
            return None
        return Path(info.weights_file)

    def _update(self) -> None:
        wanted = self.wanted
        if wanted is None:
            self.where.hide()
        else:
            self.where.setText(f"It looks for the file {wanted.name}\nin the folder {wanted.parent}"
                               + (f"\nPublished at {self.info.weights_url}" if self.info.weights_url else ""))
            self.where.show()
        can = (wanted is not None and bool(self.info.weights_url) and self.can_download
               and not self.offline_box.isChecked())
        self.download_button.setVisible(can)
        self.again_button.setVisible(wanted is not None)

    def _on_offline(self, checked: bool) -> None:
        set_offline(checked)
        self.result.setText("Saved: the model worker follows it from its next start.")
        self._update()

    def start_download(self) -> None:
        wanted, url = self.wanted, self.info.weights_url if self.info else ""
        if wanted is None or not url:
            return
        task = TaskDialog(self, "Downloading weights", f"{wanted.name}\nfrom {url}")
        try:
            task.run(lambda progress: download(url, wanted, progress))
        except Cancelled:
            self.result.setText("Download cancelled; nothing was kept.")
            return
        except (UserError, OSError) as exc:
            self.result.setText(f"{exc}\nYou can copy the file into the folder above by hand.")
            return
        self.result.setText(f"{wanted.name} is in place; the model restarts with it.")
        self.download_button.hide()
        self.restartRequested.emit(f"Downloaded {wanted.name}; the model is restarting with it")
