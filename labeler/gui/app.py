"""Start the window: ``run(project_dir)`` is what ``labeler gui`` and ``labeler demo`` call.

``LabelerApp`` owns what is open: one project (its store and its MainWindow, with the
window's model worker and trainer) or, with none, the start window. File > New, Open, a
recent project and Close go through it, so there is never more than one set of workers:
the old window is closed first (its workers are stopped and joined there), then its store,
and only then does the next window start its own. A folder that cannot be opened (missing,
not a project, written by a newer labeler) is reported in one line and the current project
stays open.
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

from .. import __version__
from ..projects import create_project, parse_labels
from ..store import DB_NAME, ProjectStore
from ..workers.protocol import AssistConfig, TrainerConfig, WorkerConfig
from ..workers.trainer import with_budget
from . import preferences
from .main_window import MainWindow
from .model_controller import trainer_config
from .widgets.file_dialogs import NewProjectDialog, show_report
from .widgets.start_window import StartWindow
from .widgets.task_dialog import USER_ERRORS, Cancelled, TaskDialog


class LabelerApp(QObject):
    """`model`, `trainer` and `assist`: how every project's workers start (their project_dir
    is replaced by the project's); None: without them."""

    def __init__(self, model: WorkerConfig | None = None, trainer: TrainerConfig | None = None,
                 suggest_untrained: bool = False, assist: AssistConfig | None = None) -> None:
        super().__init__()
        self.model, self.trainer, self.suggest_untrained = model, trainer, suggest_untrained
        self.assist = assist
        self.window: MainWindow | None = None
        self.store: ProjectStore | None = None
        self.start: StartWindow | None = None
        self._owns_window = False

    @classmethod
    def adopt(cls, window: MainWindow) -> LabelerApp:
        """For a window made without one (tests, embedding): the next project starts its
        workers as this window's did. The window is closed on a switch, not deleted."""
        models = window.models
        app = cls(models.model_config, models.trainer_config, models.suggest_untrained, window.assist.config)
        app.window, app.store = window, window.store
        window.files.host = app
        return app

    def front(self) -> QWidget | None:
        """The window dialogs belong to."""
        return self.window if self.window is not None else self.start

    def configs(self, project_dir: Path) -> tuple[WorkerConfig | None, TrainerConfig | None, AssistConfig | None]:
        """The workers for this project; with the offline setting on, none downloads."""
        online = not preferences.offline()
        model = trainer = assist = None
        if self.assist is not None:  # the command line's --assist-model wins over the window's choice
            assist = replace(self.assist, project_dir=str(project_dir), model=self.assist.model or
                             preferences.assist_model(), allow_download=self.assist.allow_download and online)
        if self.model is not None:
            model = replace(self.model, project_dir=str(project_dir),
                            allow_download=self.model.allow_download and online)
        if self.trainer is not None:
            trainer = replace(self.trainer, project_dir=str(project_dir),
                              allow_download=self.trainer.allow_download and online)
        return model, trainer, assist

    # --- opening and closing -------------------------------------------------------------

    def open(self, project_dir: str | Path) -> bool:
        """Open a project in place of the current one; False (and one line said) if it cannot be."""
        path = Path(project_dir).expanduser().resolve()
        if self.store is not None and self.store.project_dir == path and self.window is not None:
            self.window.raise_()
            self.window.activateWindow()
            return True
        try:
            store = ProjectStore.open(path)
        except USER_ERRORS as exc:
            if not (path / DB_NAME).is_file():
                preferences.forget_project(path)  # gone or never a project: off the recent list
            QMessageBox.warning(self.front(), "Open project", str(exc))
            return False
        self._close_window()
        model, trainer, assist = self.configs(path)
        try:
            window = MainWindow(store, model, suggest_untrained=self.suggest_untrained, trainer=trainer,
                                assist=assist)
        except BaseException:
            store.close()
            self.show_start()
            raise
        window.files.host = self
        self.window, self.store, self._owns_window = window, store, True
        window.show()
        if self.start is not None:
            self.start.hide()
        preferences.remember_project(path)
        return True

    def close_project(self) -> None:
        """File > Close project: the start window takes the project window's place."""
        self.show_start()
        self._close_window()

    def show_start(self) -> None:
        if self.start is None:
            self.start = StartWindow()
            self.start.newRequested.connect(self.new_project)
            self.start.openRequested.connect(self.ask_open)
            self.start.recentChosen.connect(self.open)
        self.start.set_recent(preferences.recent_projects())
        self.start.show()
        self.start.raise_()
        self.start.activateWindow()

    def _close_window(self) -> None:
        """Close the project window (it saves its settings and stops and joins its workers),
        then its store. No window may be left visible meanwhile, so the app must not quit."""
        window, store = self.window, self.store
        self.window = self.store = None
        if window is not None:
            app = QApplication.instance()
            quits = app.quitOnLastWindowClosed()
            app.setQuitOnLastWindowClosed(False)
            try:
                window.close()
            finally:
                app.setQuitOnLastWindowClosed(quits)
            if self._owns_window:
                window.deleteLater()
        if store is not None:
            store.close()

    def shutdown(self) -> None:
        """The app is ending: whatever is open is closed."""
        self._close_window()
        if self.start is not None:
            self.start.close()
            self.start.deleteLater()
            self.start = None

    # --- the dialogs ---------------------------------------------------------------------

    def ask_open(self) -> bool:
        start = str(self.store.project_dir.parent) if self.store is not None else ""
        recent = preferences.recent_projects()
        folder = QFileDialog.getExistingDirectory(self.front(), "Open project (the folder with labeler.db)",
                                                  start or (str(recent[0].parent) if recent else ""))
        return bool(folder) and self.open(folder)

    def new_project(self) -> bool:
        """Ask for a folder of images, read them (with progress, Cancel), create the project,
        open it, and list the files that could not be read."""
        dialog = NewProjectDialog(self.front(), str(self.store.image_root) if self.store is not None else "")
        if not dialog.exec():
            return False
        images, project, labels = dialog.images_dir(), dialog.project_dir(), parse_labels(dialog.labels_text())
        task = TaskDialog(self.front(), "New project", f"Reading the images in {images}...")
        try:
            created = task.run(lambda progress: create_project(project, images, labels, progress))
        except Cancelled:
            return False
        except USER_ERRORS as exc:
            QMessageBox.warning(self.front(), "New project", str(exc))
            return False
        if not self.open(created.project):
            return False
        text = f"Created {created.project}: {created.images} images" + (
            f"; {len(created.skipped)} unreadable files skipped:" if created.skipped else ".")
        if created.skipped:
            show_report(self.front(), "New project", text, created.skipped, QMessageBox.Icon.Warning)
        else:
            self.window.statusBar().showMessage(text, 10000)  # type: ignore[union-attr]
        return True


