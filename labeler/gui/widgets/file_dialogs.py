"""The File menu's dialogs: a new project from a folder of images, an import, an export, and
the box that reports what a command did (with its list of skipped files or warnings).

They only ask; project_files.py and app.py do the work with what was answered. Each field
is a plain widget a person types into, and the Browse buttons fill the same fields.
"""

from __future__ import annotations

from pathlib import Path

from ...projects import EXPORT_FORMATS, FORMATS, IMPORT_FORMATS

from PySide6.QtWidgets import (
    QButtonGroup, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout,
    QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPlainTextEdit, QPushButton, QRadioButton,
    QVBoxLayout, QWidget,
)

REPORT_LINES = 8  # lines shown in a report box; the rest are under "Show Details..."


def show_report(parent: QWidget | None, title: str, text: str, lines: list[str],
                icon=QMessageBox.Icon.Information) -> None:
    """What a command did, in one sentence, and the first lines of its list (every line under
    Show Details...)."""
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    if lines:
        shown = lines[:REPORT_LINES]
        more = len(lines) - len(shown)
        box.setInformativeText("\n".join(shown) + (f"\n... and {more} more" if more else ""))
        if more:
            box.setDetailedText("\n".join(lines))
    box.exec()


def _browse_row(edit: QLineEdit, on_browse) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit)
    button = QPushButton("Browse...")
    button.clicked.connect(on_browse)
    layout.addWidget(button)
    return row


def _buttons(dialog: QDialog, ok_text: str) -> QDialogButtonBox:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


class NewProjectDialog(QDialog):
    """The image folder (searched recursively), where the project goes (by default the image
    folder itself: labeler.db beside the images) and the classes, if known already."""

    def __init__(self, parent: QWidget | None = None, start_dir: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("New project from a folder of images")
        self.setMinimumWidth(560)
        self.start_dir = start_dir
        self.images_edit = QLineEdit()
        self.images_edit.setPlaceholderText("the folder with the images (subfolders too)")
        self.project_edit = QLineEdit()
        self.project_edit.setPlaceholderText("the image folder")
        self.labels_edit = QLineEdit()
        self.labels_edit.setPlaceholderText("optional, comma separated: cat, dog (classes can be added later)")
        form = QFormLayout()
        form.addRow("Images:", _browse_row(self.images_edit, self._browse_images))
        form.addRow("Project folder:", _browse_row(self.project_edit, self._browse_project))
        form.addRow("Classes:", self.labels_edit)
        note = QLabel("Unreadable files are skipped and listed. The project is labeler.db in the "
                      "project folder; the images stay where they are.")
        note.setWordWrap(True)
        self.buttons = _buttons(self, "Create")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self.images_edit.textChanged.connect(self._update)
        self._update()

    def _update(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.images_edit.text().strip()))

    def _browse_images(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Folder of images", self.images_edit.text() or self.start_dir)
        if chosen:
            self.images_edit.setText(chosen)

    def _browse_project(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Project folder",
                                                  self.project_edit.text() or self.images_edit.text())
        if chosen:
            self.project_edit.setText(chosen)

    def images_dir(self) -> Path:
        return Path(self.images_edit.text().strip()).expanduser()

    def project_dir(self) -> Path:
        text = self.project_edit.text().strip()
        return Path(text).expanduser() if text else self.images_dir()

    def labels_text(self) -> str:
        return self.labels_edit.text()


class ImportDialog(QDialog):
    """The format and the files or folders to import, one per line."""

    FORMATS = tuple((k, FORMATS[k].name, FORMATS[k].import_hint) for k in IMPORT_FORMATS)

    def __init__(self, parent: QWidget | None = None, start_dir: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Import labels")
        self.setMinimumWidth(560)
        self.start_dir = start_dir
        self.format_combo = QComboBox()
        for key, name, _ in self.FORMATS:
            self.format_combo.addItem(name, key)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.paths_edit = QPlainTextEdit()
        self.paths_edit.setPlaceholderText("one file or folder per line")
        self.paths_edit.setTabChangesFocus(True)
        add_files, add_folder = QPushButton("Add files..."), QPushButton("Add folder...")
        add_files.clicked.connect(self._add_files)
        add_folder.clicked.connect(self._add_folder)
        adders = QHBoxLayout()
        adders.addWidget(add_files)
        adders.addWidget(add_folder)
        adders.addStretch()
        note = QLabel("The images must be under the project's image root. Everything is imported in "
                      "one step: if a file is wrong, nothing is imported.")
        note.setWordWrap(True)
        self.buttons = _buttons(self, "Import")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.addRow("Format:", self.format_combo)
        layout.addLayout(form)
        layout.addWidget(self.hint)
        layout.addWidget(self.paths_edit)
        layout.addLayout(adders)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self.format_combo.currentIndexChanged.connect(self._update)
        self.paths_edit.textChanged.connect(self._update)
        self._update()

    def _update(self) -> None:
        self.hint.setText(self.FORMATS[self.format_combo.currentIndex()][2])
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.paths()))

    def _append(self, paths: list[str]) -> None:
        self.paths_edit.setPlainText("\n".join(self.paths() + paths))

    def _add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Annotation files", self.start_dir,
                                                "Annotation files (*.json *.xml *.yaml *.yml);;All files (*)")
        self._append(files)

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Annotation folder", self.start_dir)
        if folder:
            self._append([folder])

    def fmt(self) -> str:
        return self.format_combo.currentData()

    def paths(self) -> list[str]:
        return [line.strip() for line in self.paths_edit.toPlainText().splitlines() if line.strip()]


