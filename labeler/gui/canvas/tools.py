"""Tools: small state machines that turn canvas events into core commands.

A tool never changes an instance itself: it shows a preview on the canvas while the mouse
moves and, when the gesture ends, hands one command to the session (a whole drag or brush
stroke is one undo step). The canvas passes events in image coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import shapely
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPainterPathStroker, QPolygonF

from ...core import commands
from ...core.commands import CommandKind
from ...core.entities import Instance, Polygons, Provenance
from ...geometry import from_shapely, overlaps, simplify, subtract, to_rle, to_shapely, union
from ..session import Session
from .items import PreviewItem, SelectionItem

CLOSE_DISTANCE = 8.0  # screen pixels: a click this close to the first vertex closes a polygon
GRAB_DISTANCE = 6.0  # screen pixels: how close a press must be to grab a vertex or an edge
FREEHAND_SPACING = 4.0  # screen pixels between vertices added by dragging


@dataclass
class CanvasEvent:
    pos: QPointF  # image coordinates
    button: Qt.MouseButton = Qt.MouseButton.LeftButton
    modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier


class Host(Protocol):
    """What the canvas offers its tools."""

    session: Session
    selection_item: SelectionItem
    preview: PreviewItem
    brush_radius: float  # image pixels

    @property
    def scale(self) -> float: ...  # screen pixels per image pixel

    def hit(self, pos: QPointF) -> int | None: ...

    def image_size(self) -> tuple[int, int]: ...

    def category_color(self, category_id: int | None) -> QColor: ...

    def prompt_box(self, box: tuple[float, float, float, float]) -> None: ...

    def hint(self, text: str) -> None: ...  # what the tool will do next, for the status bar


class Tool:
    name = ""
    caches_layers = False  # True: its answers repaint a picture over the image (CanvasView.sync_layers)
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, host: Host) -> None:
        self.host = host

    @property
    def session(self) -> Session:
        return self.host.session

    def press(self, ev: CanvasEvent) -> None: ...

    def move(self, ev: CanvasEvent, dragging: bool) -> None: ...

    def release(self, ev: CanvasEvent) -> None: ...

    def key(self, key: int, modifiers) -> bool:
        """Handle a key; False lets the canvas or window handle it."""
        return False

    def cancel(self) -> None:
        self.host.preview.clear()

    def undo(self) -> bool:
        """Ctrl+Z during a gesture: undo its last step; False when there is none (the
        window then undoes the last edit)."""
        return False

    def wheel(self, delta: int, modifiers) -> bool:
        """A wheel turn over the canvas (120 per notch): True if the tool took it (no zoom)."""
        return False

    def _category_for_new(self) -> int | None:
        category = self.session.current_category()
        if category is None:
            self.session.message.emit("Add a class first (Classes panel) - new shapes need one")
            return None
        return category.id

    def _add(self, shape, label: str, kind: CommandKind, on_purpose: bool = False) -> None:
        """Add a new instance and select it (so 1-9 relabels it). Selected not `on_purpose`:
        the brush does not paint into a rectangle or polygon just because it was drawn last."""
        category_id = self._category_for_new()
        image = self.session.image
        if category_id is None or image is None:
            return
        command = self.session.push(commands.add_instance(
            Instance(None, image.id, category_id, shape, provenance=Provenance.manual()),  # type: ignore[arg-type]
            label, kind=kind))
        if command is not None:
            self.session.select([command.changes[0][1].id], on_purpose=on_purpose)  # type: ignore[union-attr]

    def _add_assisted(self, image_id: int, category_id: int, shape, tool: str, label: str, gestures: int) -> None:
        """Store a shape an assist tool made (provenance "assisted TOOL", `gestures` for the
        effort meter) on its image, and select it if that image is still on screen."""
        command = self.session.push(commands.add_instance(
            Instance(None, image_id, category_id, shape, provenance=Provenance.assisted(tool)), label,
            gestures=gestures, kind=CommandKind.ASSISTED))
        if command is not None and self.session.image is not None and self.session.image.id == image_id:
            self.session.select([command.changes[0][1].id], on_purpose=False)  # type: ignore[union-attr]

    def _hand_over(self, pending: set, gestures: int, finish, hint: str) -> bool:
        """Enter on a wand mask or a scissors polygon: its run finishes on its own thread
        (traced, or closed along the edges) and is stored when it answers, while the tool is
        free for the next object at once. `pending` holds such runs until they answer."""
        category_id = self._category_for_new()
        image = self.session.image
        if category_id is None or image is None:
            return True
        run = self.run  # type: ignore[attr-defined]
        run.target = (image.id, category_id, gestures)
        pending.add(run)
        finish(run)
        self.run = None  # type: ignore[attr-defined]  # so cancel() leaves its thread alone
        self.cancel()
        self.host.hint(hint)
        return True

    def _run_keys(self, key: int, enter, dropped: str = "") -> bool:
        """Enter, Backspace and Esc as the assisted tools share them."""
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            return enter()
        if key == Qt.Key.Key_Backspace:
            return self.undo()
        if key == Qt.Key.Key_Escape and self.run is not None:  # type: ignore[attr-defined]
            self.cancel()
            if dropped:
                self.session.message.emit(dropped)
            return True
        return False

    def _rgb(self) -> tuple[int, int, int]:
        """The colour of the class for new shapes, as plain numbers (for worker threads)."""
        color = self.host.category_color(self.session.current_category_id)
        return color.red(), color.green(), color.blue()

    def _clamp(self, pos: QPointF) -> QPointF:
        w, h = self.host.image_size()
        return QPointF(min(max(pos.x(), 0.0), float(w)), min(max(pos.y(), 0.0), float(h)))


class PolygonTool(Tool):
    """Click vertices; drag with the button held to add vertices freehand. Close by clicking
    the first vertex or Enter; Backspace removes the last vertex; Esc cancels."""

    name = "polygon"

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.points: list[QPointF] = []
        self._clicked: list[bool] = []  # per vertex: placed by a click (marked), not by dragging
        self._cursor: QPointF | None = None
        self._freehand = False

    def press(self, ev: CanvasEvent) -> None:
        if ev.button != Qt.MouseButton.LeftButton:
            return
        pos = self._clamp(ev.pos)
        if len(self.points) >= 3 and self._near_first(pos):
            self.finish()
            return
        self.points.append(pos)
        self._clicked.append(True)
        self._show()

    def move(self, ev: CanvasEvent, dragging: bool) -> None:
        self._cursor = self._clamp(ev.pos)
        if dragging and self.points:
            last = self.points[-1]
            step = FREEHAND_SPACING / self.host.scale
            if (self._cursor - last).manhattanLength() >= step:
                self.points.append(self._cursor)
                self._clicked.append(False)
                self._freehand = True
        self._show()

    def key(self, key: int, modifiers) -> bool:
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.points:
            self.finish()
        elif key == Qt.Key.Key_Escape and self.points:
            self.cancel()
        elif key == Qt.Key.Key_Backspace and self.points:
            self.undo()
        else:
            return False
        return True

    def undo(self) -> bool:
        if not self.points:
            return False
        self.points.pop()
        self._clicked.pop()
        self._show()
        return True

    def finish(self) -> None:
        if len(self.points) < 3:
            self.session.message.emit("A polygon needs at least 3 vertices")
            return
        ring = tuple((p.x(), p.y()) for p in self.points)
        shape = from_shapely(to_shapely(Polygons(((ring,),))))  # self-crossings repaired
        if shape is not None and self._freehand:
            shape = simplify(shape, 0.5 / self.host.scale)  # freehand: drop sub-pixel wiggles
        self.cancel()
        if shape is None:
            self.session.message.emit("That polygon has no area; nothing added")
            return
        self._add(shape, "Add polygon", CommandKind.ADD_POLYGON)

    def cancel(self) -> None:
        self.points = []
        self._clicked = []
        self._freehand = False
        super().cancel()

    def _near_first(self, pos: QPointF) -> bool:
        d = pos - self.points[0]
        return (d.x() ** 2 + d.y() ** 2) ** 0.5 * self.host.scale <= CLOSE_DISTANCE

    def _show(self) -> None:
        path = QPainterPath()
        if self.points:
            path.addPolygon(QPolygonF(self.points + ([self._cursor] if self._cursor else [])))
        color = self.host.category_color(self.session.current_category_id)
        marked = [p for p, clicked in zip(self.points, self._clicked) if clicked]  # the first one always is
        self.host.preview.show_path(path, color, vertices=marked)


class RectangleTool(Tool):
    name = "rectangle"

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.anchor: QPointF | None = None

    def press(self, ev: CanvasEvent) -> None:
        if ev.button == Qt.MouseButton.LeftButton:
            self.anchor = self._clamp(ev.pos)

    def move(self, ev: CanvasEvent, dragging: bool) -> None:
        if self.anchor is not None:
            path = QPainterPath()
            path.addRect(QRectF(self.anchor, self._clamp(ev.pos)).normalized())
            self.host.preview.show_path(path, self.host.category_color(self.session.current_category_id))

    def release(self, ev: CanvasEvent) -> None:
        if self.anchor is None:
            return
        a, b = self.anchor, self._clamp(ev.pos)
        self.cancel()
        if min(abs(a.x() - b.x()), abs(a.y() - b.y())) * self.host.scale < 3:
            return  # a click, not a rectangle
        self._add(Polygons.rectangle(a.x(), a.y(), b.x(), b.y()), "Add rectangle", CommandKind.ADD_RECTANGLE)

    def key(self, key: int, modifiers) -> bool:
        if key == Qt.Key.Key_Escape and self.anchor is not None:
            self.cancel()
            return True
        return False

    def cancel(self) -> None:
        self.anchor = None
        super().cancel()


class PromptTool(RectangleTool):
    """Drag a box around an object; the model segments what is inside (a suggestion)."""

    name = "prompt"

    def release(self, ev: CanvasEvent) -> None:
        if self.anchor is None:
            return
        a, b = self.anchor, self._clamp(ev.pos)
        self.cancel()
        if min(abs(a.x() - b.x()), abs(a.y() - b.y())) * self.host.scale < 3:
            return
        self.host.prompt_box((min(a.x(), b.x()), min(a.y(), b.y()), max(a.x(), b.x()), max(a.y(), b.y())))


class BrushTool(Tool):
    """Paint a mask. A stroke goes into the selected instance only when the person asked for
    that: the instance was picked on purpose (a click, the list, Tab; or it is the mask this
    brush has been painting) and the stroke touches it, or Shift is held (a new part of it,
    touching or not). Anything else starts a new mask instance: a stroke never joins the
    rectangle drawn just before, nor a shape it does not touch. With ``erase`` the stroke is
    cut out of the selected instance. The status bar says where the next stroke goes. A
    stroke (press to release) is one undo step."""

    def __init__(self, host: Host, erase: bool = False) -> None:
        super().__init__(host)
        self.erase = erase
        self.name = "eraser" if erase else "brush"
        self.stroke: list[QPointF] = []
        self._shift = False

    def press(self, ev: CanvasEvent) -> None:
        if ev.button != Qt.MouseButton.LeftButton:
            return
        if self.erase and len(self.session.selection) != 1:
            self.session.message.emit("Select the instance to erase from first")
            return
        self.stroke = [ev.pos]
        self._shift = bool(ev.modifiers & Qt.KeyboardModifier.ShiftModifier)
        self._show(ev.pos)

    def move(self, ev: CanvasEvent, dragging: bool) -> None:
        if self.stroke and dragging:
            self.stroke.append(ev.pos)
        else:
            self._shift = bool(ev.modifiers & Qt.KeyboardModifier.ShiftModifier)
            self._say_target(self._area([ev.pos]))
        self._show(ev.pos)

    def release(self, ev: CanvasEvent) -> None:
        if not self.stroke:
            return
        points, self.stroke = self.stroke, []
        self.host.preview.clear()
        image = self.session.image
        stroke = self._area(points)
        if image is None or stroke is None:
            return
        w, h = self.host.image_size()
        target = self.target(stroke)
        if self.erase:
            left = subtract(target.shape, stroke, h, w)  # type: ignore[union-attr]
            if left is None:
                wiped = commands.delete_instances([target], "Erase", CommandKind.STROKE)  # type: ignore[list-item]
                self.session.push(wiped)
            else:
                self.session.push(commands.paint_mask(target, left, erase=True))  # type: ignore[arg-type]
        elif target is not None:
            self.session.push(commands.paint_mask(target, union(target.shape, stroke, h, w)))
        else:
            # on purpose: the next strokes go on painting it
            self._add(to_rle(stroke, h, w), "Paint", CommandKind.STROKE, on_purpose=True)
        self._say_target(self._area([ev.pos]))

    def _area(self, points: list[QPointF]) -> Polygons | None:
        """What a stroke through these points covers, inside the image."""
        geom = (shapely.Point(points[0].x(), points[0].y()) if len(points) == 1
                else shapely.LineString([(p.x(), p.y()) for p in points]))
        w, h = self.host.image_size()
        return from_shapely(geom.buffer(self.host.brush_radius).intersection(shapely.box(0, 0, w, h)))

    def target(self, stroke: Polygons | None) -> Instance | None:
        """The instance a stroke covering `stroke` goes into (None: a new mask)."""
        selected = self.session.selected_instances()
        if len(selected) != 1:
            return None
        if self.erase or self._shift:
            return selected[0]
        w, h = self.host.image_size()
        if self.session.selected_on_purpose and stroke is not None and overlaps(selected[0].shape, stroke, h, w):
            return selected[0]
        return None

    def _say_target(self, stroke: Polygons | None) -> None:
        target = self.target(stroke)
        if self.erase:
            self.host.hint(f"Eraser: cuts from {self.session.describe(target)}" if target is not None
                           else "Eraser: select the instance to erase from")
        elif target is not None:
            self.host.hint(f"Brush: adds to {self.session.describe(target)}"
                           + (" (Shift: as a new part)" if self._shift else ""))
        else:
            category = self.session.current_category()
            name = category.name if category else "(no class)"
            selected = self.session.selected_instances()
            self.host.hint(f"Brush: a new {name} mask" + (
                f" (Shift: adds to {self.session.describe(selected[0])})" if len(selected) == 1 else ""))

    def _show(self, pos: QPointF) -> None:
        r = self.host.brush_radius
        cursor = QPainterPath()
        cursor.addEllipse(pos, r, r)
        self.host.preview.show_cursor(cursor)
        if self.stroke:
            line = QPainterPath(self.stroke[0])
            for p in self.stroke[1:]:
                line.lineTo(p)
            stroker = QPainterPathStroker()
            stroker.setWidth(2 * r)
            stroker.setCapStyle(Qt.PenCapStyle.RoundCap)
            stroker.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
            area = stroker.createStroke(line) if len(self.stroke) > 1 else cursor
            color = QColor("#ffffff") if self.erase else self.host.category_color(self._stroke_category())
            self.host.preview.show_path(area, color, filled=True)

    def _stroke_category(self) -> int | None:
        target = self.target(self._area(self.stroke[-1:])) if self.stroke else None
        return target.category_id if target is not None else self.session.current_category_id

    def cancel(self) -> None:
        self.stroke = []
        self.host.preview.clear()
        self.host.preview.show_cursor(QPainterPath())
        self.host.hint("")
