"""The select-and-edit tool (V): select, move shapes and edit vertices, holes included."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt

from ...core import commands
from ...core.entities import Instance, Polygons
from ...geometry.vertices import delete_vertex, insert_vertex, move_vertex, nearest_edge, nearest_vertex, translate
from .tools import GRAB_DISTANCE, CanvasEvent, Host, Tool


class EditTool(Tool):
    """Select, move shapes and edit vertices: drag a vertex, press on an edge to insert a
    vertex (and drag it), Shift-click or Del removes the highlighted vertex, drag inside a
    shape to move it. Holes are rings like any other."""

    name = "edit"
    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.mode: str | None = None  # "vertex" | "move" | None
        self.address = None
        self.start = QPointF()
        self.shape = None
        self.label = ""

    def press(self, ev: CanvasEvent) -> None:
        if ev.button != Qt.MouseButton.LeftButton:
            return
        tol = GRAB_DISTANCE / self.host.scale
        editable = self.host.selection_item.editable
        x, y = ev.pos.x(), ev.pos.y()
        if editable is not None:
            instance, shape = editable
            vertex = nearest_vertex(shape, x, y, tol)
            if vertex is not None and ev.modifiers & Qt.KeyboardModifier.ShiftModifier:
                self.host.selection_item.set_active_vertex(vertex)
                self.delete_active_vertex()
                return
            if vertex is not None:
                self._begin("vertex", ev.pos, shape, "Move vertex", vertex)
                return
            edge = nearest_edge(shape, x, y, tol)
            if edge is not None:
                new_shape, address = insert_vertex(shape, edge[0], *edge[1])
                self._begin("vertex", ev.pos, new_shape, "Insert vertex", address)
                self.host.selection_item.set_preview(instance.id, new_shape)  # type: ignore[arg-type]
                return
        hit = self.host.hit(ev.pos)
        if hit is None:
            self.session.select([])
            return
        if ev.modifiers & Qt.KeyboardModifier.ControlModifier:
            ids = list(self.session.selection)
            self.session.select([i for i in ids if i != hit] if hit in ids else ids + [hit])
            return
        if hit not in self.session.selection:
            self.session.select([hit])
        self._begin("move", ev.pos, self.session.instances[hit].shape, "Move shape", None)

    def _begin(self, mode: str, pos: QPointF, shape, label: str, address) -> None:
        self.mode, self.start, self.shape, self.label, self.address = mode, pos, shape, label, address
        self.host.selection_item.set_active_vertex(address)

    def move(self, ev: CanvasEvent, dragging: bool) -> None:
        item = self.host.selection_item
        if self.mode is None:
            editable = item.editable
            if editable is not None:  # highlight the vertex under the cursor
                item.set_active_vertex(nearest_vertex(editable[1], ev.pos.x(), ev.pos.y(),
                                                      GRAB_DISTANCE / self.host.scale))
            return
        target = self._target()
        if target is None:
            return
        if self.mode == "vertex":
            p = self._clamp(ev.pos)
            item.set_preview(target.id, move_vertex(self.shape, self.address, p.x(), p.y()))  # type: ignore[arg-type]
        elif isinstance(self.shape, Polygons):
            d = ev.pos - self.start
            item.set_preview(target.id, translate(self.shape, d.x(), d.y()))  # type: ignore[arg-type]

    def release(self, ev: CanvasEvent) -> None:
        mode, self.mode = self.mode, None
        target = self._target()
        if mode is None or target is None:
            return
        d = ev.pos - self.start
        if mode == "vertex":
            p = self._clamp(ev.pos)
            moved = d.manhattanLength() * self.host.scale >= 1
            shape = move_vertex(self.shape, self.address, p.x(), p.y()) if moved else self.shape  # type: ignore[arg-type]
            if shape != target.shape:
                self.session.push(commands.edit_shape(target, shape, self.label))
        elif d.manhattanLength() * self.host.scale >= 2:  # a click on a shape only selects it
            self.session.push(commands.edit_shape(target, translate(target.shape, d.x(), d.y()), "Move shape"))
        else:
            self.host.selection_item.set_preview(target.id, target.shape)  # type: ignore[arg-type]

    def _target(self) -> Instance | None:
        selected = self.session.selected_instances()
        return selected[0] if len(selected) == 1 else None

    def delete_active_vertex(self) -> bool:
        item = self.host.selection_item
        editable, address = item.editable, item.active_vertex
        if editable is None or address is None:
            return False
        instance = self._target()
        shape = delete_vertex(editable[1], address)
        if instance is None:
            return False
        if shape is None:
            self.session.message.emit("That is the last ring of the shape: press Del again to delete the instance")
            item.set_active_vertex(None)
            return True
        self.session.push(commands.edit_shape(instance, shape, "Delete vertex"))
        return True

    def key(self, key: int, modifiers) -> bool:
        if key == Qt.Key.Key_Escape:
            if self.mode is not None:
                self.mode = None
                target = self._target()
                if target is not None:
                    self.host.selection_item.set_preview(target.id, target.shape)  # type: ignore[arg-type]
            else:
                self.session.select([])
            return True
        return False

    def cancel(self) -> None:
        self.mode = None
        super().cancel()
