"""The image under the shapes: decoding off the GUI thread, a tiled pyramid, and painting.

Qt refuses images wider or taller than 32,767 px and (in QImageReader) above 256 MB; a
20,000 x 20,000 photo is 1.2 GB of BGR. So pixels stay in numpy arrays and Qt only ever
sees tiles: QImages of at most tile_size x tile_size, most of them views of that memory.

Memory. A factor-2 pyramid adds a third to level 0: 1.6 GB for 20,000 px squared, past the
1.5 GB budget. Level 0 is the decoded array itself (never copied); coarser levels are built
with cv2.resize(INTER_AREA), each from the one before. Above SKIP_HALF_ABOVE bytes the
half-resolution level is virtual (a first real step of 4 adds 1/15 instead of 1/3): its
tiles are shrunk from level 0 when first drawn (about 0.4 ms each) and cached like others.

Decoding (imaging.decode_image). cv2.imread's result is a copy of OpenCV's buffer (the Python binding copies any
Mat it did not allocate), so a 1.2 GB image would briefly need 2.4 GB; decoding into an
array allocated here (imread's dst argument, sized from the header) avoids that. JPEG
previews use libjpeg's DCT scaling (IMREAD_REDUCED_COLOR_n), which skips most of the work;
other formats cannot decode at reduced size, so they get no preview.

Painting. Qt's raster engine smooth-scales 32-bit images 3-4x faster than BGR888 ones. So
coarse levels up to READY_PIXELS are stored as 32-bit pixels (a third more, on small
levels), and tiles of the others (level 0 above all) are converted when first drawn into
an LRU cache whose buffers are recycled: bringing a new level into view converts a
screenful of tiles, and fresh memory costs more than the conversion. Zero-copy views rely
on QPainter being done with a QImage when drawImage returns (true of the raster, QPicture
and PDF engines).
"""

from __future__ import annotations

import math
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PySide6.QtCore import QObject, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem

from ...imaging import ImageReadError, decode_image
from ...imaging.reduced import is_jpeg_name, reduction

DEFAULT_TILE = 512
SKIP_HALF_ABOVE = 512 * 2**20  # level-0 bytes above which the 1/2 level is virtual
READY_PIXELS = 16_000_000  # coarser levels up to this size are stored ready to draw (32-bit)
PREVIEW_ABOVE = 16_000_000  # pixels; larger JPEGs show a reduced preview first
PREVIEW_PIXELS = 4_000_000  # a preview has at most this many pixels (if 1/8 gets there)
TILE_CACHE_BYTES = 64 * 2**20
EMPTY_COLOR = QColor(58, 58, 58)
# Tiles are converted to 32-bit pixels in memory order B, G, R, 255: QImage's RGB32 on
# little-endian machines; big-endian ones get R, G, B, 255 (RGBX8888, a slower path).
_TO_32 = ((cv2.COLOR_BGR2BGRA, cv2.COLOR_GRAY2BGRA, QImage.Format.Format_RGB32) if sys.byteorder == "little"
          else (cv2.COLOR_BGR2RGBA, cv2.COLOR_GRAY2RGBA, QImage.Format.Format_RGBX8888))
@dataclass(frozen=True)
class PyramidLevel:
    """One resolution. pixels: C-contiguous uint8, HxWx3 BGR, HxW gray or HxWx4 32-bit (see
    _TO_32); None for the virtual half level of a very large image."""

    pixels: np.ndarray | None
    width: int
    height: int
    scale_x: float  # level pixels per full-resolution image pixel
    scale_y: float

    @property
    def ready(self) -> bool:
        """Stored as 32-bit pixels: drawn straight from the array, no conversion."""
        return self.pixels is not None and self.pixels.ndim == 3 and self.pixels.shape[2] == 4


