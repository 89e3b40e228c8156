"""How an image's review status looks wherever it is shown: a coloured dot and a word.

One place for the colours so that the image browser, its filter menu and the status bar
agree; the icons are painted (no image files to ship) and cached, since a list asks for
the same few icons on every repaint.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

from ...core.entities import ImageStatus

STATUS_COLORS: dict[ImageStatus, str] = {
    ImageStatus.UNLABELED: "#9e9e9e",  # grey: nothing there yet
    ImageStatus.PROPOSED: "#2f7fe0",  # blue: the model has something to look at
    ImageStatus.IN_REVIEW: "#f0901e",  # orange: a person is on it
    ImageStatus.ACCEPTED: "#2fa84f",  # green: done
}

STATUS_TEXT: dict[ImageStatus, str] = {
    ImageStatus.UNLABELED: "Unlabeled",
    ImageStatus.PROPOSED: "Proposed",
    ImageStatus.IN_REVIEW: "In review",
    ImageStatus.ACCEPTED: "Accepted",
}

_PIXMAPS: dict[tuple[ImageStatus, int, float], QPixmap] = {}
_ICONS: dict[tuple[ImageStatus, int], QIcon] = {}


def status_pixmap(status: ImageStatus, size: int = 12, dpr: float = 1.0) -> QPixmap:
    """The dot as a pixmap for painting by hand (delegates); sharp on high-DPI screens."""
    key = (status, size, dpr)
    pixmap = _PIXMAPS.get(key)
    if pixmap is None:
        pixmap = _paint_dot(status, size, dpr)
        _PIXMAPS[key] = pixmap
    return pixmap


def status_icon(status: ImageStatus, size: int = 12) -> QIcon:
    """A coloured dot (accepted: with a white check mark) for menus, combos and lists."""
    key = (status, size)
    icon = _ICONS.get(key)
    if icon is None:
        icon = QIcon()
        for dpr in (1.0, 2.0):  # Qt picks the one that matches the screen
            icon.addPixmap(status_pixmap(status, size, dpr))
        _ICONS[key] = icon
    return icon


def _paint_dot(status: ImageStatus, size: int, dpr: float) -> QPixmap:
    pixmap = QPixmap(round(size * dpr), round(size * dpr))
    pixmap.setDevicePixelRatio(dpr)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    color = QColor(STATUS_COLORS[status])
    # A thin light rim keeps the dot visible on dark thumbnails and dark themes alike.
    painter.setPen(QPen(QColor(255, 255, 255, 220), max(1.0, size / 12)))
    painter.setBrush(color)
    inset = max(1.0, size / 12) / 2
    painter.drawEllipse(QRectF(inset, inset, size - 2 * inset, size - 2 * inset))
    if status == ImageStatus.ACCEPTED:
        check = QPainterPath(QPointF(size * 0.28, size * 0.52))
        check.lineTo(QPointF(size * 0.44, size * 0.68))
        check.lineTo(QPointF(size * 0.73, size * 0.34))
        pen = QPen(Qt.GlobalColor.white, max(1.2, size / 8))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(check)
    painter.end()
    return pixmap