class ExportDialog(QDialog):
    """The same choices as ``labeler export``: the format, which images, RLE everywhere, a
    validation split (the options a format does not have are greyed out). `outs`: the file or
    folder to offer for each format (the last one used, or the project's name)."""

    def __init__(self, parent: QWidget | None, outs: dict[str, Path], accepted: int, total: int,
                 all_images: bool = False, rle: bool = False, val_fraction: float = 0.0, fmt: str = "coco") -> None:
        super().__init__(parent)
        self.setWindowTitle("Export dataset")
        self.setMinimumWidth(560)
        self.outs = dict(outs)
        self.format_combo = QComboBox()
        for key in EXPORT_FORMATS:
            self.format_combo.addItem(FORMATS[key].name, key)
        self.format_combo.setCurrentIndex(max(0, EXPORT_FORMATS.index(fmt) if fmt in EXPORT_FORMATS else 0))
        self._shown = self.fmt()
        self.out_edit = QLineEdit(str(self.outs.get(self._shown, "")))
        self.accepted_radio = QRadioButton(f"Images marked accepted ({accepted})")
        self.all_radio = QRadioButton(f"Every image ({total}), with its accepted instances")
        (self.all_radio if all_images else self.accepted_radio).setChecked(True)
        scope = QButtonGroup(self)
        scope.addButton(self.accepted_radio)
        scope.addButton(self.all_radio)
        images = QVBoxLayout()
        images.addWidget(self.accepted_radio)
        images.addWidget(self.all_radio)
        self.rle_check = QCheckBox("Every mask as compressed RLE (else polygons where a shape has no holes)")
        self.val_spin = QDoubleSpinBox()
        self.val_spin.setRange(0.0, 0.9)
        self.val_spin.setSingleStep(0.05)
        self.val_spin.setDecimals(2)
        self.val_spin.setSpecialValueText("no split")
        self.rle_check.setChecked(rle)
        self.val_spin.setValue(val_fraction)
        self.val_spin.setToolTip("About this fraction of the images goes to OUT_val.json, the rest to "
                                 "OUT_train.json; an image always lands in the same split")
        form = QFormLayout()
        form.addRow("Format:", self.format_combo)
        self.out_label = QLabel("File:")
        form.addRow(self.out_label, _browse_row(self.out_edit, self._browse))
        form.addRow("Images:", images)
        form.addRow("Masks:", self.rle_check)
        form.addRow("Validation split:", self.val_spin)
        note = QLabel("Only instances someone accepted are exported; suggestions never leave the project. "
                      "COCO with a split: NAME_train.json and NAME_val.json instead of NAME.json; YOLO: "
                      "images/val and labels/val.")
        note.setWordWrap(True)
        self.buttons = _buttons(self, "Export")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self.out_edit.textChanged.connect(self._update)
        self.format_combo.currentIndexChanged.connect(self._on_format)
        self._on_format()

    def _on_format(self) -> None:
        """Another format: its own file or folder, and only the options it has."""
        if self.out_edit.text().strip():
            self.outs[self._shown] = self.out()
        self._shown = self.fmt()
        spec = FORMATS[self._shown]
        self.out_edit.setText(str(self.outs.get(self._shown, "")))
        self.out_label.setText("File:" if spec.out == "file" else "Folder:")
        self.rle_check.setEnabled(spec.rle)
        self.val_spin.setEnabled(spec.splits)
        self._update()

    def _update(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.out_edit.text().strip()))

    def _browse(self) -> None:
        spec = FORMATS[self.fmt()]
        if spec.out == "folder":
            chosen = QFileDialog.getExistingDirectory(self, f"Export {spec.name} into", self.out_edit.text())
        else:
            suffix = Path(spec.default_out).suffix
            chosen, _ = QFileDialog.getSaveFileName(self, f"Export {spec.name}", self.out_edit.text(),
                                                    f"{spec.name} (*{suffix})")
        if chosen:
            self.out_edit.setText(chosen)

    def fmt(self) -> str:
        return self.format_combo.currentData()

    def out(self) -> Path:
        return Path(self.out_edit.text().strip()).expanduser()

    def all_images(self) -> bool:
        return self.all_radio.isChecked()

    def rle(self) -> bool:
        return self.rle_check.isEnabled() and self.rle_check.isChecked()

    def val_fraction(self) -> float:
        return self.val_spin.value() if self.val_spin.isEnabled() else 0.0
