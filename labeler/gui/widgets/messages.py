"""Messages for the person: one line in the status bar, and every line kept in a panel.

QStatusBar's own message area sits under the permanent widgets and is cut wherever they
start ("...): the m" running into the coordinates). Here the line is an ordinary status
bar widget with its own room: a message too long for it is elided with "…" and shown in
full as its tooltip, and the Messages panel (View menu) keeps the last few hundred with
the time each was said. ``StatusBar.showMessage`` keeps QStatusBar's call, so every
``statusBar().showMessage(text, ms)`` in the window goes through here.
"""

from __future__ import annotations

import time
from collections import deque

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QSizePolicy, QStatusBar, QVBoxLayout, QWidget

KEEP = 500  # messages the panel keeps


class MessageLine(QLabel):
    """A label that elides what does not fit and keeps the whole text as its tooltip."""

    clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(120)

    def set_full_text(self, text: str) -> None:
        self.full = text
        self.setToolTip(text + "\n\n(View → Messages keeps every message)" if text else "")
        self._elide()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        self.setText(self.fontMetrics().elidedText(self.full, Qt.TextElideMode.ElideRight, max(self.width(), 1)))

    def mousePressEvent(self, event) -> None:
        self.clicked.emit()
        super().mousePressEvent(event)


class MessageLog(QWidget):
    """The Messages panel: the last KEEP messages, newest at the bottom, with their time."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: deque[tuple[float, str]] = deque(maxlen=KEEP)
        self.view = QPlainTextEdit()
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(KEEP)
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.view.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # keys stay with the canvas
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.view)

    def add(self, text: str) -> None:
        if not text or (self.entries and self.entries[-1][1] == text):
            return  # a repeat of the line just said (a key pressed twice) is not news
        now = time.time()
        self.entries.append((now, text))
        self.view.appendPlainText(f"{time.strftime('%H:%M:%S', time.localtime(now))}  {text}")

    def texts(self) -> list[str]:
        return [text for _, text in self.entries]


class StatusBar(QStatusBar):
    """Messages on the left with all the room the permanent widgets leave; each goes to
    the log too. A message stays for `timeout` ms (0: until the next one)."""

    def __init__(self, log: MessageLog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.log = log
        self.line = MessageLine()
        self.addWidget(self.line, 1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(lambda: self.line.set_full_text(""))

    def showMessage(self, text: str, timeout: int = 0) -> None:  # noqa: N802 - Qt's name
        self.line.set_full_text(text)
        self.log.add(text)
        self._timer.stop()
        if timeout > 0 and text:
            self._timer.start(timeout)

    def clearMessage(self) -> None:  # noqa: N802
        self._timer.stop()
        self.line.set_full_text("")

    def currentMessage(self) -> str:  # noqa: N802
        return self.line.full
