"""Intelligent scissors (S): a polygon whose segment from the last vertex to the cursor
follows the edges of the image (labeler.assist.scissors, OpenCV IntelligentScissorsMB).

Each click fixes a vertex: the segment that reaches it is kept as the edge path shown at
that moment, and the shortest-path map from it (the slow step, about 0.3 s for a
1024 x 1024 window) is built on the polygon's worker thread. Until the map is there the
preview from that vertex is a straight line; once it is, every mouse move reads the edge
path to the cursor from the map on the GUI thread (`Scissors.path_to`, a fraction of a
millisecond: benchmarks/tools_latency.py). Clicking the first vertex or Enter closes the
polygon, the path back to the first vertex following edges too; Backspace or Ctrl+Z drops
the last vertex and its segment; Esc cancels.

The kept polygon is an ordinary instance with provenance "assisted scissors"; its outline
runs through the centres of the edge pixels, simplified at SIMPLIFY_TOLERANCE. The effort
meter counts its vertices (the clicks that placed them), as it does for a hand polygon.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import cv2
import numpy as np
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QPainterPath, QPolygonF

from ...assist.scissors import Scissors
from ...core.entities import Polygons
from ...geometry import from_shapely, simplify, to_shapely
from .tools import CLOSE_DISTANCE, CanvasEvent, Tool

SIMPLIFY_TOLERANCE = 0.7
"""Douglas-Peucker tolerance (image pixels) of the stored polygon. The traced path is a
chain of 8-connected pixels whose staircase is no detail of the object. Measured on the
tests' three-lobed shape traced with four clicks (tests/gui/test_wand_scissors.py): 436
vertices unsimplified; 0.5 px keeps 135 (mask IoU with the unsimplified outline 0.995),
0.7 px 89 (0.991), 1 px 38 (0.987); against the true shape all of them score 0.988."""
DISPLAY_TOLERANCE = 0.4  # screen pixels: the preview's polyline is simplified this much
HINT = "Scissors: click the first vertex or Enter closes, Backspace undoes"  # fits the status bar


def outline(paths: list[np.ndarray], tolerance: float = SIMPLIFY_TOLERANCE) -> Polygons | None:
    """The closed polygon through pixel paths (pixel indices, each starting where the last
    ended), through the pixel centres; self-crossings repaired, then simplified."""
    points = np.concatenate(paths).astype(np.float64) + 0.5
    keep = np.ones(len(points), bool)
    keep[1:] = np.any(points[1:] != points[:-1], axis=1)
    ring = tuple(map(tuple, points[keep].tolist()))
    if len(ring) < 3:
        return None
    shape = from_shapely(to_shapely(Polygons(((ring,),))))
    return simplify(shape, tolerance) if shape is not None and tolerance > 0 else shape


class _Relay(QObject):
    done = Signal(int, int, object, str)  # number, vertex serial, the path that reached it | None, error
    closed = Signal(int, object, str)  # number, Polygons | None, error


class ScissorsRun:
    """One polygon's worker thread and its Scissors. The worker keeps its own list of
    vertices and segments, in step with the tool's (jobs run in the order asked), so the
    closing job knows the whole outline. `scissors.path_to` may be called from the GUI
    thread only while no job is running (the tool's `ready`)."""

    def __init__(self, pixels: np.ndarray, on_done, on_closed) -> None:
        self.scissors = Scissors(pixels[:, :, :3] if pixels.ndim == 3 and pixels.shape[2] == 4 else pixels)
        self._vertices: list[tuple[float, float]] = []  # worker thread only
        self._segments: list[np.ndarray] = []
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="labeler-scissors")
        self._relay = _Relay()
        self._relay.done.connect(partial(on_done, self))
        self._relay.closed.connect(partial(on_closed, self))
        self.asked = 0
        self.target: tuple[int, int, int] | None = None  # on close: (image id, class id, clicks)

    def add(self, serial: int, x: float, y: float) -> int:
        return self._ask(serial, partial(self._add, x, y))

    def undo(self) -> int:
        return self._ask(-1, self._undo)

    def close(self) -> int:
        """Trace the way back to the first vertex and make the polygon (answered on `closed`)."""
        self.asked += 1
        self.pool.submit(self._close, self.asked)
        self.pool.shutdown(wait=False)
        return self.asked

    def drop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _ask(self, serial: int, job) -> int:
        self.asked += 1
        self.pool.submit(self._run, self.asked, serial, job)
        return self.asked

    # --- on the worker thread -----------------------------------------------------------------

    def _run(self, number: int, serial: int, job) -> None:
        try:
            path, error = job(), ""
        except Exception as exc:  # noqa: BLE001 - reported in the window, the tool stays usable
            path, error = None, f"{type(exc).__name__}: {exc}"
        self._emit(self._relay.done, number, serial, path, error)

    def _add(self, x: float, y: float) -> np.ndarray | None:
        path = None
        if self._vertices:
            self._segments.append(_straight(self._vertices[-1], (x, y)))  # kept if the trace fails
        self._vertices.append((x, y))  # in step with the tool's vertices, whatever fails below
        if len(self._vertices) > 1:
            path = self._segments[-1] = self.scissors.path_to(x, y)
        self.scissors.fix(x, y)
        return path

    def _undo(self) -> None:
        self._vertices.pop()
        self._segments.pop()
        self.scissors.fix(*self._vertices[-1])

    def _close(self, number: int) -> None:
        try:
            shape = outline(self._segments + [self.scissors.path_to(*self._vertices[0])])
            error = ""
        except Exception as exc:  # noqa: BLE001
            shape, error = None, f"{type(exc).__name__}: {exc}"
        self._emit(self._relay.closed, number, shape, error)

    @staticmethod
    def _emit(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the window is gone
            pass


def _straight(a: tuple[float, float], b: tuple[float, float]) -> np.ndarray:
    return np.array([[math.floor(a[0]), math.floor(a[1])], [math.floor(b[0]), math.floor(b[1])]], np.int32)


class ScissorsTool(Tool):
    name = "scissors"
    caches_layers = True  # CanvasView.sync_layers

    def __init__(self, host) -> None:
        super().__init__(host)
        self.run: ScissorsRun | None = None
        self.vertices: list[QPointF] = []  # the fixed vertices (pixel centres)
        self.segments: list[np.ndarray | None] = []  # vertex i -> i+1, pixel indices; None: not traced yet
        self.live: np.ndarray | None = None  # the segment last shown from the last vertex to the cursor
        self.live_traced = False  # ...and whether it follows edges (False: the straight line)
        self._serials: list[int] = []
        self._next_serial = 0
        self._answered = 0
        self._closing: set[ScissorsRun] = set()
        self._cursor: QPointF | None = None
        self._fixed: QPainterPath | None = None  # the fixed segments' path, rebuilt when they change

    # --- state -----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """The map from the last vertex is built (and the worker is idle)."""
        return self.run is not None and self._answered == self.run.asked

    @property
    def working(self) -> bool:
        return bool(self._closing) or (self.run is not None and not self.ready)

    # --- mouse and keys ------------------------------------------------------------------------

    def press(self, ev: CanvasEvent) -> None:
        if ev.button != Qt.MouseButton.LeftButton:
            return
        if len(self.vertices) >= 3 and self._near_first(ev.pos):
            self.finish()
            return
        w, h = self.host.image_size()
        self.add_vertex(min(max(ev.pos.x(), 0.0), w - 1e-3), min(max(ev.pos.y(), 0.0), h - 1e-3))

    def move(self, ev: CanvasEvent, dragging: bool) -> None:
        self._cursor = self._clamp(ev.pos)
        if self.vertices:
            self._show()

    def add_vertex(self, x: float, y: float) -> None:
        vertex = QPointF(math.floor(x) + 0.5, math.floor(y) + 0.5)
        if self.vertices and vertex == self.vertices[-1]:
            return  # a second click on the same pixel (a double click) adds nothing
        if self.run is None:
            pixels = self.host.pixels()  # type: ignore[attr-defined]
            if pixels is None:
                self.session.message.emit("The image is still loading (or cannot be read); click again in a moment")
                return
            self.run, self._answered = ScissorsRun(pixels, self._on_done, self._on_closed), 0
        self._next_serial += 1
        self.vertices.append(vertex)
        self._serials.append(self._next_serial)
        if len(self.vertices) > 1:
            self.segments.append(None)
        self.run.add(self._next_serial, x, y)
        self._fixed = None
        self._show()
        self.host.hint("Scissors: finding the edges around the vertex...")

    def undo(self) -> bool:
        """Backspace or Ctrl+Z: drop the last vertex and the segment to it."""
        if self.run is None or not self.vertices:
            return False
        if len(self.vertices) == 1:
            self.cancel()
            return True
        self.vertices.pop()
        self._serials.pop()
        self.segments.pop()
        self.run.undo()
        self._fixed = None
        self._show()
        return True

    def finish(self) -> bool:
        """Close the polygon (the first vertex clicked, or Enter); the worker traces the way
        back and the polygon is added when it answers (the tool is free at once)."""
        if self.run is None:
            return False
        if len(self.vertices) < 3:
            self.session.message.emit("A polygon needs at least 3 vertices")
            return True
        return self._hand_over(self._closing, len(self.vertices), lambda run: run.close(),
                               "Scissors: closing the polygon...")

    def key(self, key: int, modifiers) -> bool:
        return self._run_keys(key, self.finish)

    def cancel(self) -> None:
        if self.run is not None:
            self.run.drop()
        self.run, self.vertices, self.segments, self._serials = None, [], [], []
        self.live, self.live_traced, self._fixed = None, False, None
        super().cancel()
        self.host.hint("")

    # --- answers -------------------------------------------------------------------------------

    def _on_done(self, run: ScissorsRun, number: int, serial: int, path, error: str) -> None:
        if run is not self.run:
            return
        self._answered = max(self._answered, number)
        if error:
            self.session.message.emit(f"Scissors: {error}")
        if path is not None and serial in self._serials:
            index = self._serials.index(serial)
            if index > 0:
                self.segments[index - 1] = path
                self._fixed = None
        if self.ready:
            self.host.hint(HINT)
        self._show()

    def _on_closed(self, run: ScissorsRun, number: int, shape, error: str) -> None:
        self._closing.discard(run)
        image_id, category_id, gestures = run.target  # type: ignore[misc]
        if error or shape is None:
            self.session.message.emit(f"Scissors: {error}" if error else "That polygon has no area; nothing added")
            return
        self._add_assisted(image_id, category_id, shape, "scissors", "Intelligent scissors", gestures)
        if self.run is None:
            self.host.hint("")

    # --- preview -------------------------------------------------------------------------------

    def _near_first(self, pos: QPointF) -> bool:
        d = pos - self.vertices[0]
        return math.hypot(d.x(), d.y()) * self.host.scale <= CLOSE_DISTANCE

    def _points(self, path: np.ndarray) -> list[QPointF]:
        """A pixel path as preview points (pixel centres), simplified to what the screen shows."""
        eps = DISPLAY_TOLERANCE / max(self.host.scale, 1e-6)
        if len(path) > 2:
            path = cv2.approxPolyDP(path.reshape(-1, 1, 2), eps, False).reshape(-1, 2)
        return [QPointF(x + 0.5, y + 0.5) for x, y in path.tolist()]

    def _fixed_path(self) -> QPainterPath:
        if self._fixed is None:
            points = [self.vertices[0]]
            for i, segment in enumerate(self.segments):
                points.extend(self._points(segment)[1:] if segment is not None else [self.vertices[i + 1]])
            self._fixed = QPainterPath()
            self._fixed.addPolygon(QPolygonF(points))
        return self._fixed

    def _show(self) -> None:
        if not self.vertices:
            return
        path = QPainterPath(self._fixed_path())
        self.live, self.live_traced = None, False
        if self._cursor is not None:
            last = self.vertices[-1]
            if self.run is not None and self.ready:
                try:
                    self.live = self.run.scissors.path_to(self._cursor.x(), self._cursor.y())
                    self.live_traced = True
                except Exception:  # noqa: BLE001 - a failed fix was reported; draw straight
                    self.live = None
            if self.live is None:
                self.live = _straight((last.x(), last.y()), (self._cursor.x(), self._cursor.y()))
            points = self._points(self.live)[1:] if self.live_traced else [self._cursor]
            for point in points:
                path.lineTo(point)
        color = self.host.category_color(self.session.current_category_id)
        self.host.preview.show_path(path, color, vertices=self.vertices)
