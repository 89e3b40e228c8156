"""The Learning dock's curve: how the model improves as labels are accepted (the dock
around it, with the running round and the Effort tab, is learning_panel.py).

The curve is drawn with QPainter: x is the number of accepted images in each version's
snapshot, y its held-out mask AP (solid, the series that decides promotion) and box AP
(lighter, dashed); the mean training loss has its own axis on the right. Promoted versions
are filled dots, versions that did not beat the current model hollow ones, failed or
interrupted rounds a red cross on the x axis. Hovering a mark says what that round was.
The numbers behind it (points, axes, ticks, the mapping to pixels) are in curve_math.py.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QToolTip, QWidget,
)

from ...core.rounds import RoundStatus
from .curve_math import (  # noqa: F401 (CurvePoint, curve_points, axis, nice_step: imported from here too)
    SCORED, SHOWN, STATUS_WORDS, CurvePoint, axis, curve_points, loss_text, nearest, nice_step, ranges, to_plot,
)

MASK_COLOR = QColor("#1f63c6")
BOX_COLOR = QColor("#86b3ea")
LOSS_COLOR = QColor("#e0861a")
FAILED_COLOR = QColor("#d0342c")
GRID_COLOR = QColor(0, 0, 0, 28)
HIT_RADIUS = 9.0  # pixels: how close the mouse must be to a mark for its tooltip
FIRST_ROUND_RUNNING = "The first training round is running: its point appears here once it is scored."


class LearningCurve(QWidget):
    """The plot. Its public state (points, ranges, ticks, current_label) is what tests read."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[CurvePoint] = []
        self.empty_text = "No training rounds yet."
        self.setMouseTracking(True)
        self.setMinimumHeight(190)
        self._layout()

    def sizeHint(self) -> QSize:
        return QSize(330, 240)

    def set_points(self, points: list[CurvePoint], empty_text: str | None = None) -> None:
        self.points = list(points)
        if empty_text is not None:
            self.empty_text = empty_text
        self._layout()
        self.update()

    def set_empty_text(self, text: str) -> None:
        if text != self.empty_text:
            self.empty_text = text
            self.update()

    @property
    def current_label(self) -> str | None:
        current = next((p for p in self.points if p.current), None)
        return f"v{current.version} (current)" if current is not None else None

    # --- geometry ----------------------------------------------------------------------

    def _layout(self) -> None:
        """Axis ranges and ticks from the points (paint and tests use the same ones)."""
        r = ranges(self.points)
        self.x_max, self.x_ticks, self.y_max, self.y_ticks = r.x_max, r.x_ticks, r.y_max, r.y_ticks
        self.loss_max, self.loss_ticks = r.loss_max, r.loss_ticks

    def _fonts(self) -> tuple[QFont, QFont]:
        small = QFont(self.font())
        small.setPointSizeF(max(6.5, self.font().pointSizeF() * 0.82))
        bold = QFont(self.font())
        bold.setBold(True)
        return small, bold

    def plot_rect(self) -> QRectF:
        small, _ = self._fonts()
        fm = QFontMetrics(small)
        left = fm.horizontalAdvance("0.00") + fm.height() + 10
        right = (fm.horizontalAdvance(self._loss_text(self.loss_max)) + fm.height() + 10
                 if self.loss_ticks else 12)
        top = fm.height() + 12  # the legend
        bottom = 2 * fm.height() + 10  # tick labels and the axis title
        return QRectF(left, top, max(10.0, self.width() - left - right), max(10.0, self.height() - top - bottom))

    def _to_screen(self, x: float, y: float, y_max: float | None = None) -> QPointF:
        r = self.plot_rect()
        rect = (r.left(), r.top(), r.width(), r.height())
        return QPointF(*to_plot(x, y, self.x_max, y_max if y_max is not None else self.y_max, rect))

    def mark_position(self, point: CurvePoint) -> QPointF:
        """Where a version's mark is drawn: its mask AP, or the x axis for a round without one."""
        return self._to_screen(point.accepted_images, point.mask_ap if point.scored else 0.0)  # type: ignore[arg-type]

    def point_at(self, pos: QPointF) -> CurvePoint | None:
        marks = [(m.x(), m.y()) for m in map(self.mark_position, self.points)]
        k = nearest(marks, (pos.x(), pos.y()), HIT_RADIUS)
        return self.points[k] if k is not None else None

    def _loss_text(self, value: float) -> str:
        return loss_text(value, self.loss_ticks)

    # --- events ------------------------------------------------------------------------

    def event(self, ev) -> bool:
        if ev.type() == ev.Type.ToolTip:
            point = self.point_at(QPointF(ev.pos()))
            if point is not None:
                QToolTip.showText(ev.globalPos(), point.tooltip(), self)
            else:
                QToolTip.hideText()
                ev.ignore()
            return True
        return super().event(ev)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        if not self.points:
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.rect().adjusted(16, 8, -16, -8),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text)
            return
        small, bold = self._fonts()
        self._draw_axes(painter, small)
        self._draw_series(painter)
        self._draw_marks(painter, small, bold)
        self._draw_legend(painter, small)
        painter.end()

    # --- painting ----------------------------------------------------------------------

    def _draw_axes(self, painter: QPainter, font: QFont) -> None:
        r = self.plot_rect()
        fm = QFontMetrics(font)
        text = self.palette().text().color()
        dim = QColor(text)
        dim.setAlpha(170)
        painter.setFont(font)
        for t in self.y_ticks:
            y = self._to_screen(0, t).y()
            painter.setPen(QPen(GRID_COLOR, 1))
            painter.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
            painter.setPen(dim)
            painter.drawText(QRectF(0, y - fm.height() / 2, r.left() - 4, fm.height()),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{t:.2f}")
        for t in self.x_ticks:
            x = self._to_screen(t, 0).x()
            painter.setPen(QPen(GRID_COLOR, 1))
            painter.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
            painter.setPen(dim)
            painter.drawText(QRectF(x - 30, r.bottom() + 3, 60, fm.height()), Qt.AlignmentFlag.AlignHCenter,
                             f"{t:.0f}")
        for t in self.loss_ticks:
            y = self._to_screen(0, t, self.loss_max).y()
            painter.setPen(LOSS_COLOR.darker(115))
            painter.drawText(QRectF(r.right() + 4, y - fm.height() / 2, 60, fm.height()),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self._loss_text(t))
        painter.setPen(QPen(dim, 1))
        painter.drawLine(r.bottomLeft(), r.bottomRight())
        painter.drawLine(r.bottomLeft(), r.topLeft())
        painter.setPen(text)
        painter.drawText(QRectF(r.left(), r.bottom() + fm.height() + 5, r.width(), fm.height()),
                         Qt.AlignmentFlag.AlignHCenter, "accepted images in the round")
        self._vertical_text(painter, "held-out AP", QPointF(2, r.center().y()), fm, -90)
        if self.loss_ticks:
            painter.setPen(LOSS_COLOR.darker(115))
            self._vertical_text(painter, "training loss", QPointF(self.width() - 2, r.center().y()), fm, 90)

    @staticmethod
    def _vertical_text(painter: QPainter, text: str, at: QPointF, fm: QFontMetrics, angle: int) -> None:
        painter.save()
        painter.translate(at)
        painter.rotate(angle)
        width = fm.horizontalAdvance(text)
        painter.drawText(QRectF(-width / 2, 0, width, fm.height()), Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def _polyline(self, painter: QPainter, points: list[QPointF], pen: QPen) -> None:
        if len(points) < 2:
            return
        path = QPainterPath(points[0])
        for p in points[1:]:
            path.lineTo(p)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)

    def _draw_series(self, painter: QPainter) -> None:
        scored = [p for p in self.points if p.scored]
        losses = [p for p in self.points if p.loss is not None]
        painter.save()
        painter.setClipRect(self.plot_rect().adjusted(-6, -6, 6, 6))
        self._polyline(painter, [self._to_screen(p.accepted_images, p.loss, self.loss_max) for p in losses],
                       QPen(LOSS_COLOR, 1.4))
        for p in losses:
            at = self._to_screen(p.accepted_images, p.loss, self.loss_max)  # type: ignore[arg-type]
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(LOSS_COLOR)
            painter.drawRect(QRectF(at.x() - 2.5, at.y() - 2.5, 5, 5))
        boxes = [p for p in scored if p.box_ap is not None]
        self._polyline(painter, [self._to_screen(p.accepted_images, p.box_ap) for p in boxes],  # type: ignore[arg-type]
                       QPen(BOX_COLOR, 1.6, Qt.PenStyle.DashLine))
        for p in boxes:
            painter.setPen(QPen(BOX_COLOR.darker(110), 1.2))
            painter.setBrush(BOX_COLOR if p.status == RoundStatus.PROMOTED else self.palette().base().color())
            painter.drawEllipse(self._to_screen(p.accepted_images, p.box_ap), 3.0, 3.0)  # type: ignore[arg-type]
        self._polyline(painter, [self.mark_position(p) for p in scored], QPen(MASK_COLOR, 2.2))
        painter.restore()

    def _draw_marks(self, painter: QPainter, small: QFont, bold: QFont) -> None:
        base = self.palette().base().color()
        fm = QFontMetrics(small)
        r = self.plot_rect()
        for p in self.points:
            at = self.mark_position(p)
            if p.scored:
                painter.setPen(QPen(MASK_COLOR, 2))
                painter.setBrush(MASK_COLOR if p.status == RoundStatus.PROMOTED else base)
                painter.drawEllipse(at, 4.5, 4.5)
            else:
                painter.setPen(QPen(FAILED_COLOR, 2.4, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
                d = 5.0
                painter.drawLine(at + QPointF(-d, -d), at + QPointF(d, d))
                painter.drawLine(at + QPointF(-d, d), at + QPointF(d, -d))
            if len(self.points) <= 12 and not p.current:
                painter.setFont(small)
                painter.setPen(FAILED_COLOR if not p.scored else self.palette().text().color())
                label_y = at.y() + 7 if p.scored else at.y() - fm.height() - 6
                painter.drawText(QRectF(at.x() - 20, label_y, 40, fm.height()), Qt.AlignmentFlag.AlignHCenter,
                                 f"v{p.version}")
        current = next((p for p in self.points if p.current), None)
        if current is not None:
            at = self.mark_position(current)
            painter.setPen(QPen(self.palette().text().color(), 1.6))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(at, 8.5, 8.5)
            painter.setFont(bold)
            text = self.current_label or ""
            bfm = QFontMetrics(bold)
            width = bfm.horizontalAdvance(text) + 4
            x = at.x() + 10 if at.x() + 10 + width <= r.right() + 4 else at.x() - 10 - width
            y = max(r.top(), at.y() - bfm.height() - 6)
            painter.drawText(QRectF(x, y, width, bfm.height()), Qt.AlignmentFlag.AlignLeft, text)

    def _draw_legend(self, painter: QPainter, font: QFont) -> None:
        fm = QFontMetrics(font)
        painter.setFont(font)
        entries = [("mask AP", QPen(MASK_COLOR, 2.2)), ("box AP", QPen(BOX_COLOR, 1.6, Qt.PenStyle.DashLine))]
        if self.loss_ticks:
            entries.append(("loss", QPen(LOSS_COLOR, 1.4)))
        x, y = self.plot_rect().left(), 4 + fm.height() / 2
        for text, pen in entries:
            painter.setPen(pen)
            painter.drawLine(QPointF(x, y), QPointF(x + 18, y))
            painter.setPen(self.palette().text().color())
            painter.drawText(QPointF(x + 22, y + fm.ascent() / 2 - 1), text)
            x += 22 + fm.horizontalAdvance(text) + 14
        painter.setPen(QPen(MASK_COLOR, 1.6))
        painter.setBrush(self.palette().base().color())
        painter.drawEllipse(QPointF(x + 4, y), 3.5, 3.5)
        painter.setPen(self.palette().text().color())
        painter.drawText(QPointF(x + 11, y + fm.ascent() / 2 - 1), "not kept")
