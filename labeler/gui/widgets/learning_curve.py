"""The Learning dock's curve: how the model improves as labels are accepted (the dock
around it, with the running round and the Effort tab, is learning_panel.py).

The curve is drawn with QPainter: x is the number of accepted images in each version's
snapshot, y its held-out mask AP (solid, the series that decides promotion) and box AP
(lighter, dashed); the mean training loss has its own axis on the right. Promoted versions
are filled dots, versions that did not beat the current model hollow ones, failed or
interrupted rounds a red cross on the x axis. Hovering a mark says what that round was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QToolTip, QWidget,
)

from ...store.training import ModelVersion

MASK_COLOR = QColor("#1f63c6")
BOX_COLOR = QColor("#86b3ea")
LOSS_COLOR = QColor("#e0861a")
FAILED_COLOR = QColor("#d0342c")
GRID_COLOR = QColor(0, 0, 0, 28)
SCORED = ("promoted", "kept_previous")
SHOWN = (*SCORED, "failed", "interrupted")  # a "training" row is the running round: not a point yet
STATUS_WORDS = {"promoted": "promoted", "kept_previous": "not better: the previous model stayed",
                "failed": "failed", "interrupted": "interrupted"}
HIT_RADIUS = 9.0  # pixels: how close the mouse must be to a mark for its tooltip
FIRST_ROUND_RUNNING = "The first training round is running: its point appears here once it is scored."


@dataclass(frozen=True)
class CurvePoint:
    version: int
    parent: int
    status: str  # promoted | kept_previous | failed | interrupted
    accepted_images: int
    train_images: int
    heldout_images: int
    mask_ap: float | None
    box_ap: float | None
    loss: float | None
    reason: str
    current: bool

    @property
    def scored(self) -> bool:
        return self.status in SCORED and self.mask_ap is not None

    def tooltip(self) -> str:
        lines = [f"v{self.version}: {STATUS_WORDS.get(self.status, self.status)}"
                 + (" (the current model)" if self.current else "")]
        if self.scored:
            box = f", box AP {self.box_ap:.3f}" if self.box_ap is not None else ""
            lines.append(f"held-out mask AP {self.mask_ap:.3f}{box}")
        if self.loss is not None:
            lines.append(f"mean training loss {self.loss:.3f}")
        lines.append(f"{self.accepted_images} accepted images ({self.train_images} trained on, "
                     f"{self.heldout_images} held out)")
        if self.reason:
            lines.append(self.reason)
        return "\n".join(lines)


def _number(metrics: dict, key: str) -> float | None:
    value = metrics.get(key)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def curve_points(rows: list[ModelVersion], current: int) -> list[CurvePoint]:
    return [CurvePoint(v.version, v.parent, v.status, v.accepted_images, v.train_images, v.heldout_images,
                       _number(v.metrics, "mask_ap"), _number(v.metrics, "box_ap"), _number(v.metrics, "loss"),
                       v.reason, v.version == current)
            for v in rows if v.status in SHOWN]


def nice_step(span: float, ticks: int = 5) -> float:
    """A round tick spacing (1, 2, 2.5 or 5 times a power of ten) giving about `ticks` ticks."""
    raw = max(span, 1e-9) / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)


def axis(top: float, ticks: int = 5, integer: bool = False, floor: float = 0.0) -> tuple[float, list[float]]:
    """(axis maximum, tick values) for an axis from 0 that shows `top`."""
    step = nice_step(max(top, floor), ticks)
    if integer:
        step = max(1.0, round(step))
    high = max(step, math.ceil(max(top, floor) / step - 1e-9) * step)
    return high, [k * step for k in range(int(round(high / step)) + 1)]


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
        scored = [p for p in self.points if p.scored]
        aps = [v for p in scored for v in (p.mask_ap, p.box_ap) if v is not None]
        losses = [p.loss for p in self.points if p.loss is not None]
        self.x_max, self.x_ticks = axis(max((p.accepted_images for p in self.points), default=1) * 1.04,
                                        integer=True, floor=1)
        y_max, self.y_ticks = axis(min(1.0, max(aps, default=0.0) * 1.12), floor=0.1)
        self.y_max = min(1.0, y_max)
        self.y_ticks = [t for t in self.y_ticks if t <= self.y_max + 1e-9]
        self.loss_max, self.loss_ticks = axis(max(losses, default=0.0) * 1.08, ticks=len(self.y_ticks) - 1,
                                              floor=0.1) if losses else (1.0, [])

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
        top = y_max if y_max is not None else self.y_max
        return QPointF(r.left() + r.width() * x / self.x_max, r.bottom() - r.height() * min(y, top) / top)

    def mark_position(self, point: CurvePoint) -> QPointF:
        """Where a version's mark is drawn: its mask AP, or the x axis for a round without one."""
        return self._to_screen(point.accepted_images, point.mask_ap if point.scored else 0.0)  # type: ignore[arg-type]

    def point_at(self, pos: QPointF) -> CurvePoint | None:
        best, best_d = None, HIT_RADIUS
        for p in self.points:
            d = math.dist((pos.x(), pos.y()), (self.mark_position(p).x(), self.mark_position(p).y()))
            if d <= best_d:
                best, best_d = p, d
        return best

    def _loss_text(self, value: float) -> str:
        step = self.loss_ticks[1] if len(self.loss_ticks) > 1 else 1.0
        decimals = 0 if step >= 1 else 1 if step * 10 == round(step * 10) else 2
        return f"{value:.{decimals}f}"

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
            painter.setBrush(BOX_COLOR if p.status == "promoted" else self.palette().base().color())
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
                painter.setBrush(MASK_COLOR if p.status == "promoted" else base)
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
