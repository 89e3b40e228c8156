"""The magic wand (W): a click selects the connected region of similar colour around it
(labeler.assist.wand, OpenCV floodFill); Shift+click adds a region to the working mask,
Alt+click (or a right click: many Linux desktops keep Alt+click for moving windows)
removes one; Ctrl+wheel or the toolbar slider changes the tolerance and the last region
follows at once; Backspace or Ctrl+Z drops the last click; Enter keeps the mask as a label,
Esc drops it.

Everything that grows with the region runs on one worker thread per mask, in order: the
flood, the union or difference, the tinted picture of the mask (a whole-image region of a
12 MP photo: floodFill 0.1 s, the picture 0.1 to 0.3 s) and, on Enter, the tracing into a
shape. The GUI thread sends small jobs and shows what comes back; an answer is shown only
when it is the newest one asked for, and a tolerance change that a newer one replaces is
skipped unrun, so turning the wheel never queues stale floods. The kept mask becomes an
ordinary instance (assist.masks.mask_to_shape: a polygon without holes, else a mask) whose
provenance says "assisted wand"; the effort meter counts its clicks.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
from PySide6.QtCore import QObject, QPointF, Qt, Signal

from ...assist.masks import CropMask, mask_to_shape
from ...assist.wand import combine, magic_wand
from .assist_runs import Picture, tint
from .assist_tool import AssistPreview
from .tools import CanvasEvent, Tool

DEFAULT_TOLERANCE = 20  # largest difference per channel (0-255) from the clicked colour
MAX_TOLERANCE = 255
WHEEL_STEP = 2.0  # tolerance per wheel notch (120 units of angle delta)
HINT = "Tolerance {t} (Ctrl+wheel). Shift+click adds, Alt+click removes, Enter keeps"  # fits the status bar


@dataclass(frozen=True)
class Step:
    """One click: `mode` is "replace" (plain), "add" (Shift) or "subtract" (Alt, right)."""

    mode: str
    x: float
    y: float
    tolerance: int


class _Relay(QObject):
    done = Signal(int, object, object, str)  # number, CropMask | None, Picture | None, error
    kept = Signal(int, object, str)  # number, Polygons | MaskRLE | None, error


class WandRun:
    """One working mask's worker thread. The worker owns the stack of masks (one per click,
    mirroring the tool's steps); jobs run in the order asked."""

    def __init__(self, pixels: np.ndarray, on_done, on_kept) -> None:
        self._pixels = pixels
        self._image: np.ndarray | None = None  # the pixels floodFill takes, made on the worker
        self._stack: list[CropMask | None] = []  # touched by the worker thread only
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="labeler-wand")
        self._relay = _Relay()
        self._relay.done.connect(partial(on_done, self))
        self._relay.kept.connect(partial(on_kept, self))
        self.asked = 0  # jobs asked; an answer is current when its number is this
        self._replaces: set[int] = set()  # numbers of tolerance changes (skipped if the next is one too)
        self.target: tuple[int, int, int] | None = None  # on Enter: (image id, class id, clicks)

    def push(self, step: Step, rgb) -> int:
        return self._ask(partial(self._push, step), rgb)

    def replace_last(self, step: Step, rgb) -> int:
        return self._ask(partial(self._replace, step), rgb, replaces=True)

    def pop(self, rgb) -> int:
        return self._ask(self._pop, rgb)

    def recolor(self, rgb) -> int:
        return self._ask(self._top, rgb)

    def keep(self) -> int:
        """Trace the current mask into a shape (answered on `kept`); then the thread ends."""
        self.asked += 1
        self.pool.submit(self._keep, self.asked)
        self.pool.shutdown(wait=False)
        return self.asked

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _ask(self, job, rgb, replaces: bool = False) -> int:
        self.asked += 1
        if replaces:
            self._replaces.add(self.asked)
        self.pool.submit(self._run, self.asked, job, rgb)
        return self.asked

    # --- on the worker thread -----------------------------------------------------------------

    def _run(self, number: int, job, rgb) -> None:
        if number in self._replaces and number + 1 in self._replaces:
            return  # a newer tolerance replaces this one's region anyway
        try:
            mask, error = job(), ""
            picture = tint(mask, rgb)
        except Exception as exc:  # noqa: BLE001 - reported in the window, the tool stays usable
            mask, picture, error = self._top(), None, f"{type(exc).__name__}: {exc}"
        self._emit(self._relay.done, number, mask, picture, error)

    def _keep(self, number: int) -> None:
        try:
            mask = self._top()
            shape, error = (mask_to_shape(mask) if mask is not None else None), ""
        except Exception as exc:  # noqa: BLE001
            shape, error = None, f"{type(exc).__name__}: {exc}"
        self._emit(self._relay.kept, number, shape, error)

    @staticmethod
    def _emit(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the window is gone
            pass

    def _region(self, step: Step) -> CropMask:
        if self._image is None:
            px = self._pixels
            self._image = np.ascontiguousarray(px[:, :, :3] if px.ndim == 3 and px.shape[2] == 4 else px)
        return magic_wand(self._image, step.x, step.y, step.tolerance)

    def _top(self) -> CropMask | None:
        return self._stack[-1] if self._stack else None

    def _push(self, step: Step) -> CropMask | None:
        base = self._top()
        self._stack.append(base)  # the depth follows the tool's steps even if the flood fails
        self._stack[-1] = combine(base, self._region(step), step.mode)
        return self._stack[-1]

    def _replace(self, step: Step) -> CropMask | None:
        base = self._stack[-2] if len(self._stack) > 1 else None
        self._stack[-1] = combine(base, self._region(step), step.mode)
        return self._stack[-1]

    def _pop(self) -> CropMask | None:
        self._stack.pop()
        return self._top()


class WandTool(Tool):
    name = "wand"
    caches_layers = True  # CanvasView.sync_layers

    def __init__(self, host) -> None:
        super().__init__(host)
        self._tolerance = DEFAULT_TOLERANCE
        self.tolerance_listeners: list[Callable[[int], None]] = []  # e.g. the toolbar slider's setValue
        self.run: WandRun | None = None
        self.steps: list[Step] = []
        self.mask: CropMask | None = None  # the newest answer shown
        self.error = ""
        self._answered = 0
        self._keeping: set[WandRun] = set()  # kept masks still being traced
        self._wheel_rest = 0.0
        self.preview_item = AssistPreview()
        host.scene().addItem(self.preview_item)
        self.preview_item.setZValue(host.assist_preview.zValue())
        self.preview_item.set_view_scale(host.scale)
        host.zoomChanged.connect(self.preview_item.set_view_scale)
        self.session.currentCategoryChanged.connect(lambda _category: self._recolor())

    # --- state -----------------------------------------------------------------------------

    @property
    def working(self) -> bool:
        """An answer is still on its way (a mask kept with Enter and still being traced counts too)."""
        return bool(self._keeping) or (self.run is not None and self._answered < self.run.asked)

    @property
    def tolerance(self) -> int:
        return self._tolerance

    @tolerance.setter
    def tolerance(self, value: float) -> None:
        """The slider and Ctrl+wheel set it; the last region is flooded again with it."""
        value = int(min(max(round(value), 0), MAX_TOLERANCE))
        if value == self._tolerance:
            return
        self._tolerance = value
        for listener in list(self.tolerance_listeners):
            listener(value)
        if self.run is not None and self.steps:
            self.steps[-1] = replace(self.steps[-1], tolerance=value)
            self.run.replace_last(self.steps[-1], self._rgb())
        self.host.hint(HINT.format(t=value))

    def wheel(self, delta: int, modifiers) -> bool:
        """The canvas's wheel hook: Ctrl+wheel changes the tolerance (True: taken, no zoom)."""
        if not modifiers & Qt.KeyboardModifier.ControlModifier:
            return False
        self._wheel_rest += delta / 120 * WHEEL_STEP
        steps = int(self._wheel_rest)  # whole units; a trackpad's small deltas add up
        self._wheel_rest -= steps
        if steps:
            self.tolerance = self._tolerance + steps
        return True

    # --- mouse and keys ------------------------------------------------------------------------

    def press(self, ev: CanvasEvent) -> None:
        if ev.button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        w, h = self.host.image_size()
        x, y = ev.pos.x(), ev.pos.y()
        if not (0 <= x < w and 0 <= y < h):
            return
        if ev.button == Qt.MouseButton.RightButton or ev.modifiers & Qt.KeyboardModifier.AltModifier:
            mode = "subtract"
        elif ev.modifiers & Qt.KeyboardModifier.ShiftModifier:
            mode = "add"
        else:
            mode = "replace"
        self.click(x, y, mode)

    def click(self, x: float, y: float, mode: str = "replace") -> None:
        if self.run is None:
            if mode == "subtract":
                self.session.message.emit("Wand: Alt+click removes from the mask; click a region first")
                return
            pixels = self.host.pixels()  # type: ignore[attr-defined]
            if pixels is None:
                self.session.message.emit("The image is still loading (or cannot be read); click again in a moment")
                return
            self.run, self._answered = WandRun(pixels, self._on_done, self._on_kept), 0
        self.steps.append(Step(mode, x, y, self._tolerance))
        self._show_clicks()
        self.run.push(self.steps[-1], self._rgb())
        self.host.hint("Wand: working...")

    def undo(self) -> bool:
        """Backspace or Ctrl+Z: drop the last click (True if there was one)."""
        if self.run is None or not self.steps:
            return False
        self.steps.pop()
        if not self.steps:
            self.cancel()
            return True
        self._show_clicks()
        self.run.pop(self._rgb())
        return True

    def keep(self) -> bool:
        """Enter: the mask becomes a label, once the worker has traced it (the tool is free
        for the next one at once)."""
        if self.run is None:
            return False
        return self._hand_over(self._keeping, len(self.steps), lambda run: run.keep(), "Wand: tracing the mask...")

    def key(self, key: int, modifiers) -> bool:
        return self._run_keys(key, self.keep, "Wand mask dropped")

    def cancel(self) -> None:
        if self.run is not None:
            self.run.close()
        self.run, self.steps, self.mask, self.error = None, [], None, ""
        self.preview_item.clear()
        super().cancel()
        self.host.hint("")

    # --- answers -------------------------------------------------------------------------------

    def _on_done(self, run: WandRun, number: int, mask: CropMask | None, picture: Picture | None,
                 error: str) -> None:
        if run is not self.run:
            return  # dropped or kept meanwhile
        self._answered = max(self._answered, number)
        if number < run.asked:
            return  # a newer request is on its way: show that one
        self.mask, self.error = mask, error
        if error:
            self.session.message.emit(f"Wand: {error}")
        self.preview_item.show_picture(picture)
        self.host.hint(HINT.format(t=self._tolerance))

    def _on_kept(self, run: WandRun, number: int, shape, error: str) -> None:
        self._keeping.discard(run)
        image_id, category_id, gestures = run.target  # type: ignore[misc]
        if error or shape is None:
            self.session.message.emit(f"Wand: {error}" if error else "The wand's mask is empty; nothing kept")
            return
        self._add_assisted(image_id, category_id, shape, "wand", "Magic wand", gestures)
        if self.run is None:
            self.host.hint("")


    def _recolor(self) -> None:
        if self.run is not None:
            self.run.recolor(self._rgb())

    def _show_clicks(self) -> None:
        """The clicks that make the mask: from the last plain click on (it replaced the rest)."""
        first = max((i for i, s in enumerate(self.steps) if s.mode == "replace"), default=0)
        self.preview_item.set_clicks([(QPointF(s.x, s.y), s.mode != "subtract") for s in self.steps[first:]])
