"""The image browser dock: every image with thumbnail and status, a status filter, a search.

Projects have tens of thousands of images, so nothing may cost per image up front. The model
filters itself (row -> image position), which keeps set_images and each keystroke to a few
milliseconds; a QSortFilterProxyModel would call Python once per image each time. Painting
asks for thumbnails: QListView with uniform item sizes paints only rows on screen, and the
first ask queues a decode and answers with a placeholder. Two worker threads decode, newest
request first (rows scrolled past wait, or are dropped and asked again if seen again), and a
queued signal brings the result into a bounded LRU cache.
"""

from __future__ import annotations

import bisect
import functools
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from PySide6.QtCore import (QAbstractListModel, QItemSelection, QItemSelectionModel, QModelIndex,
                            QObject, QRect, QSize, Qt, QThreadPool, Signal)
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QLineEdit, QListView,
                               QStyle, QStyledItemDelegate, QVBoxLayout, QWidget)

from ...core.entities import ImageRecord, ImageStatus
from ...imaging.reduced import decode_thumbnail
from .status_icons import STATUS_COLORS, STATUS_TEXT, status_icon, status_pixmap

THUMB_SIZE = 96  # decoded thumbnails fit this square (sharp at 1.5x of the 64 px shown)
ICON_SIZE = 64  # thumbnail box in a row, logical pixels
PADDING = 4
CACHE_SIZE = 2000  # thumbnails kept (about 30 KB each)
MAX_QUEUED = 64  # waiting decodes beyond this are dropped, oldest first
DECODE_THREADS = 2  # leaves the GUI a core on small machines

ImageIdRole = Qt.ItemDataRole.UserRole + 1
StatusRole = Qt.ItemDataRole.UserRole + 2
ProblemRole = Qt.ItemDataRole.UserRole + 3  # why the image cannot be read, or None

_ORDER = (ImageStatus.UNLABELED, ImageStatus.PROPOSED, ImageStatus.IN_REVIEW, ImageStatus.ACCEPTED)
FILTERS: list[tuple[str, frozenset[ImageStatus] | None]] = [
    ("All", None), *((STATUS_TEXT[s], frozenset({s})) for s in _ORDER),
    ("Not accepted yet", frozenset(_ORDER[:3])),
]
ORDERS = (("Order: path", "path"), ("Order: least certain first", "uncertainty"))
def _decode_job(relay: _Relay, key: str, path: Path, source_size: tuple[int, int] | None) -> None:
    """Runs in a worker thread. Whatever a strange file throws must still end in a report, or
    its row would wait for a thumbnail forever; so this one place catches everything."""
    image = None
    try:
        array = decode_thumbnail(path, THUMB_SIZE, source_size)
        if array is not None:
            h, w = array.shape[:2]
            image = QImage(array.data, w, h, array.strides[0], QImage.Format.Format_BGR888).copy()
    except Exception:  # noqa: BLE001 - the row shows the broken placeholder instead
        image = None
    try:
        relay.done.emit(key, image)
    except RuntimeError:  # the browser is gone
        pass


class _Relay(QObject):
    """Carries results out of the workers. It has no Qt parent and every job holds it, so it
    outlives the last job even when the browser is deleted first."""

    done = Signal(str, object)  # key, QImage | None


