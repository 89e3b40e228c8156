"""The classes of the project: pick the class for new shapes (or press 1-9), add, rename and
recolour. Names are checked by the store (empty or duplicate names get a clear message in
one line)."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QColorDialog, QHBoxLayout, QInputDialog, QListWidget, QListWidgetItem, QMessageBox, QPushButton,
    QVBoxLayout, QWidget,
)

from ...core.errors import UserError
from ...core.names import name_problem
from ..session import Session


def swatch(color: str, size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


class CategoryPanel(QWidget):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.list = QListWidget()
        self.list.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.list.currentRowChanged.connect(self._picked)
        self.list.itemDoubleClicked.connect(lambda _item: self.rename())
        buttons = QHBoxLayout()
        for text, tip, slot in (("Add", "Add a class", self.add), ("Rename", "Rename the class", self.rename),
                                ("Colour", "Change the class colour", self.recolor)):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        session.categoriesChanged.connect(self.refresh)
        session.currentCategoryChanged.connect(lambda _c: self.refresh())
        self.refresh()

    def ids(self) -> list[int]:
        return list(self.session.categories)

    def refresh(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for n, (cid, category) in enumerate(self.session.categories.items()):
            key = f"{n + 1}  " if n < 9 else "   "
            item = QListWidgetItem(swatch(category.color), f"{key}{category.name}")
            item.setData(Qt.ItemDataRole.UserRole, cid)
            item.setToolTip(f"{category.name}: press {n + 1} to draw with it or relabel the selection"
                            if n < 9 else category.name)
            self.list.addItem(item)
            if cid == self.session.current_category_id:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def _picked(self, row: int) -> None:
        if 0 <= row < len(self.ids()):
            self.session.set_current_category(self.ids()[row])

    def add(self) -> None:
        name, ok = QInputDialog.getText(self, "Add class", "Name of the new class:")
        if ok:
            self._try(lambda: self.session.set_current_category(self.session.add_category(name.strip()).id))

    def rename(self) -> None:
        category = self.session.current_category()
        if category is None:
            return
        name, ok = QInputDialog.getText(self, "Rename class", f"New name for {category.name!r}:",
                                        text=category.name)
        name = name.strip()
        if not ok or name == category.name:
            return
        problem = name_problem(name)  # before the Category is made: it refuses an empty name
        if problem:
            QMessageBox.warning(self, "Class not changed", problem)
            return
        self._try(lambda: self.session.update_category(replace(category, name=name)))

    def recolor(self) -> None:
        category = self.session.current_category()
        if category is None:
            return
        color = QColorDialog.getColor(QColor(category.color), self, f"Colour of {category.name}")
        if color.isValid():
            self._try(lambda: self.session.update_category(replace(category, color=color.name())))

    def _try(self, action) -> None:
        try:
            action()
        except UserError as exc:  # an empty or duplicate name
            QMessageBox.warning(self, "Class not changed", str(exc))
