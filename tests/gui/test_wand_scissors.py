"""The magic wand and the intelligent scissors as a person uses them, on synthetic photos whose
right answer is known: flat-coloured regions on a textured background for the wand (clicks,
Shift and Alt clicks, the tolerance by Ctrl+wheel and by its setter, Backspace, Ctrl+Z, Enter,
Esc), a strong-edged three-lobed shape for the scissors (a few clicks on its outline must trace
it; the straight polygon through the same clicks does not). Real OpenCV on the tools' own
worker threads; the tests wait for their answers, never for a time."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtTest import QTest

from labeler.core.entities import MaskRLE, Polygons
from labeler.gui.canvas.scissors_tool import ScissorsTool
from labeler.gui.canvas.assist_runs import FILL_ALPHA
from tests.gui.conftest import make_photo_project, mask_iou_with
from labeler.gui.canvas.wand_tool import DEFAULT_TOLERANCE, WandTool
from labeler.store import ProjectStore

from .test_window import CTRL, SHIFT, K, stored

ALT = Qt.KeyboardModifier.AltModifier
W, H = 320, 240
SQUARE = (30, 30, 110, 110)  # flat green
DISK = ((210, 70), 40)  # flat red
RING = ((75, 180), 45, 20)  # a flat blue ring round a hole of background
BAR = (170, 150, 300, 225)  # blue rising from 150 to 230 left to right: the tolerance decides how far
FLOWER = ((160, 120), 62, 22)  # radius 62 + 22 cos(3 angle): the scissors' shape


def wand_scene() -> np.ndarray:
    rng = np.random.default_rng(5)
    image = rng.integers(90, 141, (H, W, 3), dtype=np.uint8)  # grey, textured: never within 20 of a shape
    cv2.rectangle(image, SQUARE[:2], (SQUARE[2] - 1, SQUARE[3] - 1), (40, 180, 40), -1)
    cv2.circle(image, *DISK, (40, 40, 220), -1)
    cv2.circle(image, RING[0], RING[1], (220, 60, 40), -1)
    cv2.circle(image, RING[0], RING[2], (120, 120, 120), -1)
    x0, y0, x1, y1 = BAR
    image[y0:y1, x0:x1] = (0, 0, 0)
    image[y0:y1, x0:x1, 0] = bar_blue()
    return image


def bar_blue() -> np.ndarray:
    return np.linspace(150, 230, BAR[2] - BAR[0]).round().astype(np.uint8)


def wand_truth(which: str) -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    if which == "square":
        mask[SQUARE[1]:SQUARE[3], SQUARE[0]:SQUARE[2]] = 1
    elif which == "disk":
        cv2.circle(mask, *DISK, 1, -1)
    elif which == "ring":
        cv2.circle(mask, RING[0], RING[1], 1, -1)
        cv2.circle(mask, RING[0], RING[2], 0, -1)
    return mask


def flower_outline() -> np.ndarray:
    (cx, cy), r, a = FLOWER
    t = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    radius = r + a * np.cos(3 * t)
    return np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], 1)


def flower_point(degrees: float) -> tuple[float, float]:
    (cx, cy), r, a = FLOWER
    t = np.radians(degrees)
    radius = r + a * np.cos(3 * t)
    return float(cx + radius * np.cos(t)), float(cy + radius * np.sin(t))


def scissors_scene() -> np.ndarray:
    rng = np.random.default_rng(8)
    image = rng.integers(150, 196, (H, W, 3), dtype=np.uint8)  # light, textured
    shape = np.zeros((H, W), np.uint8)
    cv2.fillPoly(shape, [np.round(flower_outline()).astype(np.int32)], 1)
    dark = rng.integers(40, 71, (H, W, 3), dtype=np.uint8)
    image[shape > 0] = dark[shape > 0]
    return image


def scissors_truth() -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    cv2.fillPoly(mask, [np.round(flower_outline()).astype(np.int32)], 1)
    return mask


def effort_vertices(project) -> int:
    with ProjectStore.open(project) as store:
        (vertices,) = store.db.execute("SELECT SUM(vertices) FROM effort").fetchone()
    return vertices


def with_tool(window, qtbot, tool_class):
    """Pick the tool with its key, as a person does (W wand, S scissors)."""
    qtbot.waitUntil(lambda: window.canvas.pixels() is not None)
    QTest.keyClick(window.canvas, {"wand": Qt.Key.Key_W, "scissors": Qt.Key.Key_S}[tool_class.name])
    tool = window.canvas.tool
    assert isinstance(tool, tool_class)
    return tool


def shown(tool) -> np.ndarray:
    return tool.mask.full() if tool.mask is not None else np.zeros((H, W), np.uint8)


# --- the wand ----------------------------------------------------------------------------------


@pytest.fixture
def wand_project(tmp_path):
    return make_photo_project(tmp_path, wand_scene())


def test_wand_click_shift_adds_alt_subtracts_backspace_and_enter_keeps(wand_project, open_window, person, qtbot):
    window = open_window(wand_project)
    tool = with_tool(window, qtbot, WandTool)
    me = person(window)
    square, disk = wand_truth("square"), wand_truth("disk")

    me.click(70, 70)  # the flat square, exactly
    assert len(tool.preview_item.clicks) == 1  # the click is marked at once, before the answer
    qtbot.waitUntil(lambda: not tool.working)
    assert np.array_equal(shown(tool), square)
    picture = tool.preview_item.picture  # drawn over the square: its edge opaque, its inside tinted
    assert picture.rect == QRectF(30, 30, 80, 80) and tool.preview_item.boundingRect().contains(picture.rect)
    alpha = picture.pixels[:, :, 3]
    assert alpha[0, 40] == alpha[40, 79] == 255 and alpha[40, 40] == round(255 * FILL_ALPHA)

    me.click(210, 70, SHIFT)  # Shift adds the disk
    qtbot.waitUntil(lambda: not tool.working)
    assert np.array_equal(shown(tool), square | disk)
    me.click(215, 75, ALT)  # Alt takes it away again
    qtbot.waitUntil(lambda: not tool.working)
    assert np.array_equal(shown(tool), square)
    me.key(K.Key_Backspace)  # ...and Backspace undoes that
    qtbot.waitUntil(lambda: not tool.working)
    assert np.array_equal(shown(tool), square | disk)
    assert [c[1] for c in tool.preview_item.clicks] == [True, True]

    me.key(K.Key_Return)  # Enter keeps both, as one instance of two parts
    qtbot.waitUntil(lambda: not tool.working)
    (label,) = stored(window)[0]
    assert str(label.provenance) == "assisted wand"
    assert isinstance(label.shape, Polygons) and len(label.shape.parts) == 2  # no holes: a polygon
    assert mask_iou_with(label.shape, square | disk) > 0.98
    assert tool.run is None and tool.preview_item.clicks == []
    assert window.session.selection == (label.id,)
    assert effort_vertices(wand_project) == 2  # the two clicks that are left


def test_wand_right_click_subtracts_and_ctrl_z_drops_clicks_before_edits(wand_project, open_window, person, qtbot):
    window = open_window(wand_project)
    tool = with_tool(window, qtbot, WandTool)
    me = person(window)
    me.click(70, 70)
    me.click(210, 70, SHIFT)
    me.drag([(205, 65)], button=Qt.MouseButton.RightButton)  # a right click removes, like Alt
    qtbot.waitUntil(lambda: not tool.working)
    assert np.array_equal(shown(tool), wand_truth("square"))

    me.key(K.Key_Z, CTRL)  # Ctrl+Z drops the last click, not the last edit of the image
    qtbot.waitUntil(lambda: not tool.working)
    assert np.array_equal(shown(tool), wand_truth("square") | wand_truth("disk"))
    me.key(K.Key_Z, CTRL)
    me.key(K.Key_Z, CTRL)  # the last click gone: no working mask at all
    assert tool.run is None and tool.steps == [] and tool.preview_item.clicks == []
    assert not tool.key(K.Key_Return, Qt.KeyboardModifier.NoModifier)  # Enter is the window's again

    me.click(205, 65, ALT)  # removing from nothing does nothing
    assert tool.run is None
    me.click(70, 70)
    me.key(K.Key_Return)
    qtbot.waitUntil(lambda: not tool.working)
    assert len(stored(window)[0]) == 1
    me.key(K.Key_Z, CTRL)  # with no mask in the making, Ctrl+Z undoes the kept label
    assert stored(window)[0] == []


def test_a_plain_click_starts_over_and_backspace_brings_the_mask_back(wand_project, open_window, person, qtbot):
    window = open_window(wand_project)
    tool = with_tool(window, qtbot, WandTool)
    me = person(window)
    me.click(70, 70)
    me.click(210, 70, SHIFT)
    me.click(RING[0][0], RING[0][1] - 32)  # no Shift: the ring alone
    qtbot.waitUntil(lambda: not tool.working)
    assert np.array_equal(shown(tool), wand_truth("ring")) and len(tool.preview_item.clicks) == 1
    me.key(K.Key_Backspace)
    qtbot.waitUntil(lambda: not tool.working)
    assert np.array_equal(shown(tool), wand_truth("square") | wand_truth("disk"))
    assert len(tool.preview_item.clicks) == 2


def test_wand_tolerance_by_ctrl_wheel_and_setter_recomputes_the_last_region(wand_project, open_window, person, qtbot):
    window = open_window(wand_project)
    tool = with_tool(window, qtbot, WandTool)
    me = person(window)
    heard = []
    tool.tolerance_listeners.append(heard.append)
    x0, y0, x1, y1 = BAR
    assert tool.tolerance == DEFAULT_TOLERANCE == 20

    me.click(x0 + 0.5, 190)  # blue 150 at the left end: 20 reaches blue 170, a quarter of the bar
    qtbot.waitUntil(lambda: not tool.working)
    narrow = shown(tool)
    columns = int((bar_blue() <= 170).sum())
    assert 30 < columns < 40
    assert narrow.sum() == columns * (y1 - y0) and narrow[y0:y1, x0:x0 + columns].all()

    assert not tool.wheel(120, Qt.KeyboardModifier.NoModifier)  # a plain wheel stays the zoom's
    for _ in range(30):  # thirty notches of Ctrl+wheel, as fast as a hand turns them: +60
        assert tool.wheel(120, CTRL)
    assert tool.tolerance == 80 and heard[-1] == 80 and len(heard) == 30
    qtbot.waitUntil(lambda: not tool.working)
    assert np.array_equal(shown(tool)[y0:y1, x0:x1], np.ones((y1 - y0, x1 - x0), np.uint8))  # the whole bar
    assert shown(tool).sum() == (x1 - x0) * (y1 - y0)  # and nothing else
    assert len(tool.steps) == 1 and tool.steps[0].tolerance == 80  # the same click, redone

    tool.tolerance = 20  # the toolbar slider
    qtbot.waitUntil(lambda: not tool.working)
    assert np.array_equal(shown(tool), narrow)
    tool.wheel(30, CTRL)
    tool.wheel(30, CTRL)  # a trackpad's quarter notches add up: half a step, then one
    assert tool.tolerance == 21
    tool.tolerance = 1000
    assert tool.tolerance == 255

    me.key(K.Key_Escape)  # Esc drops the mask; the tolerance stays for the next one
    assert tool.run is None and tool.preview_item.clicks == [] and tool.tolerance == 255
    qtbot.waitUntil(lambda: not tool.working)
    assert stored(window)[0] == []


def test_a_wand_region_with_a_hole_is_kept_as_a_mask(wand_project, open_window, person, qtbot):
    window = open_window(wand_project)
    tool = with_tool(window, qtbot, WandTool)
    me = person(window)
    me.click(RING[0][0] + 32, RING[0][1])  # on the ring, between its hole and its rim
    qtbot.waitUntil(lambda: not tool.working)
    assert np.array_equal(shown(tool), wand_truth("ring"))
    me.key(K.Key_Enter)
    qtbot.waitUntil(lambda: not tool.working)
    (label,) = stored(window)[0]
    assert isinstance(label.shape, MaskRLE) and str(label.provenance) == "assisted wand"
    assert mask_iou_with(label.shape, wand_truth("ring")) == 1.0
    assert effort_vertices(wand_project) == 1


# --- the scissors ------------------------------------------------------------------------------


@pytest.fixture
def scissors_project(tmp_path):
    return make_photo_project(tmp_path, scissors_scene())


CLICKS = [flower_point(d) for d in (0, 100, 200, 290)]  # four clicks on the outline of a three-lobed shape


def straight_polygon(points) -> Polygons:
    return Polygons(((tuple((x + 0.5, y + 0.5) for x, y in np.floor(points).tolist()),),))


def near_outline(points: np.ndarray, tolerance: float = 2.0) -> float:
    """The share of path pixels (centres) within `tolerance` px of the shape's true outline."""
    contour = flower_outline().astype(np.float32).reshape(-1, 1, 2)
    d = [abs(cv2.pointPolygonTest(contour, (float(x) + 0.5, float(y) + 0.5), True)) for x, y in points]
    return float(np.mean(np.array(d) <= tolerance))


