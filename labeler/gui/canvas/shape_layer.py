"""Every shape nobody is touching, drawn from cached tiles.

Drawing thousands of antialiased polygons on every frame costs hundreds of milliseconds, so
this layer renders them once into tiles and then only copies tiles:

* Tiles are TILE x TILE device pixels at a level of detail ``2**e`` (device pixels per image
  pixel), ``e`` the smallest level at least as sharp as the current zoom. The coarsest
  level (the whole image in about BASE_SIZE pixels) is rendered when shapes are loaded and
  kept, so there is always something to show.
* A tile not rendered yet is drawn from the best coarser tile (a little blurry for a moment)
  and queued. The queue is rendered once the view has stopped moving for SETTLE_MS, in
  slices of about SLICE_MS between events, so panning and zooming never wait for it.
* Fills are written without blending and outlines blended on top (see _draw_shapes): that
  makes a tile several times cheaper to render than plain translucent polygons.
* An edit repaints only the changed rectangle of the cached tiles (clear it, redraw the
  shapes that touch it, clipped), and the selected shapes are left out of the tiles: they
  are live items on top (items.py), which is what makes dragging a vertex cheap.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPolygonF
from PySide6.QtWidgets import QGraphicsObject

from ...core.entities import Instance, MaskRLE, Polygons
from ...geometry import bbox, rle_to_mask
from .painting import fill_brush, is_proposed, mask_image, outline_pen, polygons_path, ring_polygon

TILE = 512
BASE_SIZE = 2048  # the always-present level shows the whole image in about this many pixels
MAX_LEVEL = 6  # tiles up to 64 screen pixels per image pixel: sharp at every zoom
SLICE_MS = 5.0  # longest stretch of queued tile rendering between two events
SETTLE_MS = 80  # queued tiles wait until the view has stopped moving this long
MAX_TILES = 192  # cached tiles beyond the base level (about 1 MB each)


class _Drawn:
    """One instance as it is drawn: path or mask image, colours, box."""

    __slots__ = ("instance", "polygon", "_path", "mask", "color", "proposed")

    def __init__(self, instance: Instance, color: QColor) -> None:
        self.instance = instance
        self.color = color
        self.proposed = is_proposed(instance)
        shape = instance.shape
        # One ring (the common case) is drawn with drawPolygon, faster than a path.
        simple = isinstance(shape, Polygons) and len(shape.parts) == 1 and not shape.has_holes
        self.polygon: QPolygonF | None = ring_polygon(shape.parts[0][0]) if simple else None  # type: ignore[union-attr]
        self._path: QPainterPath | None = None
        self.mask: tuple[QImage, QRectF] | None | bool = False  # False: not built yet

    @property
    def path(self) -> QPainterPath | None:
        """The outline as a path (built when first needed); None for a mask."""
        if self._path is None and isinstance(self.instance.shape, Polygons):
            self._path = polygons_path(self.instance.shape)
        return self._path


class ShapeLayer(QGraphicsObject):
    def __init__(self) -> None:
        super().__init__()
        self.setFlag(QGraphicsObject.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self._rect = QRectF()
        self._drawn: dict[int, _Drawn] = {}
        self._ids = np.zeros(0, np.int64)
        self._boxes = np.zeros((0, 4))  # x0, y0, x1, y1 per id in self._ids
        self._excluded: set[int] = set()
        self.fill_alpha = 90
        self._base_level = 0
        self._tiles: OrderedDict[tuple[int, int, int], QImage] = OrderedDict()
        self._queue: list[tuple[int, int, int]] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._render_queued)
        self._rendering = False
        self.longest_slice_ms = 0.0  # for the benchmark: the longest the event loop waited

    # --- content -----------------------------------------------------------------------

    def set_shapes(self, width: int, height: int, instances: list[Instance],
                   colors: dict[int, QColor], excluded=()) -> None:
        self.prepareGeometryChange()
        self._rect = QRectF(0, 0, width, height)
        self._colors = colors
        self._drawn = {i.id: _Drawn(i, colors.get(i.category_id, QColor("#e6194b")))  # type: ignore[misc]
                       for i in instances}
        self._excluded = set(excluded)
        self._base_level = min(0, math.floor(math.log2(BASE_SIZE / max(width, height, 1))))
        self._reindex()
        self._drop_tiles()
        self._render_base()
        self.update()

    def update_instances(self, changed: list[Instance], removed=()) -> None:
        """Apply an edit: only the rectangles it touches are redrawn."""
        dirty = [self._box_of(i) for i in removed if i in self._drawn]
        gone = [i for i in removed if self._drawn.pop(i, None) is not None]
        if gone:
            keep = ~np.isin(self._ids, gone)
            self._ids, self._boxes = self._ids[keep], self._boxes[keep]
        for instance in changed:
            iid = instance.id
            if iid in self._drawn:
                dirty.append(self._box_of(iid))
            d = self._drawn[iid] = _Drawn(instance, self._colors.get(instance.category_id, QColor("#e6194b")))  # type: ignore[index]
            r = self._bounds(d)
            row = np.nonzero(self._ids == iid)[0]
            if len(row):
                self._boxes[row[0]] = (r.left(), r.top(), r.right(), r.bottom())
            else:  # new: drawn last, on top
                self._ids = np.append(self._ids, np.int64(iid))
                self._boxes = np.vstack([self._boxes, [(r.left(), r.top(), r.right(), r.bottom())]])
            dirty.append(r)
        self._repaint_regions(dirty)

    def set_colors(self, colors: dict[int, QColor]) -> None:
        self._colors = colors
        for d in self._drawn.values():
            d.color = colors.get(d.instance.category_id, d.color)
            d.mask = False
        self._drop_tiles()
        self._render_base()
        self.update()

    def set_fill_alpha(self, alpha: int) -> None:
        self.fill_alpha = int(alpha)
        for d in self._drawn.values():
            d.mask = False
        self._drop_tiles()
        self._render_base()
        self.update()

    def set_excluded(self, ids) -> None:
        """Leave these out (the selection, drawn live on top); repaints where they were."""
        ids = set(ids)
        changed = ids ^ self._excluded
        self._excluded = ids
        self._repaint_regions([self._box_of(i) for i in changed if i in self._drawn])

    # --- queries -----------------------------------------------------------------------

    def instance_at(self, pos: QPointF, tolerance: float) -> int | None:
        """The smallest drawn shape under ``pos`` (within ``tolerance`` image pixels of its
        outline), so a shape lying inside another can still be picked."""
        x, y = pos.x(), pos.y()
        b = self._boxes
        near = ((b[:, 0] - tolerance <= x) & (x <= b[:, 2] + tolerance)
                & (b[:, 1] - tolerance <= y) & (y <= b[:, 3] + tolerance))
        best, best_area = None, math.inf
        probe = QPainterPath()
        probe.addEllipse(pos, tolerance, tolerance)
        for index in np.nonzero(near)[0]:
            iid = int(self._ids[index])
            d = self._drawn[iid]
            if isinstance(d.instance.shape, Polygons):
                hit = d.path.contains(pos) or d.path.intersects(probe)  # type: ignore[union-attr]
            else:
                hit = self._mask_contains(d, x, y)
            area = (b[index, 2] - b[index, 0]) * (b[index, 3] - b[index, 1])
            if hit and area < best_area:
                best, best_area = iid, area
        return best

    @staticmethod
    def _mask_contains(d: _Drawn, x: float, y: float) -> bool:
        shape = d.instance.shape
        assert isinstance(shape, MaskRLE)
        col, row = int(x), int(y)
        if not (0 <= row < shape.height and 0 <= col < shape.width):
            return False
        return bool(rle_to_mask(shape)[row, col])

    def ids_in(self, rect: QRectF) -> np.ndarray:
        b = self._boxes
        hit = ((b[:, 2] >= rect.left()) & (b[:, 0] <= rect.right())
               & (b[:, 3] >= rect.top()) & (b[:, 1] <= rect.bottom()))
        return self._ids[hit]

    # --- QGraphicsItem -------------------------------------------------------------------

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:
        exposed = option.exposedRect.intersected(self._rect)
        if exposed.isEmpty() or not self._drawn:
            return
        scale = painter.worldTransform().m11()
        level = min(MAX_LEVEL, max(self._base_level, math.ceil(math.log2(max(scale, 1e-9)) - 1e-9)))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        wanted = []
        for key in self._tile_keys(level, exposed):
            tile = self._tiles.get(key)
            if tile is not None:
                self._tiles.move_to_end(key)
                painter.drawImage(self._tile_rect(key), tile)
                continue
            wanted.append(key)
            self._draw_fallback(painter, key)
        if wanted:
            self._queue = wanted  # only what the latest frame needs
            if not self._rendering and not self._timer.isActive():  # a repaint is no move: view_moved restarts it
                self._timer.start(SETTLE_MS)

    def view_moved(self) -> None:
        """The view panned or zoomed: hold queued rendering until it settles again."""
        self._rendering = False
        if self._queue:
            self._timer.start(SETTLE_MS)

    # --- tiles -------------------------------------------------------------------------

    @staticmethod
    def _tile_span(level: int) -> float:
        return TILE / 2.0 ** level  # image pixels covered by one tile side

    def _tile_rect(self, key: tuple[int, int, int]) -> QRectF:
        level, tx, ty = key
        span = self._tile_span(level)
        return QRectF(tx * span, ty * span, span, span)

    def _tile_keys(self, level: int, rect: QRectF) -> list[tuple[int, int, int]]:
        span = self._tile_span(level)
        tx0, ty0 = int(max(rect.left(), 0) // span), int(max(rect.top(), 0) // span)
        tx1 = int(min(rect.right(), self._rect.right() - 1e-6) // span)
        ty1 = int(min(rect.bottom(), self._rect.bottom() - 1e-6) // span)
        return [(level, tx, ty) for ty in range(ty0, ty1 + 1) for tx in range(tx0, tx1 + 1)]

    def _draw_fallback(self, painter: QPainter, key: tuple[int, int, int]) -> None:
        """Draw the part of the nearest coarser tile that covers ``key``."""
        target = self._tile_rect(key)
        level = key[0] - 1
        while level >= self._base_level:
            for coarse in self._tile_keys(level, target):
                tile = self._tiles.get(coarse)
                if tile is None:
                    continue
                crect = self._tile_rect(coarse)
                part = crect.intersected(target)
                f = TILE / crect.width()
                source = QRectF((part.left() - crect.left()) * f, (part.top() - crect.top()) * f,
                                part.width() * f, part.height() * f)
                painter.drawImage(part, tile, source)
            if all(c in self._tiles for c in self._tile_keys(level, target)):
                return
            level -= 1

    def _render_tile(self, key: tuple[int, int, int]) -> QImage:
        tile = QImage(TILE, TILE, QImage.Format.Format_ARGB32_Premultiplied)
        tile.fill(Qt.GlobalColor.transparent)
        rect = self._tile_rect(key)
        painter = QPainter(tile)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        f = 2.0 ** key[0]
        painter.scale(f, f)
        painter.translate(-rect.left(), -rect.top())
        self._draw_shapes(painter, self.ids_in(rect))
        painter.end()
        return tile

    def _render_base(self) -> None:
        for key in self._tile_keys(self._base_level, self._rect):
            self._tiles[key] = self._render_tile(key)

    def _render_queued(self) -> None:
        self._rendering = True
        start = time.perf_counter()
        while self._queue and (time.perf_counter() - start) * 1000 < SLICE_MS:
            key = self._queue.pop(0)
            if key not in self._tiles:
                self._tiles[key] = self._render_tile(key)
                self.update(self._tile_rect(key))
        self._evict()
        self.longest_slice_ms = max(self.longest_slice_ms, (time.perf_counter() - start) * 1000)
        if self._queue:
            self._timer.start(0)
        else:
            self._rendering = False

    def _evict(self) -> None:
        extra = [k for k in self._tiles if k[0] != self._base_level]
        for key in extra[: max(0, len(extra) - MAX_TILES)]:  # least recently used first
            del self._tiles[key]

    def _drop_tiles(self) -> None:
        self._tiles.clear()
        self._queue.clear()

    def _repaint_regions(self, boxes: list[QRectF]) -> None:
        """Redraw only these image rectangles inside every cached tile that they touch."""
        for box in boxes:
            if box.isNull():
                continue
            for key, tile in list(self._tiles.items()):
                trect = self._tile_rect(key)
                f = 2.0 ** key[0]
                pad = 3.0 / f  # outline width and antialiasing spill, in image pixels
                region = box.adjusted(-pad, -pad, pad, pad).intersected(trect)
                if region.isEmpty():
                    continue
                dev = QRectF((region.left() - trect.left()) * f, (region.top() - trect.top()) * f,
                             region.width() * f, region.height() * f).toAlignedRect()
                painter = QPainter(tile)
                painter.setRenderHint(QPainter.RenderHint.Antialiasing)
                painter.setClipRect(dev)
                painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Clear)
                painter.fillRect(dev, Qt.GlobalColor.transparent)
                painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
                painter.scale(f, f)
                painter.translate(-trect.left(), -trect.top())
                clip = QRectF(dev.left() / f + trect.left(), dev.top() / f + trect.top(),
                              dev.width() / f, dev.height() / f)
                self._draw_shapes(painter, self.ids_in(clip))
                painter.end()
            self.update(box.adjusted(-4, -4, 4, 4))

    # --- drawing -----------------------------------------------------------------------

    def _draw_shapes(self, painter: QPainter, ids) -> None:
        """Fills first, written with CompositionMode_Source: no blending, which Qt's raster
        engine does several times faster than blending a translucent fill (and a shape on
        top simply covers the one below). Then every outline, blended, on top."""
        drawn = [self._drawn[int(i)] for i in ids if int(i) not in self._excluded]
        Source = QPainter.CompositionMode.CompositionMode_Source
        SourceOver = QPainter.CompositionMode.CompositionMode_SourceOver
        painter.setPen(Qt.PenStyle.NoPen)
        last = None
        for d in drawn:
            if isinstance(d.instance.shape, Polygons):
                if last != d.color.rgb():
                    painter.setBrush(fill_brush(d.color, self.fill_alpha))
                    last = d.color.rgb()
                painter.setCompositionMode(Source)
                if d.polygon is not None:
                    painter.drawPolygon(d.polygon)
                else:
                    painter.drawPath(d.path)  # type: ignore[arg-type]
            else:
                if d.mask is False:
                    d.mask = mask_image(d.instance.shape, d.color, self.fill_alpha)  # type: ignore[arg-type]
                if d.mask:
                    painter.setCompositionMode(SourceOver)
                    painter.drawImage(d.mask[1], d.mask[0])  # type: ignore[index]
        painter.setCompositionMode(SourceOver)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        last = None
        for d in drawn:
            if not isinstance(d.instance.shape, Polygons):
                continue
            style = (d.color.rgb(), d.proposed)
            if style != last:
                painter.setPen(outline_pen(d.color, d.proposed))
                last = style
            if d.polygon is not None:
                painter.drawPolygon(d.polygon)
            else:
                painter.drawPath(d.path)  # type: ignore[arg-type]

    # --- index -------------------------------------------------------------------------

    def _reindex(self) -> None:
        ids = [i for i in self._drawn]  # insertion order == drawing order
        self._ids = np.array(ids, np.int64)
        boxes = np.zeros((len(ids), 4))
        for n, iid in enumerate(ids):
            r = self._bounds(self._drawn[iid])
            boxes[n] = (r.left(), r.top(), r.right(), r.bottom())
        self._boxes = boxes

    def _bounds(self, d: _Drawn) -> QRectF:
        if d.polygon is not None:
            return d.polygon.boundingRect()
        if d.path is not None:
            return d.path.boundingRect()
        x, y, w, h = bbox(d.instance.shape)  # masks: pycocotools' box of the pixels
        return QRectF(x, y, w, h)

    def _box_of(self, iid: int) -> QRectF:
        d = self._drawn.get(iid)
        return self._bounds(d) if d is not None else QRectF()
