"""How long the assist tools keep the GUI thread, and how long their answers take.

Drives the magic wand, the intelligent scissors and the box-and-clicks GrabCut tool in the
real main window (offscreen, a 1600 x 900 canvas) on a synthetic photo of 12 MP
(4000 x 3000) and of 1 MP (1155 x 866): a flat sky, a textured ground, a dark three-lobed
object with strong edges and a flat red disk. Each step is a gesture as a person makes it
(mouse events sent to the canvas, the window's own Enter and Ctrl+Z slots), then the event
loop runs until the tool has answered. Per step it prints

  * answer: from the gesture to the tool's answer on screen (the wand's region, the
    scissors' shortest-path map, GrabCut's mask; for Enter, the instance stored);
  * longest event: the longest the GUI thread spent in one event (QApplication.notify
    timed for every event: mouse, key, the worker's answer arriving, repaints), or in the
    gesture's own call when it is one; the event kind in brackets;
  * longest gap: the longest stretch between two ticks of a 1 ms QTimer (a cross-check:
    everything that kept the loop from running, whatever it was).

A frame is 16.7 ms. It prints figures; it never asserts.

    python benchmarks/tools_latency.py [--sizes 12,1] [--moves 60]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QPoint, QPointF, QSignalBlocker, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QMouseEvent, QWheelEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

SIZES = {12: (4000, 3000), 1: (1155, 866)}
FRAME_MS = 1000 / 60
L, R, N = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton, Qt.MouseButton.NoButton
NONE, SHIFT, CTRL = Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier, \
    Qt.KeyboardModifier.ControlModifier


def flower(w: int, h: int, degrees: float) -> tuple[float, float]:
    """A point on the dark object's outline."""
    cx, cy, r, a = 0.42 * w, 0.64 * h, 0.17 * h, 0.06 * h
    t = math.radians(degrees)
    radius = r + a * math.cos(3 * t)
    return cx + radius * math.cos(t), cy + radius * math.sin(t)


