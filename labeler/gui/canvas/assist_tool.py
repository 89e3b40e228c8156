"""The assisted mask tool (M): drag a box around an object and a mask appears; a left click
adds what is missing, a right click (or Shift+click) removes what is extra; Backspace or
Ctrl+Z drops the last click; Enter keeps the mask as a label, Esc drops it.

With the assist model ready (SAM 2.1, workers/prompter.py) the box and clicks go to it
and Tab shows its other candidate masks; without it the segmentation is labeler.assist.grabcut
(OpenCV GrabCut, no weights), run on one worker thread per object (assist_runs.py). Either
way the GUI thread only sends (box, clicks) and paints what comes back, so the window never
waits for it. Requests run in order on that thread (each refinement starts
from the one before); an answer is shown when it is the newest one asked for, so a quick
series of clicks shows the mask of the last. The kept mask becomes an ordinary instance
(assist.masks.mask_to_shape: a polygon without holes, else a mask) whose provenance says
"assisted grabcut" or "assisted sam"; the effort meter counts its box and clicks.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem

from ...assist.masks import CropMask
from .assist_runs import AssistRun, Picture, PromptRun
from .tools import CanvasEvent, RectangleTool

CLICK_MOVE = 3.0  # screen pixels: a press that moves less than this is a click, not a new box
HINT = "Assist: click adds, right or Shift+click removes, Backspace undoes, Enter keeps, Esc drops"


class AssistPreview(QGraphicsItem):
    """The mask being made (a Picture the worker made: tinted, with its edge), the box it
    came from and the clicks (green adds, red removes). Painting only: nothing here grows
    with the mask's size on the GUI thread."""

    def __init__(self) -> None:
        super().__init__()
        self.picture: Picture | None = None
        self._box = QRectF()
        self.clicks: list[tuple[QPointF, bool]] = []
        self._scale = 1.0
        self.setZValue(9)

    def set_view_scale(self, scale: float) -> None:
        self.prepareGeometryChange()
        self._scale = max(scale, 1e-6)

    def show_picture(self, picture: Picture | None) -> None:
        self.prepareGeometryChange()
        self.picture = picture
        self.update()

    def set_box(self, box: QRectF) -> None:
        self.prepareGeometryChange()
        self._box = box
        self.update()

    def set_clicks(self, clicks: list[tuple[QPointF, bool]]) -> None:
        self.prepareGeometryChange()
        self.clicks = clicks
        self.update()

    def clear(self) -> None:
        self.prepareGeometryChange()
        self.picture, self._box, self.clicks = None, QRectF(), []
        self.update()

    def boundingRect(self) -> QRectF:
        margin = 12 / self._scale
        rect = self._box.united(self.picture.rect) if self.picture is not None else QRectF(self._box)
        for point, _ in self.clicks:
            rect = rect.united(QRectF(point, point))
        return rect.adjusted(-margin, -margin, margin, margin)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self.picture is not None:
            painter.drawImage(self.picture.rect, self.picture.image)
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
    caches_layers = True  # CanvasView.sync_layers

    def __init__(self, host) -> None:
        super().__init__(host)
        self.run: AssistRun | None = None
        self.mask: CropMask | None = None  # the newest answer
        self.error = ""
        self._answered = 0  # the newest request number answered
        self._keeping: tuple[int, int, int] | None = None  # Enter pressed: (image id, class id, gestures)
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
        """A box: start segmenting the object in it (a box drawn over one in progress restarts it),
        with the assist model when it is ready, else with GrabCut."""
        model = getattr(self.host, "assist_model", None)
        pixels = self.host.pixels()  # type: ignore[attr-defined]
        if pixels is None or self.session.image is None:
            self.session.message.emit("The image is still loading (or cannot be read); draw the box again "
                                      "in a moment")
            return
        self._drop_run()
        if model is not None and model.usable:
            self.run = PromptRun(model, self.session.image.id, box, self._on_done)  # type: ignore[arg-type]
        else:
            self.run = AssistRun(pixels, box, self._on_done)
        self._answered = 0
        self.preview_item.clear()
        self.preview_item.set_box(QRectF(QPointF(*box[:2]), QPointF(*box[2:])))
        self.run.start(self._rgb())
        self.host.hint("Assisted mask: working...")

    def click(self, x: float, y: float, positive: bool) -> None:
        w, h = self.host.image_size()
        if self.run is None or not (0 <= x < w and 0 <= y < h):
            return
        self.preview_item.set_clicks(self.preview_item.clicks + [(QPointF(x, y), positive)])
        self.run.click(x, y, positive, self._rgb())

    def undo(self) -> bool:
        """Backspace or Ctrl+Z: drop the last click (True if there was one)."""
        if self.run is None or not self.preview_item.clicks:
            return False
        self.preview_item.set_clicks(self.preview_item.clicks[:-1])
        self.run.undo(self._rgb())
        return True

    def keep(self) -> bool:
        """Enter: the mask becomes a label (traced on the worker, then stored)."""
        if self.run is None:
            return False
        if self.working or self._keeping is not None:
            self.session.message.emit("Still working on the last click; press Enter again in a moment")
            return True
        if self.mask is None or not self.mask.area:
            self.session.message.emit("The mask is empty: click inside the object, or Esc to drop it")
            return True
        category_id = self._category_for_new()
        image = self.session.image
        if category_id is None or image is None:
            return True
        self._keeping = (image.id, category_id, 1 + len(self.preview_item.clicks))  # the box and every click
        self.host.hint("Assisted mask: keeping...")
        self.run.trace(self._on_traced)
        return True

    def _on_traced(self, run: AssistRun | PromptRun, shape, error: str) -> None:
        keeping, self._keeping = self._keeping, None
        if run is not self.run or keeping is None:
            return  # dropped meanwhile (Esc, another image)
        image_id, category_id, gestures = keeping
        if shape is None or self.session.image is None or self.session.image.id != image_id:
            self.session.message.emit(f"Assisted mask not kept: {error or 'the mask is empty'}")
            return
        self.cancel()
        self._add_assisted(image_id, category_id, shape, run.tool, "Assisted mask", gestures)

    def key(self, key: int, modifiers) -> bool:
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            return self.keep()
        if key == Qt.Key.Key_Backspace:
            return self.undo() or self.run is not None
        if key == Qt.Key.Key_Tab and self.run is not None and self.run.candidates > 1:
            self.run.next_choice(self._rgb())  # type: ignore[union-attr]
            return True
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
        self.run, self.mask, self.error, self._keeping = None, None, "", None

    def _on_done(self, run: AssistRun | PromptRun, number: int, mask: CropMask | None, picture, error: str) -> None:
        if run is not self.run:
            return  # the answer of a box dropped since
        self._answered = max(self._answered, number)
        if number < run.asked:
            return  # a newer request is on its way: show that one
        self.mask, self.error = mask, error
        if error:
            self.session.message.emit(f"Assisted mask: {error}")
        self.preview_item.show_picture(picture)
        if isinstance(run, PromptRun) and run.candidates > 1:
            self.host.hint(f"Mask {run.choice + 1} of {run.candidates} (score {run.choices[run.choice][1]:.2f}), "
                           f"Tab: the next. {HINT}")
        else:
            self.host.hint(HINT)

