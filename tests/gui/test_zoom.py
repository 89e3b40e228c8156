"""Wheel and trackpad zoom keep the image point under the cursor where it is.

The events are the ones a real mouse sends: moves across the canvas first (so the view has
seen the pointer, as it has on a real screen), then wheel notches, trackpad steps with only
pixel deltas, and pinch gestures, at several places and zoom levels. On main before the fix
every step moved the point (Qt's own anchor was the scene point of a mouse move the view
never saw)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QNativeGestureEvent, QPointingDevice, QWheelEvent
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import make_project


def under_cursor(canvas, at: QPointF) -> QPointF:
    """The image point at viewport position `at`, without rounding."""
    return canvas.viewportTransform().inverted()[0].map(at)


def wheel(canvas, at: QPointF, angle: int = 0, pixels: int = 0) -> None:
    viewport = canvas.viewport()
    event = QWheelEvent(at, QPointF(viewport.mapToGlobal(at.toPoint())), QPoint(0, pixels), QPoint(0, angle),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, event)
    QApplication.processEvents()


def pinch(canvas, at: QPointF, value: float) -> None:
    viewport = canvas.viewport()
    event = QNativeGestureEvent(Qt.NativeGestureType.ZoomNativeGesture, QPointingDevice.primaryPointingDevice(),
                                2, at, at, QPointF(viewport.mapToGlobal(at.toPoint())), value, QPointF(), 0)
    QApplication.sendEvent(viewport, event)
    QApplication.processEvents()


def shown_position(window) -> tuple[float, float]:
    x, y = window.position_label.text().replace("x", "").split("y")
    return float(x), float(y)


@pytest.mark.parametrize("where", [(40, 30), (200, 150), (370, 25), (15, 285)])
def test_wheel_and_trackpad_zoom_keep_the_point_under_the_cursor(tmp_path, open_window, person, where):
    window = open_window(make_project(tmp_path, sizes=((400, 300),)))
    me, canvas = person(window), window.canvas
    for step in range(5):  # the pointer travels to the spot, as a real mouse does
        me.hover(where[0] * step / 4 + 200 * (1 - step / 4), where[1] * step / 4 + 150 * (1 - step / 4))
    at = QPointF(me.at(*where))
    target = under_cursor(canvas, at)
    scales = [canvas.scale]
    steps = [dict(angle=120)] * 4 + [dict(angle=-120)] * 6 + [dict(angle=15)] * 8 + [dict(pixels=6)] * 5 \
        + [dict(angle=-360)] + [dict(angle=240)]
    for kwargs in steps:
        wheel(canvas, at, **kwargs)
        scales.append(canvas.scale)
        here = under_cursor(canvas, at)
        # one image pixel, or half a screen pixel where a screen pixel is bigger than that
        # (the scroll bars move whole screen pixels)
        tolerance = max(1.0, 0.5 / canvas.scale)
        assert abs(here.x() - target.x()) <= tolerance and abs(here.y() - target.y()) <= tolerance, (kwargs, here, target)
        x, y = shown_position(window)  # the status bar says the same point
        assert abs(x - target.x()) <= tolerance and abs(y - target.y()) <= tolerance
    assert max(scales) > 2 * scales[0] and min(scales) < scales[0]  # it really zoomed, both ways
    move = QMouseEvent(QMouseEvent.Type.MouseMove, at, QPointF(canvas.viewport().mapToGlobal(at.toPoint())),
                       Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas.viewport(), move)  # a move after the zoom, on the same screen pixel,
    x, y = shown_position(window)  # lands on the same image point
    assert abs(x - target.x()) <= 1.0 and abs(y - target.y()) <= 1.0


def test_zooming_in_far_from_fit_view_keeps_the_original_point(tmp_path, open_window, person):
    """From a zoomed-out view (a screen pixel covers several image pixels) to 30x, the point
    first pointed at stays under the cursor to within an image pixel: rounding never piles up."""
    window = open_window(make_project(tmp_path, sizes=((4000, 3000),)))
    me, canvas = person(window), window.canvas
    me.hover(1000, 1000)
    me.hover(1234.5, 876.25)
    at = QPointF(me.at(1234.5, 876.25))
    target = under_cursor(canvas, at)
    assert canvas.scale < 0.5
    while canvas.scale < 30:
        wheel(canvas, at, angle=120)
    here = under_cursor(canvas, at)
    assert abs(here.x() - target.x()) <= 1.0 and abs(here.y() - target.y()) <= 1.0


def test_pinch_zooms_around_the_fingers(tmp_path, open_window, person):
    window = open_window(make_project(tmp_path, sizes=((400, 300),)))
    me, canvas = person(window), window.canvas
    me.hover(300, 80)
    at = QPointF(me.at(300, 80))
    target, before = under_cursor(canvas, at), canvas.scale
    for value in (0.1, 0.1, 0.2, -0.05):
        pinch(canvas, at, value)
    assert canvas.scale > before * 1.3
    here = under_cursor(canvas, at)
    assert abs(here.x() - target.x()) <= 1.0 and abs(here.y() - target.y()) <= 1.0


def test_keyboard_zoom_keeps_the_centre(tmp_path, open_window, person):
    window = open_window(make_project(tmp_path, sizes=((400, 300),)))
    me, canvas = person(window), window.canvas
    centre = QPointF(canvas.viewport().rect().center())
    target = under_cursor(canvas, centre)
    me.key(Qt.Key.Key_Plus)
    me.key(Qt.Key.Key_Plus)
    me.key(Qt.Key.Key_Minus)
    here = under_cursor(canvas, centre)
    assert abs(here.x() - target.x()) <= 1.0 and abs(here.y() - target.y()) <= 1.0
