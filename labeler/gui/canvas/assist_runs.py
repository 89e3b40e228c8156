"""The work behind the assisted mask tool, off the GUI thread: `AssistRun` (GrabCut on a
worker thread, no weights) and `PromptRun` (the assist model in its worker process). Both
answer `start`, `click`, `undo`, `trace` and `close` the same way: each request gets a
number, and `on_done(run, number, mask, picture, error)` reaches the GUI thread with the
mask and a picture of it already made off the GUI thread.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import cv2
import numpy as np
from PySide6.QtCore import QObject, QRectF, Signal
from PySide6.QtGui import QImage

from ...assist.grabcut import GrabCutSegmenter
from ...assist.masks import CropMask, mask_to_shape

CONTEXT = 1.0  # the crop handed to GrabCut reaches this many box sizes beyond the box (it crops again)
FILL_ALPHA = 0.45  # the working mask's tint


@dataclass(frozen=True)
class Picture:
    """A working mask as drawn: `image` shows `pixels` (kept here: the QImage does not own
    them) over `rect` of the image."""

    image: QImage
    rect: QRectF
    pixels: np.ndarray


def tint(mask: CropMask | None, rgb: tuple[int, int, int]) -> Picture | None:
    """The mask as a picture: tinted inside, its edge in full colour. Made on the worker: a
    QImage (unlike a pixmap) may be, and OpenCV does the pixel work without holding Python's
    lock, so the GUI thread is not kept waiting (numpy indexing held it 15-25 ms on a 12 MP
    image). Outside the crop counts as outside, so the edge is drawn along the crop's border too."""
    if mask is None or not mask.mask.size or not mask.mask.any():
        return None
    m = mask.mask
    inner = cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    index = cv2.add(m, cv2.subtract(m, inner))  # 0 outside, 1 inside, 2 on the edge
    r, g, b = rgb
    lut = np.zeros((1, 256, 4), np.uint8)  # premultiplied ARGB32 is B, G, R, A in memory (little-endian)
    lut[0, 1] = (round(b * FILL_ALPHA), round(g * FILL_ALPHA), round(r * FILL_ALPHA), round(255 * FILL_ALPHA))
    lut[0, 2] = (b, g, r, 255)
    pixels = cv2.LUT(cv2.merge((index, index, index, index)), lut)
    h, w = m.shape
    image = QImage(pixels.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied)
    return Picture(image, QRectF(mask.x, mask.y, w, h), pixels)


def _emit_traced(relay, make_shape) -> None:
    """On a run's thread: the kept mask as an instance shape, or the error, to the GUI thread
    (tracing a large mask takes tens of milliseconds)."""
    try:
        shape, error = make_shape(), ""
    except Exception as exc:  # noqa: BLE001 - reported in the window, the tool stays usable
        shape, error = None, f"{type(exc).__name__}: {exc}"
    try:
        relay.traced.emit(shape, error)
    except RuntimeError:  # the window is gone
        pass


class _Relay(QObject):
    done = Signal(int, object, object, str)  # request number, CropMask | None, Picture | None, error
    traced = Signal(object, str)  # the kept mask as a shape (Polygons | MaskRLE | None), error


class AssistRun:
    """One object's segmenter on its own thread. The pixels handed to it are a crop of the
    image (gray converted to BGR there, so a huge gray image is never converted whole)."""

    tool = "grabcut"  # the provenance of what it makes: "assisted grabcut"
    candidates = 1

    def __init__(self, pixels: np.ndarray, box: tuple[float, float, float, float], on_done) -> None:
        """`on_done(run, number, mask, picture, error)` on the GUI thread for every answer."""
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
        self._relay.done.connect(partial(on_done, self))  # bound to this run: a dropped run's answers are known
        self.on_traced = None  # set by trace()
        self.asked = 0  # requests sent; an answer is current when its number is this

    def _ask(self, job, rgb: tuple[int, int, int]) -> int:
        self.asked += 1
        number = self.asked
        self._pool.submit(self._run, number, job, rgb)
        return number

    def _run(self, number: int, job, rgb) -> None:  # on the worker thread
        picture = None
        try:
            mask, error = self._to_image(job()), ""
            picture = tint(mask, rgb)
        except Exception as exc:  # noqa: BLE001 - reported in the window, the tool stays usable
            mask, error = None, f"{type(exc).__name__}: {exc}"
        try:
            self._relay.done.emit(number, mask, picture, error)
        except RuntimeError:  # the window is gone
            pass

    def _to_image(self, mask: CropMask) -> CropMask:
        return CropMask(mask.mask, mask.x + self.ox, mask.y + self.oy, self.image_size)

    def start(self, rgb) -> int:
        x0, y0, x1, y1 = self.box
        box = (x0 - self.ox, y0 - self.oy, x1 - self.ox, y1 - self.oy)
        return self._ask(lambda: self._segmenter.start(self._crop, box), rgb)

    def click(self, x: float, y: float, positive: bool, rgb) -> int:
        return self._ask(lambda: self._segmenter.add_click(x - self.ox, y - self.oy, positive), rgb)

    def undo(self, rgb) -> int:
        return self._ask(self._segmenter.undo_click, rgb)

    def trace(self, on_traced) -> None:
        """The current mask as an instance shape, made on the worker (tracing a large mask
        takes tens of milliseconds); `on_traced(run, shape, error)` on the GUI thread."""
        self._relay.traced.connect(partial(on_traced, self))
        self._pool.submit(_emit_traced, self._relay, lambda: mask_to_shape(self._to_image(self._segmenter.mask)))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)