class ThumbnailLoader(QObject):
    loaded = Signal(str)  # key (the file's path): its thumbnail or broken mark is now cached

    def __init__(self, parent: QObject | None = None, threads: int = DECODE_THREADS) -> None:
        super().__init__(parent)
        self.request_count = 0  # decodes queued so far (tests and diagnostics)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._relay = _Relay()
        self._relay.done.connect(self._on_done)
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self._queue: OrderedDict[str, tuple[Path, tuple[int, int] | None]] = OrderedDict()
        self._running: set[str] = set()
        self.placeholder, self.broken = _box_pixmap(broken=False), _box_pixmap(broken=True)

    def thumbnail(self, path: Path, source_size: tuple[int, int] | None = None) -> QPixmap | None:
        """The cached thumbnail, or None after queueing (or moving to the front) its decode."""
        key = str(path)
        pixmap = self._cache.get(key)
        if pixmap is not None:
            self._cache.move_to_end(key)
            return pixmap
        if key in self._queue:
            self._queue.move_to_end(key)  # on screen again: newest first
        elif key not in self._running:
            self.request_count += 1
            self._queue[key] = (path, source_size)
            while len(self._queue) > MAX_QUEUED:
                self._queue.popitem(last=False)
            self._start_jobs()
        return None

    def state(self, path: Path) -> str:
        """"loading", "ready" or "broken"; unlike thumbnail() it queues nothing."""
        pixmap = self._cache.get(str(path))
        return "loading" if pixmap is None else "broken" if pixmap is self.broken else "ready"

    def pending(self) -> int:
        return len(self._queue) + len(self._running)

    def forget(self, path: Path) -> None:
        """Drop the cached thumbnail: the file changed (or broke); the next paint decodes it again."""
        self._cache.pop(str(path), None)

    def _start_jobs(self) -> None:
        while self._queue and len(self._running) < self._pool.maxThreadCount():
            key, (path, size) = self._queue.popitem(last=True)
            self._running.add(key)
            self._pool.start(functools.partial(_decode_job, self._relay, key, path, size))

    def _on_done(self, key: str, image: QImage | None) -> None:
        self._running.discard(key)
        self._cache[key] = QPixmap.fromImage(image) if image is not None else self.broken
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        self._start_jobs()
        self.loaded.emit(key)


