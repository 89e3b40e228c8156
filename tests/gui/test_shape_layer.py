"""The cached shape layer: what it draws, incremental repaints equal a fresh render, hit
testing picks the most specific shape."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView

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


def render(layer, scale=0.5) -> np.ndarray:
    """The layer as a scene paints it over the whole image at `scale` device pixels per image
    pixel (0.5: the level it renders when shapes are loaded), as ARGB pixels."""
    scene = layer.scene() or QGraphicsScene()
    if layer.scene() is None:
        scene.addItem(layer)
    rect = layer.boundingRect()
    image = QImage(int(rect.width() * scale), int(rect.height() * scale), QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    scene.render(painter, QRectF(image.rect()), rect)
    painter.end()
    out = pixels(image)
    scene.removeItem(layer)  # the scene does not own it: the test's layer stays alive
    return out


def test_the_fills_are_drawn(layer):
    b, g, r, a = render(layer)[100, 100]  # image point (200, 200)
    assert r > 0 and b == 0 and 0 < a < 255  # translucent red
    b, g, r, a = render(layer)[200, 200]  # (400, 400)
    assert b > 0 and r == 0  # the blue square lies on top and covers the red
    assert render(layer)[1000, 1000][3] == 0  # (2000, 2000): nothing


@pytest.mark.parametrize("edit", ["move", "exclude", "delete", "add_mask"])
def test_incremental_repaint_equals_a_fresh_render(layer, edit):
    instances = [square(1, 100, 100, 900, 700), square(2, 300, 300, 500, 500, 2)]
    excluded: set[int] = set()
    if edit == "move":
        instances[1] = square(2, 600, 350, 800, 650, 2)
        layer.update_instances([instances[1]])
    elif edit == "exclude":
        excluded = {2}
        layer.set_excluded(excluded)
    elif edit == "delete":
        del instances[1]
        layer.update_instances([], {2})
    else:
        mask = np.zeros((3000, 4000), np.uint8)
        mask[800:1200, 1000:1500] = 1
        instances.append(Instance(3, 1, 2, mask_to_rle(mask)))
        layer.update_instances([instances[-1]])
    fresh = ShapeLayer()
    fresh.set_shapes(4000, 3000, instances, {1: RED, 2: BLUE}, excluded)
    assert np.array_equal(render(layer), render(fresh))


def test_instance_at_prefers_the_smallest_shape_and_skips_excluded(layer):
    assert layer.instance_at(QPointF(400, 400), 1.0) == 2
    assert layer.instance_at(QPointF(150, 150), 1.0) == 1
    assert layer.instance_at(QPointF(98, 150), 3.0) == 1  # near the outline counts
    assert layer.instance_at(QPointF(2000, 2000), 1.0) is None


def test_a_view_shows_coarse_tiles_at_once_and_sharp_ones_after_settling(layer, qtbot):
    scene = QGraphicsScene()
    scene.addItem(layer)
    view = QGraphicsView(scene)
    view.resize(400, 300)
    view.show()
    qtbot.waitExposed(view)

    def steepest_step() -> int:
        """Along the middle row: the largest change of red between two neighbouring pixels
        (the blue square's right edge, at x 500, lies in the middle of the view)."""
        row = pixels(view.viewport().grab().toImage())[150, :, 2].astype(int)
        assert row[20] < 200 < row[380]  # the blue square on the left, the red one on the right
        return int(np.abs(np.diff(row)).max())

    view.scale(8.0, 8.0)  # far sharper than any tile rendered yet
    view.centerOn(500, 400)
    assert steepest_step() < 40  # on screen at once, magnified from a coarse tile: blurred
    qtbot.waitUntil(lambda: steepest_step() > 100)  # sharp tiles rendered once the view settles
