"""The canvas: image, shapes, selection and tool preview in one QGraphicsView.

Scene coordinates are image pixel coordinates. The view zooms around the cursor with the
wheel, pans with the middle button or space-drag, and passes everything else to the active
tool (tools.py). It redraws from the Session's signals; it never writes the store.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeySequence, QPainter
from PySide6.QtWidgets import QFrame, QGraphicsItem, QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsView

from ... import geometry
from ...core.commands import delete_instances
from ...core.entities import ImageRecord, InstanceStatus
from ..session import Session
from .image_layer import ImageLayer, ImageLoader
from .items import LabelTags, PreviewItem, SelectionItem
from .shape_layer import ShapeLayer
from .assist_tool import AssistPreview, AssistTool
from .scissors_tool import ScissorsTool
from .edit_tool import EditTool
from .tools import BrushTool, CanvasEvent, PolygonTool, PromptTool, RectangleTool, Tool
from .wand_tool import WandTool

MAX_ZOOM = 64.0  # screen pixels per image pixel
WHEEL_STEP = 1.0015  # zoom factor per 1/8 degree of wheel rotation (1.2 per notch)
REST_MS = 250  # the view has rested this long after a zoom or pan: the assisted tools' layer cache returns


class CanvasView(QGraphicsView):
    cursorMoved = Signal(float, float)  # image coordinates
    zoomChanged = Signal(float)  # screen pixels per image pixel
    toolChanged = Signal(str)
    loadingChanged = Signal(bool)  # full-resolution pixels still on their way
    imageFailed = Signal(str)  # the image on screen cannot be read (message naming the file)
    imageRead = Signal()  # its full-resolution pixels arrived
    boxPrompted = Signal(object)  # (x0, y0, x1, y1) in image pixels, from the prompt tool
    hintChanged = Signal(str)  # what the active tool will do next ("Brush: adds to cat #2"), or ""

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.setScene(QGraphicsScene(self))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QColor("#2b2b2b"))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # zoom_by anchors itself
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState)

        self.image_layer = ImageLayer()
        self.shape_layer = ShapeLayer()
        self.selection_item = SelectionItem()
        self.preview = PreviewItem()
        self.assist_preview = AssistPreview()
        self.assist_model = None  # the AssistBridge once the assist model is ready (gui/assist_controller.py)
        self.tags = LabelTags()
        self.show_names = True
        self._anchors: dict[int, tuple[float, float]] = {}  # instance id -> top-left of its box
        self.notice = QGraphicsSimpleTextItem()
        self.notice.setFlag(QGraphicsSimpleTextItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.notice.setBrush(QColor("#ffb0b0"))
        for z, item in enumerate((self.image_layer, self.shape_layer, self.selection_item,
                                  self.tags, self.assist_preview, self.preview, self.notice)):
            item.setZValue(z)
            self.scene().addItem(item)

        self._resting = True  # the view has not moved for REST_MS (sync_layers)
        self._rest = QTimer(self)
        self._rest.setSingleShot(True)
        self._rest.setInterval(REST_MS)
        self._rest.timeout.connect(self._at_rest)

        self.loader = ImageLoader(self)
        self.loader.loaded.connect(self._on_pixels)
        self.loader.failed.connect(self._on_failed)
        self._request = -1
        self.unreadable: str | None = None  # why the image on screen cannot be drawn on

        self.brush_radius = 8.0
        self.tools: dict[str, Tool] = {t.name: t for t in (
            EditTool(self), PolygonTool(self), RectangleTool(self), BrushTool(self), BrushTool(self, erase=True),
            PromptTool(self), AssistTool(self), WandTool(self), ScissorsTool(self))}
        self.tool: Tool = self.tools["edit"]
        self._space = False
        self._pan_from: QPointF | None = None
        self._zoom_anchor: tuple | None = None  # (viewport pos, image point, transform after the step)
        self._fitted = False  # the view shows the whole image and follows resizes until zoomed or panned

        session.imageChanged.connect(self.show_image)
        session.instancesChanged.connect(self._on_instances)
        session.selectionChanged.connect(lambda _ids: self._refresh_selection())
        session.visibilityChanged.connect(self._reload_shapes)
        session.categoriesChanged.connect(self._on_categories)

    # --- Host interface for the tools -----------------------------------------------------

    @property
    def scale(self) -> float:
        return self.transform().m11()

    def hit(self, pos: QPointF) -> int | None:
        ids = set(self.session.selection)
        hit = self.shape_layer.instance_at(pos, 4.0 / self.scale)
        if ids:  # the selection is drawn live, not in the layer: test it too, it is on top
            selected = self.selection_item.instance_at(pos, 4.0 / self.scale)
            if selected is not None:
                return selected
        return hit

    def image_size(self) -> tuple[int, int]:
        image = self.session.image
        return (image.width, image.height) if image else (0, 0)

    def category_color(self, category_id: int | None) -> QColor:
        category = self.session.category(category_id) if category_id is not None else None
        return QColor(category.color if category else "#ffffff")

    def prompt_box(self, box: tuple[float, float, float, float]) -> None:
        self.boxPrompted.emit(box)

    def hint(self, text: str) -> None:
        self.hintChanged.emit(text)

    def pixels(self):
        """The full-resolution pixels of the image on screen (HxWx3 BGR or HxW gray numpy
        array, not a copy), or None while they are still decoding or cannot be read."""
        pyramid = self.image_layer.pyramid
        if pyramid is None or pyramid.is_preview or self.unreadable is not None:
            return None
        return pyramid.levels[0].pixels

    # --- tools -------------------------------------------------------------------------

    def set_tool(self, name: str) -> None:
        self.tool.cancel()
        self.tool = self.tools[name]
        self.viewport().setCursor(self.tool.cursor)
        self.toolChanged.emit(name)
        self.sync_layers()

    def sync_layers(self) -> None:
        """With an assisted tool (Tool.caches_layers) and the view at rest, the image and the
        selection are kept as pixmaps of what is on screen (Qt caches only the visible part
        of an item larger than the view), so each of the tool's answers repaints its picture
        over two blits instead of re-drawing the image tiles and the selected outline: on a 12
        MP photo an answer took 15-30 ms of the GUI thread, and under 13 so
        (benchmarks/tools_latency.py). Not while the view moves: a cached zoom step re-renders
        everything into the pixmaps, which made pan and zoom slower (benchmarks/canvas.py).
        REST_MS after the last move the cache comes back and is filled at once, while the
        person is not waiting on an answer."""
        cached = self.tool.caches_layers and self._resting
        mode = QGraphicsItem.CacheMode.DeviceCoordinateCache if cached else QGraphicsItem.CacheMode.NoCache
        if self.image_layer.cacheMode() != mode:
            for item in (self.image_layer, self.selection_item):
                item.setCacheMode(mode)
            if cached:
                self.viewport().update()  # fill the pixmaps now, not on the tool's first answer

    def _view_moved(self) -> None:
        self._resting = False
        self.sync_layers()
        self._rest.start()

    def _at_rest(self) -> None:
        self._resting = True
        self.sync_layers()

    def set_brush_radius(self, radius: float) -> None:
        self.brush_radius = float(min(max(radius, 1.0), 500.0))

    def undo_in_tool(self) -> bool:
        """Ctrl+Z while a tool is in the middle of something undoes its last step (a click of
        the assisted mask, a vertex of the polygon being drawn); True if it did."""
        return self.tool.undo()

    def tab_pressed(self) -> bool:
        """Tab belongs to a tool that has candidates to show (the assisted mask's); True if it took it."""
        return bool(self.tool.key(Qt.Key.Key_Tab, Qt.KeyboardModifier.NoModifier))

    def enter_pressed(self) -> bool:
        """Enter belongs to a tool that is drawing (it closes a polygon); True if it took it."""
        return bool(self.tool.key(Qt.Key.Key_Return, Qt.KeyboardModifier.NoModifier))

    def delete_active_vertex(self) -> bool:
        tool = self.tools["edit"]
        return self.tool is tool and tool.delete_active_vertex()  # type: ignore[attr-defined]

    def show_instance(self, instance_id: int) -> None:
        """Scroll (not zoom) so that the instance is on screen."""
        instance = self.session.instances.get(instance_id)
        if instance is not None:
            x, y, w, h = geometry.bbox(instance.shape)
            self.ensureVisible(QRectF(x, y, w, h), 40, 40)

    def delete_pressed(self) -> None:
        """Del: a highlighted vertex first, else the selected instances."""
        if self.delete_active_vertex():
            return
        selected = self.session.selected_instances()
        if selected:
            self.session.push(delete_instances(selected, "Delete instance" if len(selected) == 1
                                               else f"Delete {len(selected)} instances"))

    # --- image and shapes ----------------------------------------------------------------

    def show_image(self, image: ImageRecord | None) -> None:
        self.tool.cancel()
        self.notice.setText("")
        self.unreadable = None
        if image is None:
            self.image_layer.set_size(0, 0)
            self.image_layer.set_pyramid(None)
            self.shape_layer.set_shapes(0, 0, [], {})
            return
        w, h = image.width, image.height
        margin = 2 * max(w, h)  # room to scroll so that zooming out at a corner keeps the point in place
        self.scene().setSceneRect(QRectF(-margin, -margin, w + 2 * margin, h + 2 * margin))
        self.image_layer.set_size(w, h)
        self.image_layer.set_pyramid(None)
        self._request = self.loader.load(self.session.image_path(image), (w, h))
        self.loadingChanged.emit(True)
        self._reload_shapes()
        self.fit()

    def _on_pixels(self, request: int, pyramid) -> None:
        if request != self._request:
            return
        self.image_layer.set_pyramid(pyramid)
        if not pyramid.is_preview:
            self.loadingChanged.emit(False)
            self.imageRead.emit()

    def _on_failed(self, request: int, message: str) -> None:
        if request != self._request:
            return
        self.loadingChanged.emit(False)
        self.tool.cancel()  # a shape begun before the decode failed is dropped with it
        self.unreadable = message
        self.notice.setText(f"{message}\nDrawing is off for this image until the file can be read.")
        self.notice.setPos(0, 0)
        self.imageFailed.emit(message)

    def _colors(self) -> dict[int, QColor]:
        return {cid: QColor(c.color) for cid, c in self.session.categories.items()}

    def _reload_shapes(self) -> None:
        self._anchors.clear()
        w, h = self.image_size()
        self.shape_layer.set_shapes(w, h, self.session.visible_instances(), self._colors(),
                                    excluded=self.session.selection)
        self._refresh_tags()
        self._refresh_selection()

    def _on_instances(self, changed, removed) -> None:
        for instance_id in (*removed, *(i.id for i in changed)):
            self._anchors.pop(instance_id, None)
        visible = {i.id for i in self.session.visible_instances()}
        shown = [i for i in changed if i.id in visible]
        gone = set(removed) | {i.id for i in changed if i.id not in visible}
        self.shape_layer.update_instances(shown, gone)
        self._refresh_tags()
        self._refresh_selection()

    def _on_categories(self) -> None:
        self.shape_layer.set_colors(self._colors())
        self._refresh_tags()
        self._refresh_selection()

    def set_show_names(self, shown: bool) -> None:
        self.show_names = shown
        self._refresh_tags()

    def _refresh_tags(self) -> None:
        """A tag per shape: its class name (when shown) and, on a suggestion, its score."""
        colors = self._colors()
        names = {cid: c.name for cid, c in self.session.categories.items()}
        tags = []
        for instance in self.session.visible_instances():
            score = instance.status == InstanceStatus.PROPOSED and instance.score is not None
            if not (score or self.show_names):
                continue
            anchor = self._anchors.get(instance.id)  # type: ignore[arg-type]
            if anchor is None:
                x, y, _, _ = geometry.bbox(instance.shape)
                anchor = self._anchors[instance.id] = (x, y)  # type: ignore[index]
            parts = [names.get(instance.category_id, "?")] if self.show_names else []
            if score:
                parts.append(f"{instance.score:.2f}")
            tags.append((*anchor, " ".join(parts), colors.get(instance.category_id, QColor("#ffffff")), score))
        self.tags.set_tags(tags)

    def _refresh_selection(self) -> None:
        visible = {i.id for i in self.session.visible_instances()}
        selected = [i for i in self.session.selected_instances()
                    if i.id in visible and i.status != InstanceStatus.REJECTED]
        colors = self._colors()
        self.selection_item.set_instances([(i, colors.get(i.category_id, QColor("#ffffff"))) for i in selected])
        self.shape_layer.set_excluded([i.id for i in selected])

    def set_fill_opacity(self, percent: int) -> None:
        alpha = round(255 * percent / 100)
        self.shape_layer.set_fill_alpha(alpha)
        self.selection_item.fill_alpha = alpha
        self._refresh_selection()

    # --- zoom and pan ------------------------------------------------------------------

    def fit(self) -> None:
        w, h = self.image_size()
        if w and h:
            self.fitInView(QRectF(0, 0, w, h), Qt.AspectRatioMode.KeepAspectRatio)
            self._scale_changed()
        self._fitted = True

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fitted:  # the window got its final size, or a dock opened: still the whole image
            self.fit()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by `factor`, keeping the image point under `anchor` (viewport pixels; None:
        the centre of the view) where it is on screen.

        Done by hand, not with Qt's AnchorUnderMouse: that anchor is the scene point of the
        last mouse move QGraphicsView itself saw, and our mouseMoveEvent (the tools') does
        not pass moves on, so on a real screen every wheel zoom went to the image's corner.
        The anchor is kept in image coordinates across consecutive steps at the same spot:
        scroll bars move in whole screen pixels, and re-reading the point after each step
        would let that rounding pile up while zooming in from far out."""
        w, h = self.image_size()
        fit = min(self.viewport().width() / max(w, 1), self.viewport().height() / max(h, 1))
        target = min(max(self.scale * factor, fit / 4), MAX_ZOOM)
        if target == self.scale:
            return
        at = QPointF(self.viewport().rect().center()) if anchor is None else QPointF(anchor)
        kept = self._zoom_anchor
        if kept is not None and kept[2] == self.viewportTransform() and (kept[0] - at).manhattanLength() < 0.5:
            point = kept[1]  # the same spot as the last step, and nothing moved since
        else:
            point = self.viewportTransform().inverted()[0].map(at)
        self._fitted = False
        self.scale_view(target / self.scale)
        self.put(point, at)
        self._zoom_anchor = (at, point, self.viewportTransform())
        self.cursorMoved.emit(point.x(), point.y())

    def put(self, point: QPointF, at: QPointF) -> None:
        """Scroll so that the image point `point` is at viewport position `at` (to the
        nearest screen pixel, the scroll bars' unit)."""
        off = self.viewportTransform().map(point) - at
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + round(off.x()))
        v.setValue(v.value() + round(off.y()))

    def scale_view(self, factor: float) -> None:
        super().scale(factor, factor)
        self._scale_changed()

    def _scale_changed(self) -> None:
        self.shape_layer.view_moved()
        self._view_moved()
        self.selection_item.set_view_scale(self.scale)
        self.tags.set_view_scale(self.scale)
        self.preview.set_view_scale(self.scale)
        self.assist_preview.set_view_scale(self.scale)
        self.zoomChanged.emit(self.scale)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the picture by (dx, dy) screen pixels."""
        self._fitted = False
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(round(h.value() - dx))
        v.setValue(round(v.value() - dy))

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self.shape_layer.view_moved()
        self._view_moved()

    def wheelEvent(self, event) -> None:
        """A mouse wheel notch is 120 (1/8 degree units); a trackpad sends many small
        steps, and some only pixel deltas."""
        delta = event.angleDelta().y() or event.pixelDelta().y()
        if delta and not self.tool.wheel(delta, event.modifiers()):  # Ctrl+wheel: the wand's tolerance
            self.zoom_by(WHEEL_STEP ** delta, event.position())
        event.accept()

    def viewportEvent(self, event) -> bool:
        if event.type() == QEvent.Type.NativeGesture and \
                event.gestureType() == Qt.NativeGestureType.ZoomNativeGesture:  # trackpad pinch
            self.zoom_by(1.0 + event.value(), event.position())
            return True
        return super().viewportEvent(event)

    # --- events ------------------------------------------------------------------------

    def _event(self, event) -> CanvasEvent:
        return CanvasEvent(self.mapToScene(event.position().toPoint()), event.button(), event.modifiers())

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (self._space and event.button() == Qt.MouseButton.LeftButton):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        self.setFocus()
        if self.unreadable is not None and event.button() == Qt.MouseButton.LeftButton:
            self.session.message.emit(f"Drawing is off: {self.unreadable}")
            return
        self.tool.press(self._event(event))

    def mouseMoveEvent(self, event) -> None:
        if self._pan_from is not None:
            d = event.position() - self._pan_from
            self._pan_from = event.position()
            self.pan_by(d.x(), d.y())
            return
        ev = self._event(event)
        self.cursorMoved.emit(ev.pos.x(), ev.pos.y())
        self.tool.move(ev, bool(event.buttons() & Qt.MouseButton.LeftButton))

    def mouseReleaseEvent(self, event) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space else self.tool.cursor)
            return
        self.tool.release(self._event(event))

    def mouseDoubleClickEvent(self, event) -> None:
        self.mousePressEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if self.tool.key(event.key(), event.modifiers()):
            return
        if event.matches(QKeySequence.StandardKey.Undo) and self.tool.undo():
            return  # the window's Undo is greyed out while the image has no edit yet
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().setCursor(self.tool.cursor)
            return
        super().keyReleaseEvent(event)

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, self.backgroundBrush())