def _box_pixmap(broken: bool) -> QPixmap:
    """A light box while loading; with a red cross for a file that would not decode."""
    pixmap = QPixmap(ICON_SIZE, ICON_SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QColor("#b0b0b0"))
    painter.setBrush(QColor("#ececec"))
    painter.drawRoundedRect(QRect(1, 1, ICON_SIZE - 2, ICON_SIZE - 2), 4, 4)
    if broken:
        painter.setPen(QPen(QColor("#d0342c"), 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        a, b = ICON_SIZE // 3, ICON_SIZE - ICON_SIZE // 3
        painter.drawLine(a, a, b, b)
        painter.drawLine(b, a, a, b)
    painter.end()
    return pixmap


class ImageListModel(QAbstractListModel):
    """All images in the given order; the rows are those that pass the filter and search."""

    def __init__(self, loader: ThumbnailLoader, resolve_path: Callable[[ImageRecord], Path],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._loader, self._resolve = loader, resolve_path
        self._images: list[ImageRecord] = []
        self._names: list[str] = []  # casefolded paths, for the search
        self._pos: dict[int, int] = {}  # image id -> position in _images
        self._shown: list[int] = []  # row -> position in _images, ascending
        self._key_pos: dict[str, int] = {}  # thumbnail key -> position, filled as rows paint
        self._statuses: frozenset[ImageStatus] | None = None
        self._needle = ""
        self.problems: dict[int, str] = {}  # image id -> why it could not be read when opened
        loader.loaded.connect(self._on_thumbnail)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._shown)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._shown):
            return None
        pos = self._shown[index.row()]
        image = self._images[pos]
        if role == Qt.ItemDataRole.DisplayRole:
            return image.path
        if role == Qt.ItemDataRole.DecorationRole:
            path = self._resolve(image)
            self._key_pos[str(path)] = pos
            return self._loader.thumbnail(path, (image.width, image.height)) or self._loader.placeholder
        if role == ImageIdRole:
            return image.id
        if role == StatusRole:
            return image.status
        if role == ProblemRole:
            return self.problems.get(image.id)  # type: ignore[arg-type]
        if role == Qt.ItemDataRole.ToolTipRole:
            problem = self.problems.get(image.id)  # type: ignore[arg-type]
            return (f"{self._resolve(image)}\n{image.width} × {image.height} · {STATUS_TEXT[image.status]}"
                    + (f"\nCannot be read: {problem}" if problem else ""))
        return None

    def set_problem(self, image_id: int, problem: str | None) -> None:
        """Mark an image unreadable (or readable again) and decode its thumbnail afresh."""
        pos = self._pos.get(image_id)
        if pos is None:
            return
        if problem is None:
            self.problems.pop(image_id, None)
        else:
            self.problems[image_id] = problem
        self._loader.forget(self._resolve(self._images[pos]))
        row = self.row_of(image_id)
        if row is not None:
            self.dataChanged.emit(self.index(row), self.index(row))

    def set_images(self, images: list[ImageRecord]) -> None:
        self.beginResetModel()
        self._images = list(images)
        self._names = [im.path.casefold() for im in self._images]
        self._pos = {im.id: k for k, im in enumerate(self._images)}  # type: ignore[misc]
        self._key_pos = {}
        self._shown = self._filtered()
        self.endResetModel()

    def set_filter(self, statuses: frozenset[ImageStatus] | None, text: str) -> None:
        self.beginResetModel()
        self._statuses, self._needle = statuses, text.strip().casefold()
        self._shown = self._filtered()
        self.endResetModel()

    def update_image(self, image: ImageRecord) -> None:
        """The row changes, appears or goes in place, so the selection and scroll stay put."""
        pos = self._pos.get(image.id)  # type: ignore[arg-type]
        if pos is None:
            return
        self._images[pos], self._names[pos] = image, image.path.casefold()
        row, wanted = self.row_of(image.id), self._accepts(pos)  # type: ignore[arg-type]
        if row is not None and wanted:
            self.dataChanged.emit(self.index(row), self.index(row))
        elif row is not None:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._shown[row]
            self.endRemoveRows()
        elif wanted:
            row = bisect.bisect_left(self._shown, pos)
            self.beginInsertRows(QModelIndex(), row, row)
            self._shown.insert(row, pos)
            self.endInsertRows()

    def _accepts(self, pos: int) -> bool:
        return ((self._statuses is None or self._images[pos].status in self._statuses)
                and self._needle in self._names[pos])

    def _filtered(self) -> list[int]:
        if self._statuses is None and not self._needle:
            return list(range(len(self._images)))
        return [k for k in range(len(self._images)) if self._accepts(k)]

    def has(self, image_id: int) -> bool:
        return image_id in self._pos

    def row_of(self, image_id: int) -> int | None:
        """The display row of an image; None when it is unknown or filtered out."""
        pos = self._pos.get(image_id)
        row = bisect.bisect_left(self._shown, pos) if pos is not None else len(self._shown)
        return row if row < len(self._shown) and self._shown[row] == pos else None

    def id_at(self, row: int) -> int:
        return self._images[self._shown[row]].id  # type: ignore[return-value]

    def visible_ids(self) -> list[int]:
        return [self._images[k].id for k in self._shown]  # type: ignore[misc]

    def neighbour(self, image_id: int, step: int) -> int | None:
        pos, row = self._pos.get(image_id), self.row_of(image_id)
        if pos is None or step == 0:
            return image_id if pos is not None else None
        if row is not None:
            target = row + step
        elif step > 0:  # filtered out: count from where it sits in the full order
            target = bisect.bisect_right(self._shown, pos) + step - 1
        else:
            target = bisect.bisect_left(self._shown, pos) + step
        return self.id_at(target) if 0 <= target < len(self._shown) else None

    def _on_thumbnail(self, key: str) -> None:
        pos = self._key_pos.get(key)
        row = self.row_of(self._images[pos].id) if pos is not None else None  # type: ignore[arg-type]
        if row is not None:
            self.dataChanged.emit(self.index(row), self.index(row), [Qt.ItemDataRole.DecorationRole])


class _RowDelegate(QStyledItemDelegate):
    """The thumbnail with the status dot on its corner, then name, folder and status."""

    def sizeHint(self, option, index) -> QSize:
        return QSize(ICON_SIZE + 160, ICON_SIZE + 2 * PADDING)

    def paint(self, painter: QPainter, option, index) -> None:
        widget = option.widget
        widget.style().drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, widget)
        rect: QRect = option.rect
        box = QRect(rect.left() + PADDING, rect.top() + PADDING, ICON_SIZE, ICON_SIZE)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        pixmap: QPixmap = index.data(Qt.ItemDataRole.DecorationRole)
        size = pixmap.deviceIndependentSize().toSize().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(box.center())
        painter.drawPixmap(target, pixmap)
        status: ImageStatus = index.data(StatusRole)
        problem = index.data(ProblemRole)
        dpr = painter.device().devicePixelRatioF()
        painter.drawPixmap(box.right() - 11, box.bottom() - 11, status_pixmap(status, 14, dpr))

        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        color = option.palette.highlightedText().color() if selected else option.palette.text().color()
        folder, _, name = index.data(Qt.ItemDataRole.DisplayRole).rpartition("/")
        lines = [(name, color, True)]
        if folder:
            lines.append((folder + "/", QColor(color.red(), color.green(), color.blue(), 150), False))
        if problem:
            lines.append(("Cannot be read", color if selected else QColor("#d0342c"), True))
        else:
            lines.append((STATUS_TEXT[status], color if selected else QColor(STATUS_COLORS[status]).darker(115), False))
        text = rect.adjusted(ICON_SIZE + 3 * PADDING, PADDING + 2, -PADDING, -PADDING)
        line_height = painter.fontMetrics().height()
        for k, (line, pen, bold) in enumerate(lines):
            font = QFont(option.font)
            font.setBold(bold)
            painter.setFont(font)
            painter.setPen(pen)
            elided = painter.fontMetrics().elidedText(line, Qt.TextElideMode.ElideMiddle, text.width())
            painter.drawText(QRect(text.left(), text.top() + k * line_height, text.width(), line_height),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, elided)
        painter.restore()


