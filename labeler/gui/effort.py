"""The effort meter's counting side: what the person does on each image, written to the store
(store/effort.py) under the model version that was current at the time.

What counts (from the commands the session applies, so nothing is counted twice; by each
command's kind, never by its label):
- vertices: a polygon adds its vertex count, a rectangle or a box prompt 2 (its two corners),
  an assisted mask its box (1) and each click, a vertex dragged, inserted or deleted, or a
  shape moved, 1;
- strokes: a brush or eraser stroke, 1;
- keys: every other edit (accept or reject a suggestion, accept all, delete, change class,
  mark the image) and every undo or redo, 1.
- seconds: the time the image is on screen, from opening it to leaving it, counted from one
  input (mouse press or move, wheel, key, or an edit) to the next; a gap longer than IDLE_S
  counts as IDLE_S, so a person who walks away adds at most that.

The counts are written after every edit and when the image is left or the window closes,
each time one small transaction: a crash loses at most the seconds since the last edit.
"""

from __future__ import annotations

import sqlite3
from time import monotonic
from typing import Callable

from PySide6.QtCore import QEvent, QObject

from ..core.commands import Command, CommandKind
from ..core.entities import ImageRecord, Polygons
from ..store.effort import add_effort
from ..store.proposals import current_model_version
from .session import Session

IDLE_S = 60.0
TWO_CORNERS = frozenset({CommandKind.ADD_RECTANGLE, CommandKind.BOX_PROMPT})
ACTIVITY = frozenset({QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.Wheel,
                      QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride})


def tally(command: Command, action: str) -> tuple[int, int, int]:
    """(vertices, strokes, keys) a command cost the person."""
    if action != "do":
        return 0, 0, 1  # undo / redo: one key
    if command.gestures is not None:  # an assisted mask: its box and clicks
        return command.gestures, 0, 0
    kind = command.kind
    if kind == CommandKind.ADD_POLYGON:
        shape = command.changes[0][1].shape if command.changes and command.changes[0][1] else None
        return (shape.vertex_count if isinstance(shape, Polygons) else 0), 0, 0
    if kind in TWO_CORNERS:
        return 2, 0, 0
    if kind == CommandKind.RESHAPE:
        return 1, 0, 0
    if kind == CommandKind.STROKE:
        return 0, 1, 0
    return 0, 0, 1


class EffortCounter(QObject):
    def __init__(self, session: Session, clock: Callable[[], float] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session, self.store = session, session.store
        self.clock = clock or monotonic
        self.image_id: int | None = session.image.id if session.image is not None else None
        self.vertices = self.strokes = self.keys = 0
        self.seconds = 0.0
        self._last = self.clock()
        session.histories.listeners.append(self._on_command)
        session.imageChanged.connect(self._on_image)

    def watch(self, *widgets: QObject) -> None:
        """Input on these widgets counts as activity (the clock keeps running)."""
        for widget in widgets:
            widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() in ACTIVITY:
            self.touch()
        return False

    def touch(self) -> None:
        now = self.clock()
        if self.image_id is not None:
            self.seconds += min(max(0.0, now - self._last), IDLE_S)
        self._last = now

    def _on_command(self, command: Command, action: str) -> None:
        self.touch()
        vertices, strokes, keys = tally(command, action)
        if command.image_id != self.image_id:  # not the image on screen: written at once
            self._write(command.image_id, vertices, strokes, keys, 0.0)
            return
        self.vertices += vertices
        self.strokes += strokes
        self.keys += keys
        self.flush()

    def _on_image(self, image: ImageRecord | None) -> None:
        self.touch()
        self.flush()
        self.image_id = image.id if image is not None else None
        self._last = self.clock()

    def close(self) -> None:
        """The window closes: count the time up to now and write it."""
        self.touch()
        self.flush()
        self.image_id = None

    def flush(self) -> None:
        if self.image_id is None or not (self.vertices or self.strokes or self.keys or self.seconds):
            return
        if self._write(self.image_id, self.vertices, self.strokes, self.keys, self.seconds):
            self.vertices = self.strokes = self.keys = 0
            self.seconds = 0.0

    def _write(self, image_id: int, vertices: int, strokes: int, keys: int, seconds: float) -> bool:
        try:
            add_effort(self.store, image_id, current_model_version(self.store), vertices=vertices,
                       strokes=strokes, keys=keys, seconds=round(seconds, 3))
        except sqlite3.Error:  # busy or closed: the counts wait for the next flush
            return False
        return True