class PromptRun:
    """One object prompted to the assist model (SAM 2.1) in its worker process: every request
    sends the box and all clicks so far (the model keeps no state between them, so undo is
    the same request with one click fewer). The decoder's candidates arrive on the GUI thread
    through the bridge; the chosen one is pictured (and traced on Enter) on this run's thread."""

    tool = "sam"

    def __init__(self, model, image_id: int, box: tuple[float, float, float, float], on_done) -> None:
        """`model`: the AssistBridge (segment(image_id, box, clicks) -> request id, and its
        `segmented` signal)."""
        self.model, self.image_id, self.box = model, image_id, box
        self.clicks: list[tuple[float, float, bool]] = []
        self.asked = 0
        self.choices: tuple = ()  # (CropMask, score) of the newest answer, best first
        self.choice = 0
        self._requests: dict[int, tuple[int, tuple]] = {}  # request id -> (number, rgb)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="labeler-prompt")
        self._relay = _Relay()
        self._relay.done.connect(partial(on_done, self))
        model.segmented.connect(self._on_segmented)
        self.waited = False  # the newest answer had to wait for the image's encoder

    @property
    def candidates(self) -> int:
        return len(self.choices)

    def _ask(self, rgb) -> int:
        self.asked += 1
        request = self.model.segment(self.image_id, self.box, self.clicks)
        self._requests[request] = (self.asked, rgb)
        return self.asked

    def start(self, rgb) -> int:
        return self._ask(rgb)

    def click(self, x: float, y: float, positive: bool, rgb) -> int:
        self.clicks.append((float(x), float(y), bool(positive)))
        return self._ask(rgb)

    def undo(self, rgb) -> int:
        if self.clicks:
            self.clicks.pop()
        return self._ask(rgb)

    def next_choice(self, rgb) -> int:
        """Show the next of the model's candidates (whole, part, sub-part)."""
        self.asked += 1
        if self.choices:
            self.choice = (self.choice + 1) % len(self.choices)
            self._pool.submit(self._picture, self.asked, self.choices[self.choice][0], rgb)
        return self.asked

    def _on_segmented(self, answer) -> None:  # on the GUI thread
        pending = self._requests.pop(answer.request_id, None)
        if pending is None:
            return  # another run's answer
        number, rgb = pending
        if answer.error or not answer.candidates:
            self._relay.done.emit(number, None, None, answer.error or "the model found nothing there")
            return
        self.choices, self.choice, self.waited = answer.candidates, 0, answer.waited_for_encoder
        self._pool.submit(self._picture, number, answer.candidates[0][0], rgb)

    def _picture(self, number: int, mask: CropMask, rgb) -> None:  # on the run's thread
        try:
            picture, error = tint(mask, rgb), ""
        except Exception as exc:  # noqa: BLE001
            picture, error = None, f"{type(exc).__name__}: {exc}"
        try:
            self._relay.done.emit(number, mask, picture, error)
        except RuntimeError:
            pass

    def trace(self, on_traced) -> None:
        self._relay.traced.connect(partial(on_traced, self))
        mask = self.choices[self.choice][0] if self.choices else None
        self._pool.submit(_emit_traced, self._relay, lambda: mask_to_shape(mask) if mask is not None else None)

    def close(self) -> None:
        try:
            self.model.segmented.disconnect(self._on_segmented)
        except (RuntimeError, TypeError):
            pass
        self._requests.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