def test_scissors_trace_the_shape_with_four_clicks_and_the_first_vertex_closes(scissors_project, open_window,
                                                                               person, qtbot):
    window = open_window(scissors_project)
    tool = with_tool(window, qtbot, ScissorsTool)
    me = person(window)
    truth = scissors_truth()
    assert mask_iou_with(straight_polygon(CLICKS), truth) < 0.8  # the same clicks with the polygon tool miss a lot

    for x, y in CLICKS:
        me.hover(x, y)
        me.click(x, y)
        qtbot.waitUntil(lambda: tool.ready)
    assert len(tool.vertices) == 4 and all(s is not None and len(s) > 10 for s in tool.segments)
    for segment in tool.segments:  # each fixed segment runs along the outline, not across
        assert near_outline(segment) > 0.9
    me.hover(*flower_point(330))
    assert tool.live_traced and near_outline(tool.live) > 0.9  # the live segment follows the edge too

    me.click(*CLICKS[0])  # the first vertex closes it, the way back following the edge
    qtbot.waitUntil(lambda: not tool.working)
    (label,) = stored(window)[0]
    assert str(label.provenance) == "assisted scissors"
    assert isinstance(label.shape, Polygons)
    assert mask_iou_with(label.shape, truth) > 0.9
    assert tool.run is None and window.canvas.preview.vertex_markers == 0
    assert effort_vertices(scissors_project) == 4  # its four vertices


