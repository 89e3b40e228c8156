"""Long file work (scanning images, importing, exporting) off the GUI thread, behind a modal
progress dialog with a Cancel button.

``TaskDialog(parent, title, text).run(work)`` calls ``work(progress)`` on a thread and returns
what it returns, or raises what it raised, once it has ended; meanwhile the window keeps
painting and the model workers keep being polled. ``progress(done, total)`` moves the bar and,
once Cancel is pressed, raises ``Cancelled`` inside the work: the functions it wraps
(scan_images, import_coco, import_labelme, export_coco) store or write nothing when their
progress callback raises. The dialog closes only when the work has really ended, so nothing
is left running behind it. The work must open its own ProjectStore: a SQLite connection
belongs to the thread that opened it.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDialog, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ...core.errors import UserError

# What bad input or a bad disk raises: shown as one line, never as a traceback.
USER_ERRORS = (UserError, OSError, sqlite3.Error)


class Cancelled(Exception):
    """The person pressed Cancel; the work stopped before storing or writing anything."""


class _Relay(QObject):
    """Carries the worker thread's news to the GUI thread (queued signals)."""

    progressed = Signal(int, int)
    ended = Signal()


class TaskDialog(QDialog):
    def __init__(self, parent: QWidget | None, title: str, text: str, cancellable: bool = True) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        self.setMinimumWidth(420)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        self.cancel_button.setVisible(cancellable)
        layout = QVBoxLayout(self)
        for widget in (self.label, self.bar, self.cancel_button):
            layout.addWidget(widget)
        layout.setAlignment(self.cancel_button, Qt.AlignmentFlag.AlignRight)
        self.cancellable = cancellable
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._result: Any = None
        self._error: BaseException | None = None
        self._shown = -1  # the last permille sent to the bar (at most ~1000 signals per task)
        self._relay = _Relay(self)
        self._relay.progressed.connect(self._on_progress)
        self._relay.ended.connect(self.accept)

    def run(self, work: Callable[[Callable[[int, int], None]], Any]) -> Any:
        self._thread = threading.Thread(target=self._work, args=(work,), name="labeler-task", daemon=True)
        self._thread.start()
        self.exec()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _work(self, work) -> None:  # on the worker thread
        try:
            self._result = work(self.progress)
        except BaseException as exc:  # handed to the GUI thread, raised there by run()
            self._error = exc
        finally:
            self._relay.ended.emit()

    def progress(self, done: int, total: int) -> None:  # on the worker thread
        if self._cancel.is_set():
            raise Cancelled()
        permille = 1000 * done // max(total, 1)
        if permille != self._shown:
            self._shown = permille
            self._relay.progressed.emit(done, total)

    def _on_progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)

    def reject(self) -> None:
        """Cancel, Esc or the close button: ask the work to stop; the dialog closes when it has."""
        if self._thread is not None and self._thread.is_alive():
            if self.cancellable and not self._cancel.is_set():
                self._cancel.set()
                self.cancel_button.setEnabled(False)
                self.label.setText("Cancelling...")
            return
        super().reject()
