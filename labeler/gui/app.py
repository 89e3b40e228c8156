"""Start the window: ``run(project_dir)`` is what ``labeler gui`` and ``labeler demo`` call."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

from PySide6.QtWidgets import QApplication, QMessageBox

from .. import __version__
from ..store import ProjectStore
from ..workers.protocol import WorkerConfig
from ..workers.trainer import with_budget
from .main_window import MainWindow
from .model_controller import trainer_config


def _show_errors(window: MainWindow) -> None:
    """An unexpected error is shown in the window (and printed), not lost in a terminal.
    Every command that returned is already in the database, so nothing saved is lost."""

    def hook(kind, value, tb) -> None:
        traceback.print_exception(kind, value, tb)
        QMessageBox.critical(window, "labeler: something went wrong",
                             f"{kind.__name__}: {value}\n\nYour saved edits are safe: every edit is "
                             "stored in the project when it is made.")

    sys.excepthook = hook


def run(project_dir: str | Path, model: WorkerConfig | None = None, train_budget: str | None = None) -> int:
    """`model`: how to start the model worker (None: no model); the trainer starts with the
    same model, weights and device, and `train_budget` per round ("300", "90s", "5m";
    None: the default)."""
    trainer = with_budget(trainer_config(model), train_budget) if model is not None else None
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("labeler")
    app.setApplicationVersion(__version__)
    with ProjectStore.open(project_dir) as store:
        window = MainWindow(store, model, trainer=trainer)
        _show_errors(window)
        window.show()
        return app.exec()