def _show_errors(app: LabelerApp) -> None:
    """An unexpected error is shown in the window (and printed), not lost in a terminal.
    Every command that returned is already in the database, so nothing saved is lost."""

    def hook(kind, value, tb) -> None:
        traceback.print_exception(kind, value, tb)
        QMessageBox.critical(app.front(), "labeler: something went wrong",
                             f"{kind.__name__}: {value}\n\nYour saved edits are safe: every edit is "
                             "stored in the project when it is made.")

    sys.excepthook = hook


def run(project_dir: str | Path | None = None, model: WorkerConfig | None = None,
        train_budget: str | None = None, assist: AssistConfig | None = None) -> int:
    """`project_dir`: None opens the start window. `model`: how to start the model worker
    (None: no model); the trainer starts with the same model, weights and device, and
    `train_budget` per round ("300", "90s", "5m"; None: the default). `assist`: how to start
    the assist model (None: the assisted mask tool uses GrabCut)."""
    trainer = with_budget(trainer_config(model), train_budget) if model is not None else None
    qt = QApplication.instance() or QApplication(sys.argv[:1])
    qt.setApplicationName("labeler")
    qt.setApplicationVersion(__version__)
    app = LabelerApp(model, trainer, assist=assist)
    _show_errors(app)
    received, restore = _quit_on_signals(qt)
    try:
        if project_dir is None or not app.open(project_dir):
            app.show_start()
        status = qt.exec() if not received else 0  # a signal while the window was opening
        return 128 + received[0] if received else status
    finally:
        app.shutdown()
        restore()
        # the event loop has ended: destroy the windows shutdown deleteLater()'d now, while
        # Python and Qt are whole, not from QApplication's destructor at interpreter exit
        # (there a pending paint met a window without its native handle, and the process
        # aborted, about once in 25 signal-ended runs)
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def _quit_on_signals(qt: QApplication):
    """SIGTERM (kill, a logout, a service manager) and SIGINT (Ctrl+C in the terminal) end
    the app as File > Quit does: the event loop ends and `run` closes the window (settings
    saved, workers stopped and joined) and the store. `run` then returns 128 + the signal
    (143, 130), as a shell reports a process ended by one. Python runs a signal handler only
    between its own bytecodes, and none run while Qt waits for events, so a timer gives it
    the chance four times a second. Returns the signals received (a list) and a function that
    puts the previous handlers back."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # signal.signal would refuse
        return received, lambda: None

    def handler(signum, frame) -> None:
        received.append(signum)
        qt.quit()  # ends the nested loop of an open dialog too

    wanted = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {sig: signal.signal(sig, handler) for sig in wanted}
    timer = QTimer()
    timer.timeout.connect(lambda: None)
    timer.start(250)

    def restore() -> None:
        timer.stop()
        for sig, old in previous.items():
            signal.signal(sig, old)

    return received, restore