class ImageBrowser(QWidget):
    """Search and filter on top, the list below. ``imageActivated`` means a person picked an
    image; what the program does (set_current, set_images, filtering) stays quiet."""

    imageActivated = Signal(int)
    orderChanged = Signal(str)  # "path" | "uncertainty": the person picked another order

    def __init__(self, resolve_path: Callable[[ImageRecord], Path], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._current_id: int | None = None
        self._quiet = 0
        self.loader = ThumbnailLoader(self)
        self.model = ImageListModel(self.loader, resolve_path, self)

        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search by name (Ctrl+F)")
        self.search_edit.setClearButtonEnabled(True)
        self.filter_combo = QComboBox()
        self.filter_combo.setToolTip("Show only images with this status")
        for text, statuses in FILTERS:
            self.filter_combo.addItem(text, statuses)
            if statuses is not None and len(statuses) == 1:
                self.filter_combo.setItemIcon(self.filter_combo.count() - 1, status_icon(next(iter(statuses))))

        self.order_combo = QComboBox()
        self.order_combo.setToolTip("Order of the images (and of next / previous image): by path, or "
                                    "the images nobody has reviewed yet that the model is least sure "
                                    "about first")
        for text, order in ORDERS:
            self.order_combo.addItem(text, order)

        self.view = QListView()
        self.view.setUniformItemSizes(True)  # row sizes from one row: only visible rows are asked
        self.view.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.view.setItemDelegate(_RowDelegate(self.view))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setModel(self.model)
        self.view.selectionModel().selectionChanged.connect(self._on_selection)

        top = QHBoxLayout()
        top.addWidget(self.search_edit, 1)
        top.addWidget(self.filter_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.order_combo)
        layout.addWidget(self.view, 1)

        self.search_edit.textChanged.connect(self._apply_filter)
        self.filter_combo.currentIndexChanged.connect(self._apply_filter)
        self.order_combo.currentIndexChanged.connect(lambda _: self.orderChanged.emit(self.order()))

    def order(self) -> str:
        return self.order_combo.currentData()

    def set_images(self, images: list[ImageRecord]) -> None:
        with self._silently():
            self.model.set_images(images)
            if self._current_id is not None and not self.model.has(self._current_id):
                self._current_id = None
            self._select(self._current_id)

    def update_image(self, image: ImageRecord) -> None:
        with self._silently():
            self.model.update_image(image)
            self._select(self._current_id, scroll=False)

    def set_current(self, image_id: int) -> None:
        with self._silently():
            self._current_id = image_id if self.model.has(image_id) else None
            self._select(self._current_id)

    def set_problem(self, image_id: int, problem: str | None) -> None:
        """The image could not be read (problem: why), or could again (None)."""
        self.model.set_problem(image_id, problem)

    def visible_ids(self) -> list[int]:
        return self.model.visible_ids()

    def neighbour(self, image_id: int, step: int) -> int | None:
        return self.model.neighbour(image_id, step)

    @contextmanager
    def _silently(self) -> Iterator[None]:
        """Selection changes the program makes must not look like a person's pick."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def _select(self, image_id: int | None, scroll: bool = True) -> None:
        row = self.model.row_of(image_id) if image_id is not None else None
        if row is None:
            self.view.selectionModel().clear()
            return
        index = self.model.index(row)
        self.view.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        if scroll:
            self.view.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)

    def _apply_filter(self) -> None:
        with self._silently():
            self.model.set_filter(self.filter_combo.currentData(), self.search_edit.text())
            self._select(self._current_id)

    def _on_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if self._quiet or len(indexes) != 1:
            return
        self._current_id = self.model.id_at(indexes[0].row())
        self.imageActivated.emit(self._current_id)
