"""The cached shape layer: what it draws, incremental repaints equal a fresh render, hit
testing picks the most specific shape."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QImage

from labeler.core.entities import Instance, Polygons
from labeler.geometry import mask_to_rle
from labeler.gui.canvas.shape_layer import ShapeLayer

RED, BLUE = QColor("#ff0000"), QColor("#0000ff")


def square(iid, x0, y0, x1, y1, category=1):
    return Instance(iid, 1, category, Polygons.rectangle(x0, y0, x1, y1))


def pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_ARGB32)
    return np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.width(), 4).copy()


@pytest.fixture
def layer(qapp):
    layer = ShapeLayer()
    layer.set_shapes(4000, 3000, [square(1, 100, 100, 900, 700), square(2, 300, 300, 500, 500, 2)],
                     {1: RED, 2: BLUE})
    return layer


def tile_at(layer, x, y):
    """The cached base-level tile containing image point (x, y) and its pixel there."""
    level = layer._base_level
    key = layer._tile_keys(level, QRectF(x, y, 0.1, 0.1))[0]
    f = 2.0 ** level
    rect = layer._tile_rect(key)
    return key, int((x - rect.left()) * f), int((y - rect.top()) * f)


def test_base_tiles_hold_the_fills(layer):
    key, px, py = tile_at(layer, 200, 200)
    b, g, r, a = pixels(layer._tiles[key])[py, px]
    assert r > 0 and b == 0 and 0 < a < 255  # translucent red
    key, px, py = tile_at(layer, 400, 400)
    b, g, r, a = pixels(layer._tiles[key])[py, px]
    assert b > 0 and r == 0  # the blue square lies on top and covers the red
    key, px, py = tile_at(layer, 2000, 2000)
    assert pixels(layer._tiles[key])[py, px][3] == 0


@pytest.mark.parametrize("edit", ["move", "exclude", "delete", "add_mask"])
def test_incremental_repaint_equals_a_fresh_render(layer, edit):
    if edit == "move":
        layer.update_instances([square(2, 600, 350, 800, 650, 2)])
    elif edit == "exclude":
        layer.set_excluded({2})
    elif edit == "delete":
        layer.update_instances([], {2})
    else:
        mask = np.zeros((3000, 4000), np.uint8)
        mask[800:1200, 1000:1500] = 1
        layer.update_instances([Instance(3, 1, 2, mask_to_rle(mask))])
    for key, cached in layer._tiles.items():
        fresh = layer._render_tile(key)
        assert np.array_equal(pixels(cached), pixels(fresh)), key


def test_instance_at_prefers_the_smallest_shape_and_skips_excluded(layer):
    assert layer.instance_at(QPointF(400, 400), 1.0) == 2
    assert layer.instance_at(QPointF(150, 150), 1.0) == 1
    assert layer.instance_at(QPointF(98, 150), 3.0) == 1  # near the outline counts
    assert layer.instance_at(QPointF(2000, 2000), 1.0) is None


def test_a_view_shows_coarse_tiles_at_once_and_sharp_ones_after_settling(layer, qtbot):
    from PySide6.QtWidgets import QGraphicsScene, QGraphicsView

    scene = QGraphicsScene()
    scene.addItem(layer)
    view = QGraphicsView(scene)
    view.resize(400, 300)
    view.show()
    qtbot.waitExposed(view)
    view.scale(2.0, 2.0)  # far sharper than the base level
    view.centerOn(400, 400)
    center = view.viewport().grab().toImage().pixelColor(200, 150)
    assert layer._queue  # finer tiles wanted ...
    assert center.blue() > center.red()  # ... but the blue square is on screen already
    qtbot.waitUntil(lambda: not layer._queue and not layer._timer.isActive())
    assert any(k[0] == 1 for k in layer._tiles)
