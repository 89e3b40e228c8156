"""How one instance looks: its outline path, its mask image, its pen and brush.

Shared by the cached shape layer (everything nobody is touching) and the live items (the
selection, the shape being drawn), so that a shape looks the same in both.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainterPath, QPen, QPolygonF

from ...core.entities import Instance, InstanceStatus, MaskRLE, Polygons
from ...geometry import rle_to_mask

OUTLINE_WIDTH = 1.0  # screen pixels at every zoom; Qt draws cosmetic pens up to 1 px on a fast path


def ring_polygon(ring) -> QPolygonF:
    return QPolygonF([QPointF(x, y) for x, y in ring])


def polygons_path(shape: Polygons) -> QPainterPath:
    """Every ring as a closed subpath; odd-even filling leaves the holes empty."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    for part in shape.parts:
        for ring in part:
            path.addPolygon(ring_polygon(ring))
            path.closeSubpath()
    return path


def mask_image(shape: MaskRLE, color: QColor, alpha: int) -> tuple[QImage, QRectF] | None:
    """The mask's pixels inside its bounding box as a tinted, transparent image."""
    mask = rle_to_mask(shape)
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not len(ys):
        return None
    y0, y1, x0, x1 = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
    crop = mask[y0:y1, x0:x1]
    rgba = np.zeros(crop.shape + (4,), np.uint8)
    # Premultiplied ARGB32 in memory order B, G, R, A (little endian).
    a = alpha / 255.0
    rgba[crop > 0] = (round(color.blue() * a), round(color.green() * a), round(color.red() * a), alpha)
    h, w = crop.shape
    image = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied).copy()
    return image, QRectF(float(x0), float(y0), float(w), float(h))


def outline_pen(color: QColor, proposed: bool, width: float = OUTLINE_WIDTH) -> QPen:
    pen = QPen(color, width)
    pen.setCosmetic(True)  # the same width on screen at every zoom
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    if proposed:
        pen.setStyle(Qt.PenStyle.DashLine)  # suggestions look different from labels
    return pen


def fill_brush(color: QColor, alpha: int) -> QBrush:
    fill = QColor(color)
    fill.setAlpha(alpha)
    return QBrush(fill)


def is_proposed(instance: Instance) -> bool:
    return instance.status == InstanceStatus.PROPOSED