def test_scissors_preview_is_straight_until_the_map_is_built(scissors_project, open_window, person, qtbot):
    window = open_window(scissors_project)
    tool = with_tool(window, qtbot, ScissorsTool)
    me = person(window)
    me.click(*CLICKS[0])
    qtbot.waitUntil(lambda: tool.ready)
    gate = threading.Event()
    tool.run.pool.submit(gate.wait)  # hold the worker: the next vertex's map is not built yet
    try:
        me.click(*CLICKS[1])
        me.hover(*flower_point(150))
        assert not tool.ready and not tool.live_traced and len(tool.live) == 2  # a straight segment
        assert tool.segments == [None]  # the fixed segment too, until the worker answers
        assert window.canvas.preview.vertex_markers == 2
    finally:
        gate.set()
    qtbot.waitUntil(lambda: tool.ready)
    assert tool.segments[0] is not None and near_outline(tool.segments[0]) > 0.9
    me.hover(*flower_point(150))
    assert tool.live_traced and len(tool.live) > 10 and near_outline(tool.live) > 0.9
    me.key(K.Key_Escape)  # Esc cancels the polygon: nothing stored, nothing drawn
    assert tool.run is None and window.canvas.preview.vertex_markers == 0
    assert stored(window)[0] == []


def test_scissors_backspace_and_ctrl_z_drop_segments_and_enter_closes(scissors_project, open_window, person, qtbot):
    window = open_window(scissors_project)
    tool = with_tool(window, qtbot, ScissorsTool)
    me = person(window)
    wrong = (40.0, 40.0)  # a click off the shape, in the background
    for x, y in CLICKS[:2] + [wrong, (250.0, 200.0)]:
        me.click(x, y)
    me.key(K.Key_Backspace)
    me.key(K.Key_Z, CTRL)  # Ctrl+Z drops a vertex too, not an edit of the image
    assert len(tool.vertices) == 2 and len(tool.segments) == 1
    for x, y in CLICKS[2:]:
        me.click(x, y)
    qtbot.waitUntil(lambda: tool.ready)
    assert len(tool.vertices) == 4 and all(near_outline(s) > 0.9 for s in tool.segments)

    me.key(K.Key_Return)  # Enter closes it along the edge
    qtbot.waitUntil(lambda: not tool.working)
    (label,) = stored(window)[0]
    assert mask_iou_with(label.shape, scissors_truth()) > 0.9
    me.key(K.Key_Z, CTRL)  # nothing being drawn: Ctrl+Z undoes the polygon
    assert stored(window)[0] == []


def test_scissors_need_three_vertices_and_backspace_on_the_first_cancels(scissors_project, open_window, person,
                                                                         qtbot):
    window = open_window(scissors_project)
    tool = with_tool(window, qtbot, ScissorsTool)
    me = person(window)
    me.click(*CLICKS[0])
    me.click(*CLICKS[1])
    me.click(*CLICKS[1])  # a double click is one vertex
    me.key(K.Key_Return)
    assert len(tool.vertices) == 2 and tool.run is not None  # not closed: a message says why
    me.key(K.Key_Backspace)
    me.key(K.Key_Backspace)
    assert tool.run is None and tool.vertices == []
    assert not tool.key(K.Key_Backspace, Qt.KeyboardModifier.NoModifier)
    qtbot.waitUntil(lambda: not tool.working)
    assert stored(window)[0] == []
