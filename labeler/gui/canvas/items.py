"""Live vector items: the selected instances with their vertex handles, and the preview of
what a tool is drawing. Only these are redrawn while the mouse moves."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem

from ...core.entities import Instance, MaskRLE, Polygons, Shape
from ...geometry import rle_to_mask
from ...geometry.vertices import Address
from .painting import fill_brush, is_proposed, mask_image, outline_pen, polygons_path

HANDLE = 7.0  # vertex handle size in screen pixels


class SelectionItem(QGraphicsItem):
    """The selected instances, drawn brighter, with handles on a single selected polygon.
    A tool can show an edited shape here (``set_preview``) before it becomes a command."""

    def __init__(self) -> None:
        super().__init__()
        self._entries: list[tuple[Instance, Shape, QColor]] = []
        self._paths: list[QPainterPath | None] = []
        self._masks: list = []
        self._scale = 1.0
        self.fill_alpha = 90
        self.active_vertex: Address | None = None  # highlighted: what Del or Shift-click removes

    def set_instances(self, items: list[tuple[Instance, QColor]]) -> None:
        self.prepareGeometryChange()
        self._entries = [(inst, inst.shape, color) for inst, color in items]
        self.active_vertex = None
        self._rebuild()

    def set_preview(self, instance_id: int, shape: Shape) -> None:
        self.prepareGeometryChange()
        self._entries = [(i, shape if i.id == instance_id else s, c) for i, s, c in self._entries]
        self._rebuild()

    def set_view_scale(self, scale: float) -> None:
        self.prepareGeometryChange()
        self._scale = max(scale, 1e-6)

    def set_active_vertex(self, address: Address | None) -> None:
        if address != self.active_vertex:
            self.active_vertex = address
            self.update()

    @property
    def editable(self) -> tuple[Instance, Polygons] | None:
        """The single selected polygon instance and its (preview) shape, if that is what is
        selected: vertex editing works on it."""
        if len(self._entries) == 1 and isinstance(self._entries[0][1], Polygons):
            return self._entries[0][0], self._entries[0][1]  # type: ignore[return-value]
        return None

    def instance_at(self, pos: QPointF, tolerance: float) -> int | None:
        probe = QPainterPath()
        probe.addEllipse(pos, tolerance, tolerance)
        for (inst, shape, _), path, mask in zip(self._entries, self._paths, self._masks):
            if path is not None and (path.contains(pos) or path.intersects(probe)):
                return inst.id
            if mask and mask[1].contains(pos):
                col, row = int(pos.x()), int(pos.y())
                if 0 <= row < shape.height and 0 <= col < shape.width and rle_to_mask(shape)[row, col]:
                    return inst.id
        return None

    def _rebuild(self) -> None:
        self._paths = [polygons_path(s) if isinstance(s, Polygons) else None for _, s, _ in self._entries]
        self._masks = [mask_image(s, c, min(255, self.fill_alpha + 70)) if isinstance(s, MaskRLE) else None
                       for _, s, c in self._entries]
        self.update()

    def boundingRect(self) -> QRectF:
        rect = QRectF()
        for path, mask in zip(self._paths, self._masks):
            if path is not None:
                rect = rect.united(path.boundingRect())
            elif mask:
                rect = rect.united(mask[1])
        margin = HANDLE / self._scale
        return rect.adjusted(-margin, -margin, margin, margin)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for (inst, shape, color), path, mask in zip(self._entries, self._paths, self._masks):
            if path is not None:
                painter.setPen(outline_pen(color.lighter(130), is_proposed(inst), 2.5))
                painter.setBrush(fill_brush(color, min(255, self.fill_alpha + 50)))
                painter.drawPath(path)
            elif mask:
                painter.drawImage(mask[1], mask[0])
                pen = outline_pen(color.lighter(130), True, 1.5)
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(mask[1])
        editable = self.editable
        if editable is not None:
            self._paint_handles(painter, editable[1], self._entries[0][2])

    def _paint_handles(self, painter: QPainter, shape: Polygons, color: QColor) -> None:
        """One square per vertex, a ring's squares in one drawRects call (a 741-vertex polygon
        drawn a square at a time kept the GUI thread 8 ms per repaint on a 12 MP photo);
        the active vertex bigger and white. Squares need no antialiasing."""
        size = HANDLE / self._scale
        pen = QPen(QColor("white"), 1.0)
        pen.setCosmetic(True)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(pen)
        half = size / 2
        for p, part in enumerate(shape.parts):
            for r, ring in enumerate(part):
                painter.setBrush(QBrush(color if r == 0 else color.darker(150)))
                painter.drawRects([QRectF(x - half, y - half, size, size) for x, y in ring])
        if self.active_vertex is not None:
            p, r, i = self.active_vertex
            if p < len(shape.parts) and r < len(shape.parts[p]) and i < len(shape.parts[p][r]):
                x, y = shape.parts[p][r][i]
                s = size * 1.6
                painter.setBrush(QBrush(QColor("white")))
                painter.drawRect(QRectF(x - s / 2, y - s / 2, s, s))
        painter.restore()


class PreviewItem(QGraphicsItem):
    """What a tool is drawing: an open or closed outline, a filled brush stroke, a cursor."""

    def __init__(self) -> None:
        super().__init__()
        self._path = QPainterPath()
        self._cursor = QPainterPath()
        self._color = QColor("#ffffff")
        self._filled = False
        self._vertices: list[QPointF] = []
        self._scale = 1.0
        self.setZValue(10)

    def show_path(self, path: QPainterPath, color: QColor, filled: bool = False,
                  vertices: list[QPointF] | None = None) -> None:
        """`vertices`: the polygon being drawn; each gets a marker, the first (where a
        click closes the polygon) a bigger white one."""
        self.prepareGeometryChange()
        self._path, self._color, self._filled, self._vertices = path, color, filled, list(vertices or ())
        self.update()

    @property
    def vertex_markers(self) -> int:
        return len(self._vertices)

    def show_cursor(self, path: QPainterPath) -> None:
        self.prepareGeometryChange()
        self._cursor = path
        self.update()

    def clear(self) -> None:
        self.show_path(QPainterPath(), self._color)

    def set_view_scale(self, scale: float) -> None:
        self.prepareGeometryChange()
        self._scale = max(scale, 1e-6)

    def boundingRect(self) -> QRectF:
        margin = 2 * HANDLE / self._scale
        return self._path.boundingRect().united(self._cursor.boundingRect()).adjusted(
            -margin, -margin, margin, margin)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(outline_pen(self._color, False, 2.0))
        painter.setBrush(fill_brush(self._color, 110) if self._filled else Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
        if self._vertices:
            r = HANDLE / self._scale
            painter.setBrush(QBrush(QColor("white")))
            painter.drawEllipse(self._vertices[0], r, r)  # where a click closes the polygon
            painter.setBrush(QBrush(self._color))
            for vertex in self._vertices[1:]:
                painter.drawRect(QRectF(vertex.x() - r / 2, vertex.y() - r / 2, r, r))
        if not self._cursor.isEmpty():
            painter.setPen(outline_pen(QColor("white"), False, 1.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(self._cursor)


class LabelTags(QGraphicsItem):
    """A small tag at the top-left corner of each shape, the same size at every zoom: its
    class name (View → Class names, L) and, for a suggestion, its score. Only tags inside
    the exposed area are painted, and when more than MAX_DRAWN would be (thousands of shapes
    seen from far out) only the suggestions' tags are, so panning stays smooth."""

    MAX_DRAWN = 400

    def __init__(self) -> None:
        super().__init__()
        self._tags: list[tuple[QPointF, str, QColor, bool]] = []
        self._rect = QRectF()
        self._scale = 1.0
        self._widest = 60.0
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)  # exposedRect

    def set_tags(self, tags: list[tuple[float, float, str, QColor, bool]]) -> None:
        """(x, y, text, colour, is a suggestion's score) per tag."""
        self.prepareGeometryChange()
        self._tags = [(QPointF(x, y), text, color, score) for x, y, text, color, score in tags]
        rect = QRectF()
        for point, *_ in self._tags:
            rect = rect.united(QRectF(point, point).adjusted(-1, -1, 1, 1))
        self._rect = rect
        longest = max((len(t[1]) for t in self._tags), default=0)
        self._widest = 16.0 + 9.0 * longest  # screen pixels, generous for the font in use
        self.update()

    @property
    def texts(self) -> list[str]:
        return [t[1] for t in self._tags]

    def set_view_scale(self, scale: float) -> None:
        self.prepareGeometryChange()
        self._scale = max(scale, 1e-6)

    def boundingRect(self) -> QRectF:
        margin = max(self._widest, 30.0) / self._scale  # tags are drawn in screen pixels beside their anchor
        return self._rect.adjusted(-margin, -margin, margin, margin)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        margin = max(self._widest, 30.0) / self._scale
        exposed = option.exposedRect.adjusted(-margin, -margin, margin, margin)
        shown = [t for t in self._tags if exposed.contains(t[0])]
        if len(shown) > self.MAX_DRAWN:
            shown = [t for t in shown if t[3]][:self.MAX_DRAWN]
        painter.save()
        transform = painter.worldTransform()
        painter.resetTransform()
        metrics = painter.fontMetrics()
        for point, text, color, _ in shown:
            at = transform.map(point)
            box = QRectF(at.x(), at.y() - metrics.height() - 2, metrics.horizontalAdvance(text) + 8,
                         metrics.height() + 2)
            painter.fillRect(box, QColor(20, 20, 20, 200))
            painter.setPen(color)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()
