"""The selected instance's attributes as a small form (check box, combo box, line edit, spin
box) and the image's tags, under the instance list; and the dialogs that define a class's
attributes and edit the image's tags. Every edit goes through the Session's commands."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout,
    QHBoxLayout, QInputDialog, QLabel, QLineEdit, QMessageBox, QPushButton, QTableWidget,
    QTableWidgetItem, QVBoxLayout, QWidget,
)

from ...core.attributes import AttributeKind, AttributeSpec
from ...core.errors import UserError
from ..session import Session

KINDS = [k.value for k in AttributeKind]


class AttributeEditor(QWidget):
    """The form follows the first selected instance; an edit applies to the whole selection
    (the instances whose class has that attribute)."""

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.fields: dict[str, QWidget] = {}
        self.form = QFormLayout()
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.tags = QLabel()
        self.tags.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.hint)
        layout.addLayout(self.form)
        layout.addWidget(self.tags)
        session.selectionChanged.connect(lambda _ids: self.refresh())
        session.instancesChanged.connect(lambda *_: self.refresh())
        session.attributeSpecsChanged.connect(self.refresh)
        session.imageTagsChanged.connect(self._show_tags)
        self.refresh()
        self._show_tags(session.image_tags)

    def _show_tags(self, tags) -> None:
        self.tags.setText(f"Image tags: {', '.join(tags) if tags else '(none)'}  (T to edit)")

    def refresh(self) -> None:
        selected = self.session.selected_instances()
        shown = selected[0] if selected else None
        specs = self.session.attribute_specs(shown.category_id) if shown else ()
        while self.form.rowCount():  # not removeRow: a field may be the sender of this change
            row = self.form.takeRow(0)
            for item in (row.labelItem, row.fieldItem):
                if item is not None and item.widget() is not None:
                    item.widget().hide()
                    item.widget().deleteLater()
        self.fields.clear()
        if shown is None:
            self.hint.setText("Attributes: select an instance")
            return
        self.hint.setText("" if specs else "Attributes: none for this class (Edit > Attributes of the class)")
        booleans = 0
        for spec in specs:
            value = shown.attributes.get(spec.name, spec.default)
            label = spec.name
            if spec.kind == AttributeKind.BOOLEAN:
                booleans += 1
                label += f" (Alt+{booleans})" if booleans <= 9 else ""
            field = self._field(spec, value)
            field.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # keys stay with the canvas
            self.fields[spec.name] = field
            self.form.addRow(label, field)

    def _field(self, spec: AttributeSpec, value) -> QWidget:
        name = spec.name
        if spec.kind == AttributeKind.BOOLEAN:
            box = QCheckBox()
            box.setChecked(bool(value))
            box.toggled.connect(lambda on: self._set(name, on))
            return box
        if spec.kind == AttributeKind.CHOICE:
            combo = QComboBox()
            combo.addItems(list(spec.choices))
            combo.setCurrentText(str(value))
            combo.currentTextChanged.connect(lambda text: self._set(name, text))
            return combo
        if spec.kind == AttributeKind.NUMBER:
            spin = QDoubleSpinBox()
            spin.setRange(-1e9, 1e9)
            spin.setDecimals(3)
            spin.setValue(float(value))
            spin.editingFinished.connect(lambda: self._set(name, spin.value()))
            return spin
        line = QLineEdit(str(value))
        line.editingFinished.connect(lambda: self._set(name, line.text()))
        return line

    def _set(self, name: str, value) -> None:
        try:
            self.session.set_attribute(name, value)
        except UserError as exc:
            self.session.message.emit(str(exc))
            self.refresh()


def edit_image_tags(parent: QWidget, session: Session) -> None:
    """Image > Tags: the current image's tags as one comma-separated line."""
    if session.image is None:
        return
    known = ", ".join(session.store.all_tags()) or "none yet"
    text, ok = QInputDialog.getText(parent, "Image tags", f"Tags, separated by commas (in the project: {known}):",
                                    text=", ".join(session.image_tags))
    if not ok:
        return
    wanted = {t.strip() for t in text.split(",") if t.strip()}
    try:
        session.tag_image(add=sorted(wanted - set(session.image_tags)),
                          remove=sorted(set(session.image_tags) - wanted))
    except (UserError, ValueError) as exc:
        QMessageBox.warning(parent, "Tags not changed", str(exc))


class SpecDialog(QDialog):
    """A class's attributes, one row each: name, kind, options (a choice's, comma-separated)."""

    def __init__(self, specs, title: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Name", "Kind", "Options (choice)"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        for spec in specs:
            self.add_row(spec.name, spec.kind.value, ", ".join(spec.choices))
        add, remove = QPushButton("Add"), QPushButton("Remove")
        add.clicked.connect(lambda: self.add_row("", "boolean", ""))
        remove.clicked.connect(lambda: self.table.removeRow(self.table.currentRow()))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(remove)
        row.addStretch()
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(row)
        layout.addWidget(buttons)
        self.resize(520, 320)

    def add_row(self, name: str, kind: str, choices: str) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        self.table.setItem(r, 0, QTableWidgetItem(name))
        combo = QComboBox()
        combo.addItems(KINDS)
        combo.setCurrentText(kind)
        self.table.setCellWidget(r, 1, combo)
        self.table.setItem(r, 2, QTableWidgetItem(choices))
        self.table.setCurrentCell(r, 0)

    def specs(self) -> list[AttributeSpec]:
        """The rows as specs; ValueError (one line) for a row that is not one."""
        out = []
        for r in range(self.table.rowCount()):
            name = (self.table.item(r, 0).text() if self.table.item(r, 0) else "").strip()
            kind = self.table.cellWidget(r, 1).currentText()  # type: ignore[attr-defined]
            options = self.table.item(r, 2).text() if self.table.item(r, 2) else ""
            choices = tuple(c.strip() for c in options.split(",") if c.strip()) if kind == "choice" else ()
            out.append(AttributeSpec(name, kind, choices))  # type: ignore[arg-type]
        return out


def edit_class_attributes(parent: QWidget, session: Session) -> None:
    """Edit > Attributes of the class: the current class's attributes. Removing one (or
    changing it) drops the values it no longer takes, after a question."""
    category = session.current_category()
    if category is None:
        return
    dialog = SpecDialog(session.attribute_specs(category.id), f"Attributes of {category.name}", parent)
    while dialog.exec() == QDialog.DialogCode.Accepted:
        try:
            specs = dialog.specs()
        except ValueError as exc:
            QMessageBox.warning(parent, "Attributes not changed", str(exc))
            continue
        kept = {s.name for s in specs}
        gone = [s.name for s in session.attribute_specs(category.id) if s.name not in kept]
        if gone and QMessageBox.question(
                parent, "Remove attributes", f"Remove {', '.join(gone)} and its values on every "
                f"{category.name}? This cannot be undone.") != QMessageBox.StandardButton.Yes:
            continue
        try:
            dropped = session.set_attribute_specs(category.id, specs)  # type: ignore[arg-type]
        except UserError as exc:
            QMessageBox.warning(parent, "Attributes not changed", str(exc))
            continue
        session.message.emit(f"Attributes of {category.name} saved" + (
            f"; {dropped} instances lost a value" if dropped else ""))
        return
