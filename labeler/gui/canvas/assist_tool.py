"""The assisted mask tool (M): drag a box around an object and a mask appears; a left click
adds what is missing, a right click (or Shift+click) removes what is extra; Backspace or
Ctrl+Z drops the last click; Enter keeps the mask as a label, Esc drops it.

The segmentation is labeler.assist.grabcut (OpenCV GrabCut, no weights), run on one worker
thread per object: the GUI thread only sends (box, clicks) and paints what comes back, so the
window never waits for it. Requests run in order on that thread (each refinement starts
from the one before); an answer is shown when it is the newest one asked for, so a quick
series of clicks shows the mask of the last. The kept mask becomes an ordinary instance
(assist.masks.mask_to_shape: a polygon without holes, else a mask) whose provenance says
"assisted grabcut"; the effort meter counts its box and clicks.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem

from ...assist.grabcut import GrabCutSegmenter
from ...assist.masks import CropMask, mask_to_shape
from ...core import commands
from ...core.entities import Instance, Provenance
from .tools import CanvasEvent, RectangleTool

CLICK_MOVE = 3.0  # screen pixels: a press that moves less than this is a click, not a new box
CONTEXT = 1.0  # the crop handed to GrabCut reaches this many box sizes beyond the box (it crops again)
HINT = "Assist: click adds, right or Shift+click removes, Backspace undoes, Enter keeps, Esc drops"


class _Relay(QObject):
    done = Signal(int, object, str)  # request number, CropMask | None, error ("" if none)


class AssistRun:
    """One object's segmenter on its own thread. The pixels handed to it are a crop of the
    image (gray converted to BGR there, so a huge gray image is never converted whole)."""

    def __init__(self, pixels: np.ndarray, box: tuple[float, float, float, float], on_done) -> None:
        h, w = pixels.shape[:2]
        x0, y0, x1, y1 = box
        reach = CONTEXT * max(x1 - x0, y1 - y0) + 16
        self.ox, self.oy = max(0, int(x0 - reach)), max(0, int(y0 - reach))
        ex, ey = min(w, int(np.ceil(x1 + reach))), min(h, int(np.ceil(y1 + reach)))
        crop = pixels[self.oy:ey, self.ox:ex]
        if crop.ndim == 2:
            crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
        elif crop.shape[2] == 4:
            crop = np.ascontiguousarray(crop[:, :, :3])
        self.image_size = (h, w)
        self.box = box
        self._crop = np.ascontiguousarray(crop)
        self._segmenter = GrabCutSegmenter()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="labeler-assist")
        self._relay = _Relay()
        self._relay.done.connect(on_done)
        self.asked = 0  # requests sent; an answer is current when its number is this

    def _ask(self, job) -> int:
        self.asked += 1
        number = self.asked
        self._pool.submit(self._run, number, job)
        return number

    def _run(self, number: int, job) -> None:  # on the worker thread
        try:
            mask, error = self._to_image(job()), ""
        except Exception as exc:  # noqa: BLE001 - reported in the window, the tool stays usable
            mask, error = None, f"{type(exc).__name__}: {exc}"
        try:
            self._relay.done.emit(number, mask, error)
        except RuntimeError:  # the window is gone
            pass

    def _to_image(self, mask: CropMask) -> CropMask:
        return CropMask(mask.mask, mask.x + self.ox, mask.y + self.oy, self.image_size)

    def start(self) -> int:
        x0, y0, x1, y1 = self.box
        box = (x0 - self.ox, y0 - self.oy, x1 - self.ox, y1 - self.oy)
        return self._ask(lambda: self._segmenter.start(self._crop, box))

    def click(self, x: float, y: float, positive: bool) -> int:
        return self._ask(lambda: self._segmenter.add_click(x - self.ox, y - self.oy, positive))

    def undo(self) -> int:
        return self._ask(self._segmenter.undo_click)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class AssistPreview(QGraphicsItem):
    """The mask being made (tinted, with its edge) and the clicks (green adds, red removes)."""

    def __init__(self) -> None:
        super().__init__()
        self._image: QImage | None = None
        self._rect = QRectF()
        self._box = QRectF()
        self.clicks: list[tuple[QPointF, bool]] = []
        self._scale = 1.0
        self.setZValue(9)

    def set_view_scale(self, scale: float) -> None:
        self.prepareGeometryChange()
        self._scale = max(scale, 1e-6)

    def show(self, box: QRectF, mask: CropMask | None, color: QColor) -> None:
        self.prepareGeometryChange()
        self._box = box
        if mask is not None and mask.mask.size:
            edge = mask.mask - cv2.erode(mask.mask, np.ones((3, 3), np.uint8))
            rgba = np.zeros(mask.mask.shape + (4,), np.uint8)
            a = 0.45
            rgba[mask.mask > 0] = (round(color.blue() * a), round(color.green() * a), round(color.red() * a),
                                   round(255 * a))
            rgba[edge > 0] = (color.blue(), color.green(), color.red(), 255)
            h, w = mask.mask.shape
            self._image = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied).copy()
            self._rect = QRectF(mask.x, mask.y, w, h)
        else:
            self._image, self._rect = None, QRectF()
        self.update()

    def clear(self) -> None:
        self.clicks = []
        self.show(QRectF(), None, QColor())

    def boundingRect(self) -> QRectF:
        margin = 12 / self._scale
        rect = self._rect.united(self._box)
        for point, _ in self.clicks:
            rect = rect.united(QRectF(point, point))
        return rect.adjusted(-margin, -margin, margin, margin)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self._image is not None:
            painter.drawImage(self._rect, self._image)
        if not self._box.isEmpty():
            pen = QPen(QColor("white"), 1.0, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(self._box)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = 5.0 / self._scale
        outline = QPen(QColor("white"), 1.5)
        outline.setCosmetic(True)
        painter.setPen(outline)
        for point, positive in self.clicks:
            painter.setBrush(QBrush(QColor("#2ecc40") if positive else QColor("#ff4136")))
            painter.drawEllipse(point, r, r)


class AssistTool(RectangleTool):
    name = "assist"

    def __init__(self, host) -> None:
        super().__init__(host)
        self.run: AssistRun | None = None
        self.mask: CropMask | None = None  # the newest answer
        self.error = ""
        self._answered = 0  # the newest request number answered
        self._press: QPointF | None = None
        self._press_button = Qt.MouseButton.LeftButton
        self._press_modifiers = Qt.KeyboardModifier.NoModifier

    @property
    def preview_item(self) -> AssistPreview:
        return self.host.assist_preview  # type: ignore[attr-defined]

    @property
    def working(self) -> bool:
        """An answer is still on its way."""
        return self.run is not None and self._answered < self.run.asked

    def busy(self) -> bool:
        return self.run is not None or self.anchor is not None

    # --- mouse -----------------------------------------------------------------------------

    def press(self, ev: CanvasEvent) -> None:
        if self.run is None:
            super().press(ev)  # the first drag is the box
            return
        self._press, self._press_button, self._press_modifiers = ev.pos, ev.button, ev.modifiers
        if ev.button == Qt.MouseButton.LeftButton:
            self.anchor = self._clamp(ev.pos)  # a drag from here is a new box

    def move(self, ev: CanvasEvent, dragging: bool) -> None:
        if self.run is None or (self.anchor is not None and self._press is not None and self._dragged(ev.pos)):
            super().move(ev, dragging)

    def release(self, ev: CanvasEvent) -> None:
        press, self._press = self._press, None
        if self.run is not None and press is not None and not self._dragged(ev.pos, press):
            self.anchor = None
            self.host.preview.clear()
            negative = (self._press_button == Qt.MouseButton.RightButton
                        or bool(self._press_modifiers & Qt.KeyboardModifier.ShiftModifier))
            self.click(press.x(), press.y(), not negative)
            return
        if self.anchor is None:
            return
        a, b = self.anchor, self._clamp(ev.pos)
        self.anchor = None
        self.host.preview.clear()
        if min(abs(a.x() - b.x()), abs(a.y() - b.y())) * self.host.scale < 3:
            return  # a click, not a box
        self.begin((min(a.x(), b.x()), min(a.y(), b.y()), max(a.x(), b.x()), max(a.y(), b.y())))

    def _dragged(self, pos: QPointF, press: QPointF | None = None) -> bool:
        start = press if press is not None else self._press
        return start is not None and (pos - start).manhattanLength() * self.host.scale >= CLICK_MOVE

    # --- the object ------------------------------------------------------------------------

    def begin(self, box: tuple[float, float, float, float]) -> None:
        """A box: start segmenting the object in it (a box drawn over one in progress restarts it)."""
        pixels = self.host.pixels()  # type: ignore[attr-defined]
        if pixels is None:
            self.session.message.emit("The image is still loading (or cannot be read); draw the box again "
                                      "in a moment")
            return
        self._drop_run()
        self.run = AssistRun(pixels, box, self._on_done)
        self._answered = 0
        self.preview_item.clicks = []
        self._show()
        self.run.start()
        self.host.hint("Assisted mask: working...")

    def click(self, x: float, y: float, positive: bool) -> None:
        w, h = self.host.image_size()
        if self.run is None or not (0 <= x < w and 0 <= y < h):
            return
        self.preview_item.clicks.append((QPointF(x, y), positive))
        self._show()
        self.run.click(x, y, positive)

    def undo(self) -> bool:
        """Backspace or Ctrl+Z: drop the last click (True if there was one)."""
        if self.run is None or not self.preview_item.clicks:
            return False
        self.preview_item.clicks.pop()
        self._show()
        self.run.undo()
        return True

    def keep(self) -> bool:
        """Enter: the mask becomes a label."""
        if self.run is None:
            return False
        if self.working:
            self.session.message.emit("Still working on the last click; press Enter again in a moment")
            return True
        shape = mask_to_shape(self.mask) if self.mask is not None else None
        category_id = self._category_for_new()
        image = self.session.image
        gestures = 1 + len(self.preview_item.clicks)  # the box and every click
        if shape is None:
            self.session.message.emit("The mask is empty: click inside the object, or Esc to drop it")
            return True
        if category_id is None or image is None:
            return True
        self.cancel()
        command = self.session.push(commands.add_instance(
            Instance(None, image.id, category_id, shape, provenance=Provenance.assisted("grabcut")),  # type: ignore[arg-type]
            "Assisted mask", gestures=gestures))
        if command is not None:
            self.session.select([command.changes[0][1].id], on_purpose=False)  # type: ignore[union-attr]
        return True

    def key(self, key: int, modifiers) -> bool:
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            return self.keep()
        if key == Qt.Key.Key_Backspace:
            return self.undo() or self.run is not None
        if key == Qt.Key.Key_Escape and (self.run is not None or self.anchor is not None):
            self.cancel()
            self.session.message.emit("Assisted mask dropped")
            return True
        return False

    def cancel(self) -> None:
        self._drop_run()
        self.preview_item.clear()
        super().cancel()
        self.host.hint("")

    def _drop_run(self) -> None:
        if self.run is not None:
            self.run.close()
        self.run, self.mask, self.error = None, None, ""

    def _on_done(self, number: int, mask: CropMask | None, error: str) -> None:
        if self.run is None or number > self.run.asked:
            return
        self._answered = max(self._answered, number)
        if number < self.run.asked:
            return  # a newer request is on its way: show that one
        self.mask, self.error = mask, error
        if error:
            self.session.message.emit(f"Assisted mask: {error}")
        self._show()
        self.host.hint(HINT)

    def _show(self) -> None:
        box = QRectF(QPointF(*self.run.box[:2]), QPointF(*self.run.box[2:])) if self.run is not None else QRectF()
        self.preview_item.show(box, self.mask, self.host.category_color(self.session.current_category_id))
