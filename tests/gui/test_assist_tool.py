"""The assisted mask tool (M) as a person uses it: a box around an object, a click that adds
a missed part, one that removes an extra part, Backspace and Ctrl+Z on clicks, Enter, Esc,
undo of the kept mask. Real GrabCut on a small synthetic photo, on the tool's own thread."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from labeler.core.entities import Polygons
from labeler.geometry import mask_to_rle
from labeler.store import ProjectStore

from .conftest import make_photo_project, mask_iou_with
from .test_window import CTRL, SHIFT, K, stored

W, H = 320, 240
DISK = ((110, 120), 50)  # a red disk...
BAR = (175, 100, 240, 140)  # ...touching a blue bar of the same size class


def scene() -> np.ndarray:
    rng = np.random.default_rng(3)
    image = rng.integers(90, 140, (H, W, 3), dtype=np.uint8)  # grey, textured background
    cv2.circle(image, *DISK, (40, 40, 220), -1)
    cv2.rectangle(image, BAR[:2], BAR[2:], (220, 60, 40), -1)
    return image


def truth(which: str) -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    if which == "disk":
        cv2.circle(mask, *DISK, 1, -1)
    else:
        cv2.rectangle(mask, BAR[:2], BAR[2:], 1, -1)
    return mask


@pytest.fixture
def photo_project(tmp_path):
    return make_photo_project(tmp_path, scene(), ("ball", "bar"))


def settled(tool) -> bool:
    return tool.run is not None and not tool.working


def test_box_then_clicks_then_enter_keeps_an_assisted_label(photo_project, open_window, person, qtbot):
    window = open_window(photo_project)
    qtbot.waitUntil(lambda: window.canvas.pixels() is not None)
    me = person(window)
    me.key(K.Key_M)
    tool = window.canvas.tool
    assert tool.name == "assist"
    me.drag([(52, 62), (120, 120), (168, 178)])  # a box around the disk
    qtbot.waitUntil(lambda: settled(tool))
    assert tool.mask is not None
    box_only = tool.mask.full()
    assert mask_iou_with(mask_to_rle(box_only), truth("disk")) > 0.9

    me.click(110, 120, SHIFT)  # remove the middle of it...
    assert len(window.canvas.assist_preview.clicks) == 1  # shown at once, before the answer
    qtbot.waitUntil(lambda: settled(tool))
    assert tool.mask.full()[120, 110] == 0
    me.click(110, 120)  # ...and add it back (a left click adds what is missing)
    qtbot.waitUntil(lambda: settled(tool))
    assert tool.mask.full()[120, 110] == 1

    me.key(K.Key_Backspace)  # drop the last click: the hole is back
    qtbot.waitUntil(lambda: settled(tool))
    assert tool.mask.full()[120, 110] == 0
    me.key(K.Key_Z, CTRL)  # Ctrl+Z drops a click too, not the last edit of the image
    qtbot.waitUntil(lambda: settled(tool))
    assert np.array_equal(tool.mask.full(), box_only) and window.canvas.assist_preview.clicks == []

    me.key(K.Key_Return)
    qtbot.waitUntil(lambda: tool.run is None)  # traced on the worker, then stored
    (label,) = stored(window)[0]
    assert str(label.provenance) == "assisted grabcut"
    assert isinstance(label.shape, Polygons)  # no holes: an editable polygon
    assert mask_iou_with(label.shape, truth("disk")) > 0.9
    assert tool.run is None and window.canvas.assist_preview.clicks == []
    me.key(K.Key_Z, CTRL)  # now Ctrl+Z undoes the label itself
    assert stored(window)[0] == []


def test_a_negative_click_removes_what_is_extra_and_esc_drops_it(photo_project, open_window, person, qtbot):
    window = open_window(photo_project)
    qtbot.waitUntil(lambda: window.canvas.pixels() is not None)
    me = person(window)
    me.key(K.Key_M)
    tool = window.canvas.tool
    me.drag([(52, 62), (245, 178)])  # a box around both: both come
    qtbot.waitUntil(lambda: settled(tool))
    assert tool.mask.full()[120, 205] == 1
    me.click(210, 120, SHIFT)  # Shift+click on the bar: remove it
    qtbot.waitUntil(lambda: settled(tool))
    after = tool.mask.full()
    assert after[120, 210] == 0 and (after & truth("bar")).sum() < 0.5 * truth("bar").sum()
    assert (after & truth("disk")).sum() > 0.9 * truth("disk").sum()  # the disk stays
    me.key(K.Key_Escape)
    assert tool.run is None and stored(window)[0] == []


def test_the_effort_meter_counts_the_box_and_the_clicks(photo_project, open_window, person, qtbot):
    window = open_window(photo_project)
    qtbot.waitUntil(lambda: window.canvas.pixels() is not None)
    me = person(window)
    me.key(K.Key_M)
    tool = window.canvas.tool
    me.drag([(52, 62), (245, 178)])
    qtbot.waitUntil(lambda: settled(tool))
    me.click(210, 120, SHIFT)
    qtbot.waitUntil(lambda: settled(tool))
    me.key(K.Key_Return)
    qtbot.waitUntil(lambda: tool.run is None)
    with ProjectStore.open(photo_project) as store:
        (vertices,) = store.db.execute("SELECT SUM(vertices) FROM effort").fetchone()
    assert vertices == 2  # the box and one click


def test_an_answer_for_a_box_drawn_over_never_shows(photo_project, open_window, person, qtbot, monkeypatch):
    """A second box drawn while the first is still being segmented: the first box's late
    answer is dropped (it carries the same request number as the second's)."""
    import threading

    from labeler.assist.grabcut import GrabCutSegmenter
    from labeler.gui.canvas import assist_runs

    hold, calls, finished = threading.Event(), [], []

    class Slow(GrabCutSegmenter):
        def start(self, image, box):
            calls.append(box)
            if len(calls) == 1:
                hold.wait(30)  # the first box answers only after the second has
            mask = super().start(image, box)
            finished.append(box)
            return mask

    monkeypatch.setattr(assist_runs, "GrabCutSegmenter", Slow)
    window = open_window(photo_project)
    qtbot.waitUntil(lambda: window.canvas.pixels() is not None)
    me = person(window)
    me.key(K.Key_M)
    tool = window.canvas.tool
    me.drag([(185, 95), (230, 145)])  # around the bar: held
    me.drag([(52, 62), (168, 178)])  # redrawn around the disk
    qtbot.waitUntil(lambda: tool.mask is not None)
    disk = tool.mask.full()
    hold.set()
    qtbot.waitUntil(lambda: len(finished) == 2)  # the held box is segmented now...
    QApplication.processEvents()  # ...and its answer delivered: it must change nothing
    assert np.array_equal(tool.mask.full(), disk) and mask_iou_with(mask_to_rle(disk), truth("disk")) > 0.9


def test_the_layers_under_an_assist_tool_are_cached_only_while_the_view_rests(photo_project, open_window, person,
                                                                               qtbot):
    """The cache that keeps the tools' answers under a frame (CanvasView.sync_layers) is on
    with the assisted tools and a resting view, off while it zooms and with the other tools."""
    from PySide6.QtWidgets import QGraphicsItem

    cached, plain = QGraphicsItem.CacheMode.DeviceCoordinateCache, QGraphicsItem.CacheMode.NoCache
    window = open_window(photo_project)
    canvas = window.canvas
    layers = (canvas.image_layer, canvas.selection_item)
    qtbot.waitUntil(lambda: canvas._resting)  # the window's first fit has settled
    assert all(item.cacheMode() == plain for item in layers)  # the select tool
    me = person(window)
    for key in (K.Key_M, K.Key_W, K.Key_S):
        me.key(key)
        assert all(item.cacheMode() == cached for item in layers), key
    canvas.zoom_by(1.5)
    assert all(item.cacheMode() == plain for item in layers)  # moving: drawn as usual
    qtbot.waitUntil(lambda: all(item.cacheMode() == cached for item in layers))  # at rest again
    me.key(K.Key_V)
    assert all(item.cacheMode() == plain for item in layers)
