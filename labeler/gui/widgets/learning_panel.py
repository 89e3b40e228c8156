"""The Learning dock: the curve (learning_curve.py), what the running round is doing with
Train now / Stop, and an Effort tab with what the person's work costs under each model
version. It reads the store when told to refresh and never writes it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton, QTableWidget,
    QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from ...store import ProjectStore
from ...store.effort import EffortSummary, effort_summary
from ...store.proposals import current_model_version
from ...store.training import newly_accepted, retrain_every, versions
from ...workers.protocol import RoundDone, RoundStarted, TrainProgress
from .learning_curve import FIRST_ROUND_RUNNING, LearningCurve, curve_points


def _fmt(value: float | None, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)


EFFORT_COLUMNS = ("Model", "Images", "Seconds /\ninstance", "Actions /\ninstance", "Accepted\nunedited")


class LearningPanel(QWidget):
    """The dock's content: the curve, the running round with Train now / Stop, and an
    Effort tab. It reads the store when told to refresh and never writes it."""

    trainRequested = Signal()
    stopRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.curve = LearningCurve()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(10)
        self.progress_bar.hide()
        self.train_button = QPushButton("Train now")
        self.train_button.setToolTip("Start a training round on the accepted labels (Ctrl+T)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("End the round's training now; it is still scored and kept if better")
        self.stop_button.setEnabled(False)
        self.train_button.clicked.connect(self.trainRequested)
        self.stop_button.clicked.connect(self.stopRequested)
        self.effort_table = QTableWidget(0, len(EFFORT_COLUMNS))
        self.effort_table.setHorizontalHeaderLabels(EFFORT_COLUMNS)
        self.effort_table.verticalHeader().hide()
        self.effort_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.effort_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.effort_table.setToolTip("Your work on each image, under the model version that was current: "
                                     "time and actions (vertices, strokes, keys) per accepted instance, and "
                                     "the share of the model's suggestions you accepted without an edit")

        buttons = QHBoxLayout()
        buttons.addWidget(self.progress_bar, 1)
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_button)
        curve_page = QWidget()
        box = QVBoxLayout(curve_page)
        box.setContentsMargins(2, 2, 2, 2)
        box.addWidget(self.curve, 1)
        box.addWidget(self.status_label)
        box.addLayout(buttons)
        self.tabs = QTabWidget()
        self.tabs.addTab(curve_page, "Curve")
        self.tabs.addTab(self.effort_table, "Effort")
        self.tabs.currentChanged.connect(lambda _index: self._refresh_effort())
        self._store: ProjectStore | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.effort: list[EffortSummary] = []
        self._idle_text = ""  # when the next round comes
        self._outcome = ""  # how the last round ended
        self._unavailable = ""  # why there is no trainer; empty when there is one
        self._round: RoundStarted | None = None
        self._trained = False  # the running round has reported a training step
        self._busy = False
        self._empty = "No training rounds yet."  # what the empty curve says while no round runs
        self.set_available(False, "Training needs the model: start labeler with a model.")

    # --- from the store ------------------------------------------------------------------

    def refresh(self, store: ProjectStore) -> None:
        every, waiting = retrain_every(store), newly_accepted(store)
        if every > 0:
            more = max(0, every - waiting)
            empty = (f"No training rounds yet: accept {more} more image{'' if more == 1 else 's'} "
                     "(or press Train now) to start one.")
            self._idle_text = (f"Next round after {more} more accepted image{'' if more == 1 else 's'} "
                               f"(every {every}; Model menu)." if more else "A round is due.")
        else:
            empty = "No training rounds yet: press Train now to start one (automatic rounds are off)."
            self._idle_text = "Automatic rounds are off: press Train now (Model menu to change)."
        self._empty = empty
        self.curve.set_points(curve_points(versions(store), current_model_version(store)),
                              FIRST_ROUND_RUNNING if self._busy else empty)
        self._store = store
        self._refresh_effort()
        self._show_idle()

    def _refresh_effort(self) -> None:
        """The effort totals read every label of the project: only while their tab is shown."""
        if self._store is not None and self.tabs.currentWidget() is self.effort_table:
            self.set_effort(effort_summary(self._store))

    def _show_idle(self) -> None:
        if not self._busy:
            self.status_label.setText("\n".join(t for t in (self._outcome, self._unavailable or self._idle_text) if t))

    def set_effort(self, rows: list[EffortSummary]) -> None:
        self.effort = list(rows)
        self.effort_table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = (f"v{row.model_version}", str(row.images), _fmt(row.seconds_per_instance, "{:.1f} s"),
                     _fmt(row.actions_per_instance, "{:.1f}"),
                     _fmt(None if row.unedited_share is None else 100 * row.unedited_share, "{:.0f} %"))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.effort_table.setItem(r, c, item)

    # --- the running round -------------------------------------------------------------

    def set_available(self, available: bool, why: str = "") -> None:
        self._unavailable = "" if available else why
        self.train_button.setEnabled(available and not self._busy)
        self.train_button.setToolTip("Start a training round on the accepted labels (Ctrl+T)"
                                     if available else why)
        self._show_idle()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.stop_button.setEnabled(busy)
        self.train_button.setEnabled(not busy and not self._unavailable)
        if busy:
            self.curve.set_empty_text(FIRST_ROUND_RUNNING)
        if busy and self._round is None:
            self.status_label.setText("Starting a training round...")
            self.progress_bar.setRange(0, 0)
            self.progress_bar.show()
        elif not busy:
            self._round = None
            self.progress_bar.hide()
            self.curve.set_empty_text(self._empty)  # no round runs: the curve must not say one does
            self._show_idle()

    def round_started(self, started: RoundStarted) -> None:
        self._round, self._trained = started, False
        self.progress_bar.setRange(0, max(1, started.steps or round(started.seconds or 0)))
        self.progress_bar.setValue(0)
        self.progress_bar.show()
        self.status_label.setText(f"Round v{started.version}: {started.train_images} images to learn from, "
                                  f"{started.heldout_images} held out to score on")

    def round_progress(self, progress: TrainProgress) -> None:
        seconds = self._round.seconds if self._round is not None else None
        if progress.total is None and seconds:  # a time budget: the bar shows the time spent
            self.progress_bar.setRange(0, max(1, round(seconds)))
            self.progress_bar.setValue(round(seconds - (progress.seconds_left or 0)))
        else:
            self.progress_bar.setRange(0, max(1, progress.total or 0))  # (0, 0): Qt's busy bar
            self.progress_bar.setValue(progress.step)
        self.progress_bar.show()
        if progress.phase == "training":
            self._trained = True
            loss = f", loss {progress.loss:.2f}" if progress.loss is not None else ""
            text = f"Round v{progress.version}: training {progress.steps_text()}{loss}"
        else:
            whose = "the new model" if self._trained else "the current model"
            text = f"Round v{progress.version}: scoring {whose} on held-out images {progress.step}/{progress.total}"
        self.status_label.setText(text)

    def round_refused(self, text: str) -> None:
        """Train now was refused before any round started (too few accepted images...)."""
        self._outcome = text
        self._show_idle()

    def round_done(self, done: RoundDone, text: str) -> None:
        self._round = None
        self._outcome = text
        self.progress_bar.hide()
        self.status_label.setText("\n".join(t for t in (text, self._idle_text) if t))
