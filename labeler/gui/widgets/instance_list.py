"""The instances of the current image: class, provenance, score, status, a visibility box.
Selecting a row selects the instance on the canvas and the other way round. InstancePanel
puts the selected instance's attributes (attribute_editor.py) under the list.

A table model updated row by row from the Session's signals, so an edit on an image with
thousands of instances does not rebuild the list."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QItemSelection, QItemSelectionModel, QModelIndex, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QVBoxLayout, QWidget

from ...core.entities import Instance, MaskRLE
from ..session import Session
from .attribute_editor import AttributeEditor

COLUMNS = ("Class", "Shape", "Source", "Score", "Status")


class InstanceModel(QAbstractTableModel):
    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.ids: list[int] = []
        self._icons: dict[str, QIcon] = {}
        session.imageChanged.connect(lambda _image: self.reset())
        session.instancesChanged.connect(self._on_changed)
        session.categoriesChanged.connect(self._on_categories)
        session.visibilityChanged.connect(self._refresh_all)

    def reset(self) -> None:
        self.beginResetModel()
        self.ids = list(self.session.instances)
        self.endResetModel()

    def _on_changed(self, changed: list[Instance], removed: set[int]) -> None:
        for iid in removed:
            if iid in self.ids:
                row = self.ids.index(iid)
                self.beginRemoveRows(QModelIndex(), row, row)
                del self.ids[row]
                self.endRemoveRows()
        for inst in changed:
            if inst.id in self.ids:
                row = self.ids.index(inst.id)  # type: ignore[arg-type]
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
            else:
                row = sum(1 for i in self.ids if i < inst.id)  # type: ignore[operator]
                self.beginInsertRows(QModelIndex(), row, row)
                self.ids.insert(row, inst.id)  # type: ignore[arg-type]
                self.endInsertRows()

    def _on_categories(self) -> None:
        self._icons.clear()
        self._refresh_all()

    def _refresh_all(self) -> None:
        if self.ids:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.ids) - 1, len(COLUMNS) - 1))

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.ids)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def flags(self, index):
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        return flags | Qt.ItemFlag.ItemIsUserCheckable if index.column() == 0 else flags

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        inst = self.session.instances.get(self.ids[index.row()])
        if inst is None:
            return None
        col = index.column()
        category = self.session.category(inst.category_id)
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return category.name if category else f"class {inst.category_id}"
            if col == 1:
                return "mask" if isinstance(inst.shape, MaskRLE) else f"{inst.shape.vertex_count} pts"
            if col == 2:
                return str(inst.provenance)
            if col == 3:
                return f"{inst.score:.2f}" if inst.score is not None else ""
            return inst.status.value
        if role == Qt.ItemDataRole.CheckStateRole and col == 0:
            hidden = inst.id in self.session.hidden or self.session.hide_all
            return Qt.CheckState.Unchecked if hidden else Qt.CheckState.Checked
        if role == Qt.ItemDataRole.DecorationRole and col == 0 and category:
            return self._icon(category.color)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"instance {inst.id}: untick to hide it on the canvas"
        return None

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if role == Qt.ItemDataRole.CheckStateRole and index.column() == 0:
            checked = Qt.CheckState(value) == Qt.CheckState.Checked
            self.session.set_hidden(self.ids[index.row()], not checked)
            self.dataChanged.emit(index, index)
            return True
        return False

    def _icon(self, color: str) -> QIcon:
        if color not in self._icons:
            pixmap = QPixmap(12, 12)
            pixmap.fill(QColor(color))
            self._icons[color] = QIcon(pixmap)
        return self._icons[color]


class InstanceList(QTableView):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.model_ = InstanceModel(session)
        self.setModel(self.model_)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)  # not ResizeToContents:
        header.setResizeContentsPrecision(50)  # that measures every row on every change
        header.setStretchLastSection(True)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.setWordWrap(False)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # keys stay with the canvas
        self._syncing = False
        self.selectionModel().selectionChanged.connect(self._to_session)
        session.selectionChanged.connect(self._from_session)
        self.model_.modelReset.connect(self._after_reset)
        self.model_.rowsInserted.connect(self._after_insert)
        session.categoriesChanged.connect(self._fit_columns)
        self._fit_columns()

    def _after_reset(self) -> None:
        self._fit_columns()
        self._from_session(self.session.selection)

    def _after_insert(self, _parent, first: int, last: int) -> None:
        if first == 0 and last + 1 == self.model_.rowCount():  # the first rows of an image that had none
            self._fit_columns()

    def _fit_columns(self) -> None:
        """Columns wide enough for what they will hold, even on an image that starts empty:
        the longest class name, "model v99 edited", "proposed"; more if the rows need it."""
        self.resizeColumnsToContents()  # samples the first rows only (precision above)
        metrics, header = self.fontMetrics(), self.horizontalHeader()
        names = [c.name for c in self.session.categories.values()] or ["class"]
        samples = (max(names, key=metrics.horizontalAdvance), "999 pts", "model v9 edited", "0.00", "accepted")
        extra = (40, 0, 0, 0, 0)  # the check box and colour swatch of column 0
        for col, (text, more) in enumerate(zip(samples, extra)):
            wanted = min(metrics.horizontalAdvance(text) + 12 + more, 220)
            if header.sectionSize(col) < wanted:
                header.resizeSection(col, wanted)

    def _to_session(self, *_args) -> None:
        if self._syncing:
            return
        rows = sorted({i.row() for i in self.selectionModel().selectedRows()})
        self.session.select([self.model_.ids[r] for r in rows])

    def _from_session(self, ids) -> None:
        self._syncing = True
        try:
            selection = QItemSelection()
            last = None
            for iid in ids:
                if iid in self.model_.ids:
                    row = self.model_.ids.index(iid)
                    last = self.model_.index(row, 0)
                    selection.select(last, self.model_.index(row, len(COLUMNS) - 1))
            self.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            if last is not None:
                self.scrollTo(last)
        finally:
            self._syncing = False


class InstancePanel(QWidget):
    """The instance list with the attribute form of the selection under it."""

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.list = InstanceList(session)
        self.attributes = AttributeEditor(session)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.attributes)