class ImagePyramid:
    """Decoded pixels as a pyramid of levels, each cut into tiles of at most tile_size px
    (zero-copy QImage views), so no QImage ever exceeds Qt's limits. Built off the GUI
    thread; holds only numpy arrays, so it may cross threads."""

    def __init__(self, levels: list[PyramidLevel], width: int, height: int, tile_size: int,
                 is_preview: bool) -> None:
        self.levels = tuple(levels)
        self.width, self.height = width, height
        self.tile_size = tile_size
        self._is_preview = is_preview
        self._buffers = [None if lv.pixels is None else memoryview(lv.pixels).cast("B") for lv in levels]

    @classmethod
    def from_array(cls, pixels: np.ndarray, full_size: tuple[int, int] | None = None, *,
                   tile_size: int = DEFAULT_TILE) -> "ImagePyramid":
        """pixels: HxWx3 uint8 BGR or HxW uint8 gray, kept as level 0 without a copy when
        C-contiguous. full_size: (w, h) of the real image when pixels is a reduced preview."""
        if pixels.dtype != np.uint8 or not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
            raise ValueError(f"expected HxWx3 or HxW uint8 pixels, got {pixels.dtype} {pixels.shape}")
        pixels = np.ascontiguousarray(pixels)
        height, width = pixels.shape[:2]
        full_w, full_h = full_size or (width, height)
        levels = [PyramidLevel(pixels, width, height, width / full_w, height / full_h)]
        source, factor = pixels, 2
        if pixels.nbytes > SKIP_HALF_ABOVE:
            w, h = max(1, round(width / 2)), max(1, round(height / 2))
            levels.append(PyramidLevel(None, w, h, w / full_w, h / full_h))
            factor = 4
        while max(levels[-1].width, levels[-1].height) > tile_size:
            w, h = max(1, round(source.shape[1] / factor)), max(1, round(source.shape[0] / factor))
            source = cv2.resize(source, (w, h), interpolation=cv2.INTER_AREA)
            if w * h <= READY_PIXELS and not (source.ndim == 3 and source.shape[2] == 4):
                source = cv2.cvtColor(source, _TO_32[0] if source.ndim == 3 else _TO_32[1])
            levels.append(PyramidLevel(source, w, h, w / full_w, h / full_h))
            factor = 2
        return cls(levels, full_w, full_h, tile_size, (full_w, full_h) != (width, height))

    @property
    def is_preview(self) -> bool:
        """Built from a reduced decode; the full-resolution pyramid is still to come."""
        return self._is_preview

    def nbytes(self) -> int:
        return sum(level.pixels.nbytes for level in self.levels if level.pixels is not None)

    def level_for_scale(self, scale: float) -> int:
        """The coarsest level with at least `scale` level pixels per image pixel (screen
        pixels per image pixel); level 0 when even that is coarser."""
        return max((i for i, level in enumerate(self.levels) if level.scale_x >= scale * 0.999), default=0)

    def tile_grid(self, level: int) -> tuple[int, int]:
        """(columns, rows) of tiles at a level."""
        lv, t = self.levels[level], self.tile_size
        return -(-lv.width // t), -(-lv.height // t)

    def tile_rect(self, level: int, col: int, row: int) -> tuple[int, int, int, int]:
        """(x, y, w, h) of a tile in that level's pixels."""
        lv, t = self.levels[level], self.tile_size
        x, y = col * t, row * t
        return x, y, min(t, lv.width - x), min(t, lv.height - y)

    def tile_image(self, level: int, col: int, row: int) -> QImage:
        """A QImage over the tile's pixels, without copying: valid while this pyramid lives.
        (PySide6 accepts a memoryview offset into the array, with the array's row stride.)
        Not for the virtual level, whose pixels exist only in ImageLayer's cache."""
        pixels = self.levels[level].pixels
        assert pixels is not None, "the virtual level has no pixels of its own"
        x, y, w, h = self.tile_rect(level, col, row)
        stride, depth = pixels.strides[0], pixels.strides[1]
        fmt = (QImage.Format.Format_Grayscale8 if pixels.ndim == 2 else
               QImage.Format.Format_BGR888 if pixels.shape[2] == 3 else _TO_32[2])
        return QImage(self._buffers[level][y * stride + x * depth:], w, h, stride, fmt)


class ImageLayer(QGraphicsItem):
    """Draws the current image pyramid. boundingRect() is (0, 0, width, height) in image
    pixels (scene coordinates are image pixel coordinates)."""

    def __init__(self, parent: QGraphicsItem | None = None, cache_bytes: int = TILE_CACHE_BYTES) -> None:
        super().__init__(parent)
        self._width = self._height = 0
        self._pyramid: ImagePyramid | None = None
        self._tiles = _TileCache(cache_bytes)
        # Without this flag option.exposedRect is the whole item and every tile is drawn.
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    @property
    def pyramid(self) -> ImagePyramid | None:
        return self._pyramid

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self._width, self._height)

    def set_size(self, width: int, height: int) -> None:
        """A new image of this size is coming: drop the old pixels (so two large images are
        never held at once) and show a dark rectangle until set_pyramid."""
        if (width, height) != (self._width, self._height):
            self.prepareGeometryChange()
            self._width, self._height = width, height
        self._set(None)

    def set_pyramid(self, pyramid: ImagePyramid | None) -> None:
        if pyramid is not None and (pyramid.width, pyramid.height) != (self._width, self._height):
            self.prepareGeometryChange()
            self._width, self._height = pyramid.width, pyramid.height
        self._set(pyramid)

    def _set(self, pyramid: ImagePyramid | None) -> None:
        self._pyramid = pyramid
        self._tiles.reset(pyramid)
        self.update()

    def paint(self, painter: QPainter, option, widget=None) -> None:
        rect = option.exposedRect.intersected(self.boundingRect())
        if rect.isEmpty():
            return
        pyramid = self._pyramid
        if pyramid is None:
            painter.fillRect(rect, EMPTY_COLOR)
            return
        screen_scale = math.sqrt(abs(painter.worldTransform().determinant()))
        index = pyramid.level_for_scale(screen_scale)
        level = pyramid.levels[index]
        sx, sy, t = level.scale_x, level.scale_y, pyramid.tile_size
        cols, rows = pyramid.tile_grid(index)
        col0, row0 = max(0, int(rect.left() * sx) // t), max(0, int(rect.top() * sy) // t)
        col1 = min(cols - 1, (math.ceil(rect.right() * sx) - 1) // t)
        row1 = min(rows - 1, (math.ceil(rect.bottom() * sy) - 1) // t)
        painter.save()  # the canvas view sets DontSavePainterState
        # Antialiased tile edges would let the background show through the seams.
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        for row in range(row0, row1 + 1):
            for col in range(col0, col1 + 1):
                image = pyramid.tile_image(index, col, row) if level.ready else self._tiles.get(index, col, row)
                x, y, w, h = pyramid.tile_rect(index, col, row)
                painter.drawImage(QRectF(x / sx, y / sy, w / sx, h / sy), image)
        painter.restore()


class _TileCache:
    """The most recently drawn tiles in 32-bit form, at most limit_bytes of them. Evicted
    tiles lend their buffer to the next conversion; the buffers outlive a pyramid (the
    preview hands them to the full image) but not the image: no pyramid, no memory."""

    def __init__(self, limit_bytes: int) -> None:
        self._limit_bytes = limit_bytes
        self._pyramid: ImagePyramid | None = None
        self._tiles: OrderedDict[tuple[int, int, int], tuple[np.ndarray, QImage]] = OrderedDict()
        self._free: list[np.ndarray] = []
        self._capacity = 1
        self._scratch = np.empty(0, np.uint8)  # the virtual level's shrunk BGR tile

    def reset(self, pyramid: ImagePyramid | None) -> None:
        self._free += [buffer for buffer, _image in self._tiles.values()]
        self._tiles.clear()
        self._pyramid = pyramid
        if pyramid is None or (self._free and self._free[0].shape[0] != pyramid.tile_size):
            self._free.clear()
        if pyramid is not None:
            self._capacity = max(1, self._limit_bytes // (pyramid.tile_size ** 2 * 4))

    def get(self, level: int, col: int, row: int) -> QImage:
        key = (level, col, row)
        entry = self._tiles.get(key)
        if entry is not None:
            self._tiles.move_to_end(key)
            return entry[1]
        pyramid = self._pyramid
        assert pyramid is not None
        if len(self._tiles) >= self._capacity:
            self._free.append(self._tiles.popitem(last=False)[1][0])
        t = pyramid.tile_size
        buffer = self._free.pop() if self._free else np.empty((t, t, 4), np.uint8)
        x, y, w, h = pyramid.tile_rect(level, col, row)
        pixels = pyramid.levels[level].pixels
        if pixels is None:  # the virtual half level: shrink the level-0 pixels under the tile
            base = pyramid.levels[0].pixels
            assert base is not None
            if self._scratch.shape[:2] != (t, t) or self._scratch.shape[2:] != base.shape[2:]:
                self._scratch = np.empty((t, t) + base.shape[2:], np.uint8)
            source = cv2.resize(base[2 * y:2 * (y + h), 2 * x:2 * (x + w)], (w, h),
                                dst=self._scratch[:h, :w], interpolation=cv2.INTER_AREA)
        else:
            source = pixels[y:y + h, x:x + w]
        dst = buffer[:h, :w]
        out = cv2.cvtColor(source, _TO_32[0] if source.ndim == 3 else _TO_32[1], dst=dst)
        if out is not dst:  # OpenCV allocated after all; never seen, but stay correct
            dst[...] = out
        image = QImage(memoryview(buffer).cast("B"), w, h, t * 4, _TO_32[2])
        self._tiles[key] = (buffer, image)
        return image


def preview_reduction(width: int, height: int, above: int = PREVIEW_ABOVE,
                      target: int = PREVIEW_PIXELS) -> int:
    """1 (no preview) up to `above` pixels, else the smallest of 2, 4, 8 that brings the
    preview to at most `target` pixels (8 when none does: libjpeg scales no further)."""
    if width * height <= above:
        return 1
    return max(2, reduction(width, height, max_pixels=target))  # a preview is at least halved


class _LatestOnlyWorker:
    """One background thread that runs the most recently submitted job. A job submitted
    while another is waiting replaces it, so stale work is never started; the thread ends
    when there is nothing left to do. Daemon: quitting never waits for a big decode."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._pending: Callable[[], None] | None = None
        self._running = False

    def submit(self, job: Callable[[], None] | None) -> None:
        with self._lock:
            self._pending = job
            if job is not None and not self._running:
                self._running = True
                threading.Thread(target=self._run, name=self._name, daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._lock:
                job, self._pending = self._pending, None
                if job is None:
                    self._running = False
                    return
            job()


class ImageLoader(QObject):
    """Decodes images off the GUI thread (cv2 releases the GIL) and delivers pyramids on it.

    Large JPEGs first get a reduced preview, decoded on a second thread alongside the full
    decode (with two cores the preview costs the full decode almost nothing). Only one full
    decode runs at a time, so switching between large images never holds two in memory
    beyond the one on screen; callers should ImageLayer.set_size() before load() so that
    one is dropped too. A newer load() or cancel() makes older requests stale: nothing of
    theirs is emitted, and work not yet started is skipped."""

    loaded = Signal(int, object)  # (request id, ImagePyramid); a preview may come first
    failed = Signal(int, str)  # (request id, message naming the file)
    _finished = Signal(int, object, bool)  # worker -> GUI thread: (id, pyramid or message, final)

    def __init__(self, parent: QObject | None = None, *, tile_size: int = DEFAULT_TILE,
                 preview_above: int = PREVIEW_ABOVE, preview_pixels: int = PREVIEW_PIXELS) -> None:
        super().__init__(parent)
        self._tile_size = tile_size
        self._preview_above, self._preview_pixels = preview_above, preview_pixels
        self._last_id = 0
        self._current = 0  # read by the workers: plain int assignment is atomic
        self._final_done = 0
        self._full = _LatestOnlyWorker("image-decode")
        self._preview = _LatestOnlyWorker("image-preview")
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def load(self, path: str | Path, size: tuple[int, int]) -> int:
        """Start decoding `path`, whose size (w, h) the store already knows; returns the
        request id that loaded/failed will carry."""
        self._last_id += 1
        self._current = rid = self._last_id
        path = Path(path)
        reduce = preview_reduction(size[0], size[1], self._preview_above, self._preview_pixels)
        if reduce > 1 and is_jpeg_name(path):
            self._preview.submit(partial(self._work, rid, path, reduce, size))
        else:
            self._preview.submit(None)
        self._full.submit(partial(self._work, rid, path, 1, size))
        return rid

    def cancel(self) -> None:
        self._current = 0
        self._full.submit(None)
        self._preview.submit(None)

    def _work(self, rid: int, path: Path, reduce: int, size: tuple[int, int]) -> None:
        """Runs on a worker thread."""
        if rid != self._current:
            return
        result: ImagePyramid | str
        try:
            if reduce > 1:  # a PNG named .jpg would be decoded in full: no cheap preview
                with open(path, "rb") as f:
                    if f.read(3) != b"\xff\xd8\xff":
                        return
            pixels = decode_image(path, reduce)
            if rid != self._current:
                return
            result = ImagePyramid.from_array(pixels, size if reduce > 1 else None, tile_size=self._tile_size)
        except ImageReadError as exc:
            result = str(exc)
        except MemoryError:
            result = f"{path}: not enough memory to open this image"
        except Exception as exc:  # a worker must report, never die silently
            result = f"{path}: cannot open ({type(exc).__name__}: {exc})"
        if rid == self._current:
            try:
                self._finished.emit(rid, result, reduce == 1)
            except RuntimeError:  # the loader was deleted while this decode ran
                pass

    @Slot(int, object, bool)
    def _deliver(self, rid: int, result: object, final: bool) -> None:
        if rid != self._current or self._final_done == rid:
            return  # stale, or a preview that lost the race with the full decode
        if final:
            self._final_done = rid
            if isinstance(result, str):
                self.failed.emit(rid, result)
                return
        if isinstance(result, ImagePyramid):
            self.loaded.emit(rid, result)
