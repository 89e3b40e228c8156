"""Undo/redo: one unlimited history per image.

The history owns nothing but the commands: state lives in the Document (the store), which
applies each command in one transaction. Listeners (the GUI, the effort meter) are plain
callables told about every change; the core never imports Qt.
"""

from __future__ import annotations

from typing import Callable

from .commands import Command, Document

Listener = Callable[[Command, str], None]  # (command, "do" | "undo" | "redo")


class History:
    def __init__(self, doc: Document, image_id: int) -> None:
        self.doc = doc
        self.image_id = image_id
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self.listeners: list[Listener] = []

    def push(self, command: Command) -> Command:
        """Apply a new command and make it the next one to undo. Clears the redo stack."""
        if command.image_id != self.image_id:
            raise ValueError(f"command for image {command.image_id} pushed on image {self.image_id}")
        with self.doc.transaction():
            command.apply(self.doc)
        self._done.append(command)
        self._undone.clear()
        self._notify(command, "do")
        return command

    def undo(self) -> Command | None:
        if not self._done:
            return None
        command = self._done[-1]
        with self.doc.transaction():
            command.revert(self.doc)
        self._undone.append(self._done.pop())
        self._notify(command, "undo")
        return command

    def redo(self) -> Command | None:
        if not self._undone:
            return None
        command = self._undone[-1]
        with self.doc.transaction():
            command.apply(self.doc)
        self._done.append(self._undone.pop())
        self._notify(command, "redo")
        return command

    @property
    def undo_label(self) -> str | None:
        return self._done[-1].label if self._done else None

    @property
    def redo_label(self) -> str | None:
        return self._undone[-1].label if self._undone else None

    def _notify(self, command: Command, action: str) -> None:
        for listener in list(self.listeners):
            listener(command, action)


class Histories:
    """The histories of every image a session has touched, created on first use."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self._by_image: dict[int, History] = {}
        self.listeners: list[Listener] = []

    def for_image(self, image_id: int) -> History:
        history = self._by_image.get(image_id)
        if history is None:
            history = self._by_image[image_id] = History(self.doc, image_id)
            history.listeners.append(self._forward)
        return history

    def push(self, command: Command) -> Command:
        return self.for_image(command.image_id).push(command)

    def _forward(self, command: Command, action: str) -> None:
        for listener in list(self.listeners):
            listener(command, action)