def photo(w: int, h: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    ground = rng.normal(0, 18, (h // 4, w // 4, 3)).astype(np.float32)
    ground = cv2.resize(cv2.GaussianBlur(ground, (0, 0), 1.5), (w, h)) + (70, 120, 95)
    image = np.clip(ground + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)
    sky = int(0.35 * h)
    ramp = np.linspace(0, 8, sky, dtype=np.float32)[:, None, None]
    image[:sky] = np.clip((205, 165, 115) + ramp + rng.normal(0, 1.5, (sky, w, 3)), 0, 255).astype(np.uint8)
    outline = np.array([flower(w, h, d) for d in np.arange(0, 360, 0.5)], np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [outline], 1)
    dark = np.clip(rng.normal(48, 6, (h, w, 3)), 0, 255).astype(np.uint8)
    image[mask > 0] = dark[mask > 0]
    cv2.circle(image, (int(0.8 * w), int(0.66 * h)), int(0.08 * h), (40, 40, 215), -1)
    return image


def make_project(root: Path, w: int, h: int) -> Path:
    from labeler.imaging import find_images, scan_images
    from labeler.formats.common import add_image_files
    from labeler.store import ProjectStore

    images = root / "images"
    images.mkdir(parents=True)
    cv2.imwrite(str(images / f"photo_{w}x{h}.jpg"), photo(w, h), [cv2.IMWRITE_JPEG_QUALITY, 92])
    project = root / "project"
    with ProjectStore.create(project, images, ["object", "sky"]) as store:
        infos, _ = scan_images(find_images(images))
        add_image_files(store, infos)
    return project


class TimedApp(QApplication):
    """Times every event the GUI thread handles (the outermost notify only: nested events
    are part of the one that sent them)."""

    def __init__(self, argv) -> None:
        super().__init__(argv)
        self.depth = 0
        self.longest, self.kind = 0.0, ""

    def reset(self) -> None:
        self.longest, self.kind = 0.0, ""

    def record(self, ms: float, kind: str) -> None:
        if ms > self.longest:
            self.longest, self.kind = ms, kind

    def notify(self, receiver, event) -> bool:
        if self.depth:
            return super().notify(receiver, event)
        kind = event.type()
        self.depth += 1
        start = time.perf_counter()
        try:
            return super().notify(receiver, event)
        finally:
            self.depth -= 1
            self.record((time.perf_counter() - start) * 1000, _name(kind))


def _name(kind) -> str:
    try:
        return QEvent.Type(kind).name
    except ValueError:
        return str(int(kind))


class Heartbeat:
    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(1)
        self.timer.timeout.connect(self._tick)
        self.reset()
        self.timer.start()

    def reset(self) -> None:
        self.last = time.perf_counter()
        self.longest = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, (now - self.last) * 1000)
        self.last = now


class Bench:
    def __init__(self, app: TimedApp, window, size: str) -> None:
        self.app, self.window, self.canvas, self.size = app, window, window.canvas, size
        self.beat = Heartbeat()
        self.rows: list[tuple] = []

    def send(self, kind, xy, button=N, buttons=N, modifiers=NONE) -> None:
        viewport = self.canvas.viewport()
        pos = QPointF(self.canvas.mapFromScene(QPointF(*xy)))
        event = QMouseEvent(kind, pos, QPointF(viewport.mapToGlobal(pos.toPoint())), button, buttons, modifiers)
        QApplication.sendEvent(viewport, event)

    def click(self, xy, modifiers=NONE, button=L) -> None:
        self.send(QMouseEvent.Type.MouseMove, xy, N, N, modifiers)
        self.send(QMouseEvent.Type.MouseButtonPress, xy, button, button, modifiers)
        self.send(QMouseEvent.Type.MouseButtonRelease, xy, button, N, modifiers)

    def wheel_hooked(self, tool) -> bool:
        """Does Ctrl+wheel over the canvas reach the tool (the canvas's wheel hook is wired)?"""
        before, transform = tool.tolerance, self.canvas.transform()
        self.wheel_event(1, CTRL)
        if tool.tolerance != before:
            tool.tolerance = before
            return True
        self.canvas.setTransform(transform)  # it zoomed instead: put the view back
        self.canvas.fit()
        return False

    def wheel_event(self, notches: int, modifiers) -> None:
        viewport = self.canvas.viewport()
        pos = QPointF(viewport.rect().center())
        QApplication.sendEvent(viewport, QWheelEvent(pos, QPointF(viewport.mapToGlobal(pos.toPoint())), QPoint(0, 0),
                                                     QPoint(0, 120 * notches), N, modifiers,
                                                     Qt.ScrollPhase.NoScrollPhase, False))

    def step(self, tool: str, label: str, action, done, timeout: float = 900.0, whole: bool = True) -> None:
        """`whole`: the action is one gesture (its own time counts as one event); else it
        times its parts itself."""
        self.app.processEvents()
        self.app.reset()
        self.beat.reset()
        start = time.perf_counter()
        action()
        if whole:
            self.app.record((time.perf_counter() - start) * 1000, "the gesture")
        while not done() and time.perf_counter() - start < timeout:
            self.app.processEvents()
            time.sleep(0.0005)
        answer = (time.perf_counter() - start) * 1000 if done() else float("nan")
        until = time.perf_counter() + 0.05
        while time.perf_counter() < until:  # the repaints that follow the answer
            self.app.processEvents()
            time.sleep(0.0005)
        self.rows.append((tool, self.size, label, answer, self.app.longest, self.app.kind, self.beat.longest))
        print(f"{tool:>9} {self.size:>6} {label:<44} {answer:>9.1f} {self.app.longest:>9.1f} "
              f"[{self.app.kind}] {self.beat.longest:>7.1f}", flush=True)

    def moves(self, tool: str, label: str, points) -> None:
        worst, kind, gap, each = 0.0, "", 0.0, []
        for xy in points:
            self.app.reset()
            self.beat.reset()
            start = time.perf_counter()
            self.send(QMouseEvent.Type.MouseMove, xy)
            self.app.processEvents()  # its repaint
            each.append((time.perf_counter() - start) * 1000)
            if self.app.longest > worst:
                worst, kind = self.app.longest, self.app.kind
            gap = max(gap, self.beat.longest)
        print(f"{tool:>9} {self.size:>6} {label:<44} {'':>9} {worst:>9.1f} [{kind}] {gap:>7.1f}"
              f"   (move + repaint: median {np.median(each):.1f}, max {max(each):.1f} ms)", flush=True)

    def use(self, tool):
        self.canvas.tools[tool.name] = tool
        if f"tool_{tool.name}" in self.window.actions_:
            self.canvas.set_tool(tool.name)
        else:  # the window's keys and menu for it are not wired yet
            with QSignalBlocker(self.canvas):
                self.canvas.set_tool(tool.name)
        self.canvas.fit()
        self.app.processEvents()
        return tool

    def stored(self) -> int:
        return len(self.window.session.instances)


def wand(b: Bench, w: int, h: int) -> None:
    from labeler.gui.canvas.wand_tool import WandTool

    tool = b.use(WandTool(b.canvas))
    n = b.stored()
    b.step("wand", "click the sky (35 % of the image)", lambda: b.click((0.5 * w, 0.15 * h)),
           lambda: not tool.working)
    b.step("wand", "Shift+click the red disk", lambda: b.click((0.8 * w, 0.66 * h), SHIFT),
           lambda: not tool.working)
    hooked = b.wheel_hooked(tool)

    def ten_notches() -> None:
        for _ in range(10):
            start = time.perf_counter()
            if hooked:
                b.wheel_event(1, CTRL)  # timed by notify
            else:
                tool.wheel(120, CTRL)  # what the canvas's hook will call
                b.app.record((time.perf_counter() - start) * 1000, "tool.wheel")
            b.app.processEvents()

    b.step("wand", "Ctrl+wheel, 10 notches (last region again)", ten_notches, lambda: not tool.working, whole=False)
    print(f"{'':>17} (through {'the canvas' if hooked else 'tool.wheel: the canvas hook is not wired yet'}; "
          f"tolerance now {tool.tolerance})")
    b.step("wand", "right click on the disk (removes it)", lambda: b.click((0.8 * w, 0.66 * h), button=R),
           lambda: not tool.working)
    b.step("wand", "Backspace (drops that click)", lambda: QTest.keyClick(b.canvas, Qt.Key.Key_Backspace),
           lambda: not tool.working)
    b.step("wand", "Enter (kept: traced, stored)", b.window.do_accept_suggestion,
           lambda: not tool.working and b.stored() > n)
    b.step("wand", "Ctrl+Z (undo the kept mask)", b.window.do_undo, lambda: b.stored() == n)


def scissors(b: Bench, w: int, h: int, moves: int) -> None:
    from labeler.gui.canvas.scissors_tool import ScissorsTool

    tool = b.use(ScissorsTool(b.canvas))
    n = b.stored()
    angles = [10, 100, 200, 290]
    b.step("scissors", "click the first vertex (features + map)", lambda: b.click(flower(w, h, angles[0])),
           lambda: tool.ready)
    for k, (a0, a1) in enumerate(itertools.pairwise(angles)):
        b.moves("scissors", f"{moves} mouse moves along the edge (live path)",
                [flower(w, h, a0 + (a1 - a0) * i / moves) for i in range(1, moves + 1)])
        b.step("scissors", f"click vertex {k + 2} (map from it)", lambda a1=a1: b.click(flower(w, h, a1)),
               lambda: tool.ready)
    b.step("scissors", "Backspace (drops it, map rebuilt)", lambda: QTest.keyClick(b.canvas, Qt.Key.Key_Backspace),
           lambda: tool.ready)
    b.step("scissors", "click vertex 4 again", lambda: b.click(flower(w, h, angles[-1])), lambda: tool.ready)
    b.moves("scissors", f"{moves} mouse moves back to the first vertex",
            [flower(w, h, angles[-1] + (370 - angles[-1]) * i / moves) for i in range(1, moves + 1)])
    b.step("scissors", "Enter (closed along the edge, stored)", b.window.do_accept_suggestion,
           lambda: not tool.working and b.stored() > n)
    shape = b.window.session.instances[max(b.window.session.instances)].shape
    print(f"{'':>17} (the polygon: {shape.vertex_count} vertices)")


def grabcut(b: Bench, w: int, h: int) -> None:
    tool = b.canvas.tools["assist"]
    b.canvas.set_tool("assist")
    b.canvas.fit()
    n = b.stored()
    x0, y0 = 0.42 * w - 0.25 * h, 0.64 * h - 0.25 * h
    x1, y1 = 0.42 * w + 0.25 * h, 0.64 * h + 0.25 * h

    def drag() -> None:
        b.send(QMouseEvent.Type.MouseMove, (x0, y0))
        b.send(QMouseEvent.Type.MouseButtonPress, (x0, y0), L, L)
        for i in range(1, 11):
            b.send(QMouseEvent.Type.MouseMove, (x0 + (x1 - x0) * i / 10, y0 + (y1 - y0) * i / 10), N, L)
        b.send(QMouseEvent.Type.MouseButtonRelease, (x1, y1), L, N)

    def settled() -> bool:
        return tool.run is not None and not tool.working

    b.step("grabcut", "drag a box round the object", drag, settled)
    b.step("grabcut", "click inside (adds)", lambda: b.click((0.42 * w, 0.64 * h)), settled)
    b.step("grabcut", "Shift+click outside (removes)", lambda: b.click((x0 + 5, y0 + 5), SHIFT), settled)
    b.step("grabcut", "Backspace (drops that click)", lambda: QTest.keyClick(b.canvas, Qt.Key.Key_Backspace),
           settled)
    b.step("grabcut", "Enter (traced on the worker, stored)", b.window.do_accept_suggestion,
           lambda: b.stored() > n)


def run(size: int, moves: int) -> None:
    from labeler.gui.main_window import MainWindow
    from labeler.store import ProjectStore

    w, h = SIZES[size]
    tmp = Path(tempfile.mkdtemp(prefix="labeler-tools-"))
    os.environ["LABELER_SETTINGS"] = str(tmp / "settings.ini")
    start = time.perf_counter()
    project = make_project(tmp, w, h)
    print(f"\n== {w} x {h} ({w * h / 1e6:.1f} MP) synthetic photo, made in {time.perf_counter() - start:.1f} s")
    app = QApplication.instance()
    store = ProjectStore.open(project)
    start = time.perf_counter()
    window = MainWindow(store)
    window.show()
    canvas = window.canvas
    for _ in range(3):  # a 1600 x 900 canvas, as benchmarks/canvas.py
        vp = canvas.viewport().size()
        window.resize(window.width() + 1600 - vp.width(), window.height() + 900 - vp.height())
        app.processEvents()
    while canvas.pixels() is None:
        app.processEvents()
        time.sleep(0.005)
    print(f"window open, full-resolution pixels in {time.perf_counter() - start:.1f} s")
    b = Bench(app, window, f"{size} MP")
    print(f"{'tool':>9} {'image':>6} {'step':<44} {'answer ms':>9} {'longest':>9} [event] {'gap ms':>7}")
    wand(b, w, h)
    scissors(b, w, h, moves)
    grabcut(b, w, h)
    over = [r for r in b.rows if r[4] > FRAME_MS]
    print(f"steps whose longest GUI-thread event exceeded a frame ({FRAME_MS:.1f} ms): "
          + (", ".join(f"{r[0]} '{r[2]}' {r[4]:.0f} ms [{r[5]}]" for r in over) or "none"))
    window.close()
    store.close()
    app.processEvents()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="12,1", help="megapixels, among 12 and 1")
    parser.add_argument("--moves", type=int, default=60)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}, "
          f"Qt platform {os.environ['QT_QPA_PLATFORM']}")
    app = TimedApp([])  # noqa: F841 - the one application, its notify timed
    for size in (int(s) for s in args.sizes.split(",")):
        run(size, args.moves)


if __name__ == "__main__":
    main()
