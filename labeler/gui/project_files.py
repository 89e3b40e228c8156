"""The File menu of a project window: new project, open, recent projects, import, export, close.

New, Open, a recent project and Close replace the window's project, so they go to the app
(app.py), which closes this window, and its workers, before it opens the next one. Import
and export stay with this window: they run off the GUI thread with their own connection to
the project (a SQLite connection belongs to the thread that opened it; WAL lets both work),
behind a progress dialog with Cancel, and after an import the window catches up with what
the import stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QMessageBox

from ..projects import EXPORT_FORMATS, FORMATS, export_dataset, export_summary, import_labels, import_summary
from ..core.entities import ImageStatus
from ..store import ProjectStore
from . import preferences
from .settings import settings
from .widgets.file_dialogs import ExportDialog, ImportDialog, show_report
from .widgets.task_dialog import USER_ERRORS, Cancelled, TaskDialog

if TYPE_CHECKING:
    from .app import LabelerApp
    from .main_window import MainWindow


class ProjectFiles(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.host: LabelerApp | None = None  # set by the app that made the window
        self.recent_menu = QMenu("Recent projects", window)
        self.recent_menu.setObjectName("recent_projects")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        open_action = window.actions_["open_project"]
        file_menu = next(m for m in open_action.associatedObjects() if isinstance(m, QMenu))
        after = file_menu.actions()[file_menu.actions().index(open_action) + 1:]
        if after:  # right below Open
            file_menu.insertMenu(after[0], self.recent_menu)
        else:
            file_menu.addMenu(self.recent_menu)
        self._fill_recent()

    @property
    def app(self) -> LabelerApp:
        if self.host is None:  # a window made without an app (tests, embedding)
            from .app import LabelerApp

            LabelerApp.adopt(self.window)
        return self.host  # type: ignore[return-value]

    @property
    def project_dir(self) -> Path:
        return self.window.store.project_dir

    # --- what the app does ---------------------------------------------------------------

    def new_project(self) -> None:
        self.app.new_project()

    def open_project(self) -> None:
        self.app.ask_open()

    def close_project(self) -> None:
        self.app.close_project()

    def _fill_recent(self) -> None:
        menu = self.recent_menu
        menu.clear()
        others = [p for p in preferences.recent_projects() if p != self.project_dir]
        for project in others:
            action = menu.addAction(str(project))
            action.triggered.connect(lambda _=False, p=project: self.app.open(p))
        if not others:
            menu.addAction("No other project yet").setEnabled(False)
        menu.addSeparator()
        clear = QAction("Clear the list", menu)
        clear.setEnabled(bool(others))
        clear.triggered.connect(self._clear_recent)
        menu.addAction(clear)

    def _clear_recent(self) -> None:
        preferences.clear_recent_projects()
        preferences.remember_project(self.project_dir)  # the open one stays first

    # --- import --------------------------------------------------------------------------

    def import_labels(self) -> None:
        w = self.window
        dialog = ImportDialog(w, str(w.store.image_root))
        if not dialog.exec():
            return
        fmt, paths, project = dialog.fmt(), dialog.paths(), self.project_dir

        def work(progress):
            with ProjectStore.open(project) as store:  # this thread's own connection
                return import_labels(store, fmt, paths, progress)

        task = TaskDialog(w, "Import labels", f"Reading {len(paths)} {dialog.format_combo.currentText()} "
                          f"path{'s' if len(paths) > 1 else ''}...")
        try:
            report = task.run(work)
        except Cancelled:
            w.statusBar().showMessage("Import cancelled: nothing was imported", 10000)
            return
        except USER_ERRORS as exc:
            show_report(w, "Import labels", str(exc), ["Nothing was imported."], QMessageBox.Icon.Warning)
            return
        self.refresh()
        summary = _sentence(import_summary(report))
        w.statusBar().showMessage(summary, 15000)
        warnings = report.warning_lines()
        show_report(w, "Import labels", summary + (
            f". {len(warnings)} kinds of warning:" if len(warnings) > 1 else
            ". One warning:" if warnings else ". No warnings."), warnings,
            QMessageBox.Icon.Warning if warnings else QMessageBox.Icon.Information)

    def refresh(self) -> None:
        """Catch up with what another connection stored: images (new ones, new statuses),
        classes, and the instances of the image on screen."""
        w, session = self.window, self.window.session
        session.categories.clear()
        session.categories.update({c.id: c for c in w.store.categories()})  # type: ignore[misc]
        session.categoriesChanged.emit()
        if session.current_category_id not in session.categories:
            session.set_current_category(next(iter(session.categories), None))
        w.images.clear()
        w.images.update({i.id: i for i in w.store.images()})  # type: ignore[misc]
        w.models.apply_order()  # the browser lists them again, in the order the person chose
        if session.image is not None:
            session.reload(session.image.id)  # type: ignore[arg-type]
        elif w.images:
            w.open_image(next(iter(w.images)))
        w.models.catch_up()  # the Learning panel, and a round the imported accepted images may make due

    # --- export --------------------------------------------------------------------------

    def export_dataset(self) -> None:
        w = self.window
        st, key = settings(), f"projects/{self.project_dir.as_posix()}/export"  # the last export's choices
        # the file or folder last used for each format (COCO's key is "file", as before formats)
        outs = {fmt: Path(st.value(f"{key}/{'file' if fmt == 'coco' else 'out_' + fmt}")
                          or self.project_dir / f"{self.project_dir.name}{FORMATS[fmt].default_out}")
                for fmt in EXPORT_FORMATS}
        accepted = sum(1 for i in w.images.values() if i.status == ImageStatus.ACCEPTED)
        dialog = ExportDialog(w, outs, accepted, len(w.images), all_images=preferences.as_bool(st.value(f"{key}/all")),
                              rle=preferences.as_bool(st.value(f"{key}/rle")),
                              val_fraction=preferences.as_float(st.value(f"{key}/val"), 0.0),
                              fmt=st.value(f"{key}/format") or "coco")
        if not dialog.exec():
            return
        out, all_images, fraction, rle, project = (dialog.out(), dialog.all_images(), dialog.val_fraction(),
                                                   dialog.rle(), self.project_dir)
        fmt = dialog.fmt()

        def work(progress):
            with ProjectStore.open(project) as store:
                return export_dataset(store, out, fmt=fmt, all_images=all_images, val_fraction=fraction, rle=rle,
                                      progress=progress)

        task = TaskDialog(w, "Export dataset", f"Exporting to {out}...")
        try:
            result = task.run(work)
        except Cancelled:
            w.statusBar().showMessage("Export cancelled: no file was written", 10000)
            return
        except USER_ERRORS as exc:
            QMessageBox.warning(w, "Export dataset", str(exc))
            return
        for name, value in (("file" if fmt == "coco" else f"out_{fmt}", str(out)), ("format", fmt),
                            ("all", all_images), ("rle", rle), ("val", fraction)):
            st.setValue(f"{key}/{name}", value)
        st.sync()
        summary = _sentence(export_summary(result, all_images))
        w.statusBar().showMessage(summary, 15000)
        note = ([] if result.images or all_images else
                ["No image is marked accepted yet (Ctrl+Enter marks one); choose 'Every image' to "
                 "export the accepted instances of every image."]) + result.warnings
        show_report(w, "Export dataset", summary + ".", note,
                    QMessageBox.Icon.Warning if note else QMessageBox.Icon.Information)


def _sentence(line: str) -> str:
    """The command line's lower-case line as the start of a sentence."""
    return line[:1].upper() + line[1:]
