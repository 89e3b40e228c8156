"""The window's side of the models: the inference worker (suggestions, pre-labeling, box
prompts) and the trainer (the correction loop), wired to the session. It builds and owns its
widgets (the model line, the pre-labeling progress and Cancel, the round and box-prompt
indicators, the Learning panel); the window places them, shows its `message` lines in the
status bar and lists the images it sends with `ordered` in the browser.

The loop: when an image is accepted and the trainer is idle, a round starts if enough new
images were accepted since the last one (store.training.round_due; Model menu to change
how many, 0 for only on demand). A round that ends "promoted" is hot-swapped: the
inference worker is told to Reload, answers with a new Ready, and from then on only that
version's suggestions are taken (the bridge drops the others). Every outcome gets a
status-bar line.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QInputDialog, QLabel, QMessageBox, QProgressBar, QToolButton, QWidget

from ..core.commands import CommandKind, add_instance
from ..core.entities import ImageRecord, ImageStatus, Instance, InstanceStatus, Polygons, Provenance
from ..core.errors import UserError
from ..core.rounds import RoundStatus
from ..store.proposals import class_map, current_model_version, parse_class_map, review_order, save_class_map
from ..store.training import retrain_every, round_blocker, round_due, set_retrain_every
from ..workers.protocol import Reload, RoundDone, RoundStarted, TrainerConfig, TrainProgress, WorkerConfig
from .bridge import ModelBridge
from .preferences import offline
from .session import Session
from .trainer_bridge import TrainerBridge
from .widgets.learning_panel import LearningPanel
from .widgets.model_dialog import ModelDialog

TRAIN_STEPS = 200  # optimizer steps per round when the window starts the trainer itself...
ROUND_SECONDS = 600.0  # ...or ten minutes, whichever ends first (on a CPU a default-model step takes a minute)


def trainer_config(model: WorkerConfig, steps: int = TRAIN_STEPS) -> TrainerConfig:
    """The trainer for the same project, model, weights and device as the inference worker."""
    return TrainerConfig(model.project_dir, model_name=model.model_name, weights=model.weights,
                         device=model.device, steps=steps, seconds=ROUND_SECONDS,
                         allow_download=model.allow_download,
                         class_map=dict(model.class_map), model_overrides=dict(model.model_overrides))


def round_message(done: RoundDone) -> str:
    """One line for the status bar about how a round ended."""
    if done.status == RoundStatus.PROMOTED:
        ap, before = done.metrics.get("mask_ap"), done.metrics.get("previous_mask_ap")
        score = f": held-out mask AP {ap:.2f}" if isinstance(ap, (int, float)) else ""
        was = f" (was {before:.2f})" if isinstance(before, (int, float)) and score else ""
        return f"Model v{done.version} is in{score}{was}"
    if done.status == RoundStatus.KEPT_PREVIOUS:
        return f"Round v{done.version} not kept: {done.reason}"
    if done.status == RoundStatus.FAILED:
        return f"Round v{done.version} failed: {done.reason}"
    return f"No training round: {done.reason}"


class ModelController(QObject):
    """`images`: the project's images by id, in path order, as the window keeps them (read
    here, never changed). `window`: the parent of the dialogs this opens."""

    message = Signal(str, int)  # a status-bar line and how many milliseconds it stays
    ordered = Signal(object)  # list[ImageRecord]: the images in the order the browser should list them

    def __init__(self, session: Session, images: dict[int, ImageRecord], suggest_untrained: bool = False,
                 window: QWidget | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.session, self.store, self.images = session, session.store, images
        self.bridge: ModelBridge | None = None
        self.trainer: TrainerBridge | None = None
        self.model_config: WorkerConfig | None = None
        self.trainer_config: TrainerConfig | None = None
        self.suggest_untrained = suggest_untrained
        self.auto_suggest = False  # set when the model says which weights it has
        self.order = "path"  # the image browser's order: "path" | "uncertainty"
        self.model_label = QLabel("Model: off")
        self.batch_progress = QProgressBar()
        self.batch_progress.setMaximumWidth(200)
        self.batch_progress.setFormat("pre-labeling %v/%m")
        self.batch_progress.hide()
        self.batch_cancel = QToolButton()
        self.batch_cancel.setText("Cancel")
        self.batch_cancel.clicked.connect(self.cancel_prelabel)
        self.batch_cancel.hide()
        self.train_label = QLabel()
        self.train_label.hide()
        self._prompt: tuple[int, int] | None = None  # (request id, image id) of the box waiting for its mask
        self.prompt_busy = QProgressBar()  # stays until the answer arrives or fails
        self.prompt_busy.setRange(0, 0)
        self.prompt_busy.setMaximumWidth(150)
        self.prompt_busy.setFormat("asking the model")
        self.prompt_busy.setTextVisible(True)
        self.prompt_busy.hide()
        self.learning = LearningPanel()
        self.learning.trainRequested.connect(self.train_now)
        self.learning.stopRequested.connect(self.stop_round)

    def _say(self, text: str, ms: int = 20000) -> None:
        self.message.emit(text, ms)

    # --- starting and stopping ---------------------------------------------------------

    def start_model(self, config: WorkerConfig) -> None:
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge.deleteLater()
        self.model_config = config
        self.bridge = ModelBridge(config, self)
        self.bridge.ready.connect(self._on_ready)
        self.bridge.suggested.connect(lambda answer: self.session.reload(answer.image_id))
        self.bridge.prompted.connect(self._on_prompted)
        self.bridge.progress.connect(self._on_batch_progress)
        self.bridge.failed.connect(self._on_failed)
        self.bridge.notice.connect(self._on_model_notice)
        self.model_label.setText("Model: starting...")
        self.bridge.start()
        if self.trainer is not None and not self.trainer.busy:  # it waits on this worker's screen
            self.start_trainer(self.trainer_config)  # type: ignore[arg-type]

    def start_trainer(self, config: TrainerConfig) -> None:
        if self.trainer is not None:
            self.trainer.stop()
            self.trainer.deleteLater()
        self.trainer_config = config
        screen_busy = self.bridge.client.screen_busy if self.bridge is not None else None
        self.trainer = TrainerBridge(config, screen_busy, self)
        self.trainer.started.connect(self._on_round_started)
        self.trainer.progress.connect(self._on_round_progress)
        self.trainer.done.connect(self._on_round_done)
        self.trainer.notice.connect(self._on_trainer_notice)
        self.trainer.busyChanged.connect(self._on_trainer_busy)
        self.trainer.waitingChanged.connect(self._on_trainer_waiting)
        self.trainer.start()
        self.learning.set_available(True)
        self.learning.refresh(self.store)
        self.maybe_train()

    def stop(self) -> None:
        for bridge in (self.trainer, self.bridge):
            if bridge is not None:
                bridge.stop()

    # --- the inference worker ------------------------------------------------------------

    def suggest_for_screen(self) -> None:
        image = self.session.image
        if self.bridge is not None and self.auto_suggest and image is not None \
                and image.status != ImageStatus.ACCEPTED:
            self.bridge.suggest_now(image.id)  # type: ignore[arg-type]

    def _on_ready(self, info) -> None:
        untrained = info.weights_source == "none"
        self.auto_suggest = not untrained or self.suggest_untrained
        device = info.device.split(" (")[0]  # "CPU (2 threads)" -> "CPU"; the whole of it is in the tooltip
        self.model_label.setText(f"Model v{info.model_version}{' (untrained)' if untrained else ''} on {device}")
        self.model_label.setToolTip(f"{info.model_name} on {info.device}"
                                 + (", untrained: it learns from your accepted labels" if untrained else "")
                                 + f".\n{info.message}\nModel → About the model says more.")
        self._say(info.message)
        if self.auto_suggest:
            self.suggest_for_screen()
            self.bridge.prelabel("unlabeled")  # type: ignore[union-attr]
        if self.order == "uncertainty":
            self.apply_order()

    def _on_model_notice(self, text: str) -> None:
        self._say(text, 30000)
        if self._prompt is not None:  # the worker died or gave up: its answer is not coming
            self._prompt_ended()
        if self.bridge is not None and not self.bridge.running:
            self.model_label.setText("Model: off")
            self.model_label.setToolTip(text)

    def _on_batch_progress(self, progress) -> None:
        self.batch_progress.setRange(0, max(progress.total, 1))
        self.batch_progress.setValue(progress.done)
        self.batch_progress.setVisible(progress.running)
        self.batch_cancel.setVisible(progress.running)
        if not progress.running and progress.total:
            self._say(f"Pre-labeled {progress.done} of {progress.total} images", 10000)
            if self.order == "uncertainty":
                self.apply_order()  # the new scores say which images are least certain

    def box_prompt(self, box) -> None:
        image = self.session.image
        if image is None:
            return
        if self.bridge is None or not self.bridge.running:
            self.session.message.emit("The box prompt needs the model, and the model is off")
            return
        info = self.bridge.info
        if info is None:
            self.session.message.emit("The model is still starting; try the box again in a moment")
            return
        if info.weights_source == "none" and not self.suggest_untrained:  # noise with a high score
            self.session.message.emit(
                "The box prompt cannot help yet: the model has no trained weights (Model → About the model). "
                "Draw this one with P, R or B; after a training round on your accepted labels it can.")
            return
        if self._prompt is not None:
            self.session.message.emit("Still waiting for the model's answer to the last box")
            return
        self._prompt = (self.bridge.prompt(image.id, box, None), image.id)  # type: ignore[arg-type]
        self.prompt_busy.show()
        self.session.message.emit("Asking the model what is in the box...")

    def _prompt_ended(self, text: str | None = None) -> None:
        self._prompt = None
        self.prompt_busy.hide()
        if text:
            self.session.message.emit(text)

    def _on_prompted(self, answer) -> None:
        if self._prompt is None or answer.request_id != self._prompt[0]:
            return
        self._prompt_ended()
        image = self.session.image
        if image is None or answer.image_id != image.id:
            self.session.message.emit("The model answered a box on another image; you have moved on")
            return
        if answer.shape_json is None:
            self.session.message.emit("The model found nothing in that box")
            return
        suggestion = Instance(None, image.id, answer.category_id, Polygons.from_json(answer.shape_json),
                              answer.score, Provenance.model(answer.model_version), InstanceStatus.PROPOSED)
        command = self.session.push(add_instance(suggestion, "Box prompt", kind=CommandKind.BOX_PROMPT))
        if command is not None:
            self.session.select([command.changes[0][1].id])  # type: ignore[union-attr]
            self.session.message.emit(f"The model's mask for the box (score {answer.score:.2f}): "
                                      "Enter accepts it, Del rejects it")

    def _on_failed(self, failure) -> None:
        self._say(failure.message, 15000)
        if self._prompt is not None and failure.image_id == self._prompt[1] and "box prompt" in failure.message:
            self._prompt_ended()

    def prelabel(self) -> None:
        if self.bridge is None or not self.bridge.running:
            self.session.message.emit("The model is off: start labeler with a model to pre-label")
            return
        self.bridge.prelabel("unlabeled")

    def cancel_prelabel(self) -> None:
        if self.bridge is not None:
            self.bridge.cancel()

    def restart_model(self, why: str = "Class mapping saved; the model is restarting with it") -> None:
        if self.bridge is not None:
            config = self.model_config
            if offline():  # the switch may have been turned on since the worker started
                config = replace(config, allow_download=False)  # type: ignore[arg-type]
            self.start_model(config)  # type: ignore[arg-type]
            self.session.message.emit(why)

    def model_info(self) -> None:
        can_download = self.model_config is not None and self.model_config.allow_download
        dialog = ModelDialog(self.window, self.bridge.info if self.bridge is not None else None, can_download)
        dialog.restartRequested.connect(self.restart_model)
        dialog.exec()

    # --- the correction loop -------------------------------------------------------------

    def on_status(self, image: ImageRecord, before: ImageStatus | None) -> None:
        """An image changed status: an accepted one may make a round due."""
        if ImageStatus.ACCEPTED in (image.status, before):
            self.learning.refresh(self.store)  # "accept N more images" changed
        if image.status == ImageStatus.ACCEPTED:
            self.maybe_train()

    def maybe_train(self) -> bool:
        if self.trainer is None or not self.trainer.running or self.trainer.busy or not round_due(self.store) \
                or round_blocker(self.store) is not None:
            return False
        if self.trainer.train():
            self._say("Enough new labels: a training round has started (it runs in the background)", 10000)
            return True
        return False

    def train_now(self) -> None:
        blocker = round_blocker(self.store)
        if self.trainer is not None and self.trainer.waiting:
            self.session.message.emit(self.trainer.waiting)
        elif self.trainer is None or not self.trainer.running:
            self.session.message.emit("Training needs the model: start labeler with a model")
        elif self.trainer.busy:
            self.session.message.emit("A round is already running (Stop round ends it early)")
        elif blocker is not None:  # said at once, not after the trainer has started up
            text = f"No training round: {blocker}"
            self.session.message.emit(text)
            self.learning.round_refused(text)
        elif self.trainer.train():
            self.session.message.emit("Training round requested")

    def stop_round(self) -> None:
        if self.trainer is None or not self.trainer.busy:
            self.session.message.emit("No training round is running")
            return
        self.trainer.stop_round()
        self.session.message.emit("Stopping the round: it is scored on what it learned so far")

    def ask_class_map(self) -> None:
        """Model > Which COCO class each class takes: checked and saved in the project; the
        model worker reads it when it starts, so it is restarted. A map that does not fit is
        said and not saved, and the worker keeps running."""
        from ..core.coco_classes import match_coco_classes

        names = [c.name for c in self.store.categories()]
        current = match_coco_classes(names, class_map(self.store))  # what the weights would use now
        text = ", ".join(f"{name}={current.get(name, '')}" for name in names)
        answer, ok = QInputDialog.getText(
            self.window, "COCO class mapping", "With COCO weights, each class starts from the COCO class named "
            "here (empty: none).\nCLASS=COCO_CLASS, comma separated:", text=text)
        if not ok:
            return
        try:
            save_class_map(self.store, parse_class_map(answer))
        except UserError as exc:
            QMessageBox.warning(self.window, "COCO class mapping", str(exc))
            return
        self.restart_model()

    def ask_retrain_every(self) -> None:
        count, ok = QInputDialog.getInt(
            self.window, "Automatic training", "Start a training round after this many newly accepted "
            "images\n(0: only when you press Train now):", retrain_every(self.store), 0, 100000)
        if not ok:
            return
        set_retrain_every(self.store, count)
        self.learning.refresh(self.store)
        self.session.message.emit(f"A round starts after every {count} accepted images" if count else
                                  "Rounds start only when you press Train now")
        self.maybe_train()

    def _on_round_started(self, started: RoundStarted) -> None:
        self.learning.round_started(started)
        self.train_label.setText(f"Training v{started.version}")
        self.train_label.show()

    def _on_round_progress(self, progress: TrainProgress) -> None:
        self.learning.round_progress(progress)
        if progress.phase == "training":
            self.train_label.setText(f"v{progress.version} training {progress.steps_text()}")
        else:
            self.train_label.setText(f"v{progress.version} scoring {progress.step}/{progress.total}")

    def _on_round_done(self, done: RoundDone) -> None:
        text = round_message(done)
        self._say(text, 30000)
        self.learning.round_done(done, text)
        self.learning.refresh(self.store)
        if done.status == RoundStatus.PROMOTED and self.bridge is not None and self.bridge.running:
            self.bridge.client.send(Reload())  # the worker answers Ready with the new version
        if done.status != RoundStatus.SKIPPED:
            self.maybe_train()  # labels accepted during the round may make the next one due

    def _on_trainer_notice(self, text: str) -> None:
        self._say(text, 30000)
        self.learning.refresh(self.store)
        if self.trainer is not None and not self.trainer.running:
            self.learning.set_available(False, text)

    def _on_trainer_waiting(self, who: str) -> None:
        """Another live trainer has the project: Train now greys out saying who; back when it ends."""
        self.learning.set_available(not who, who)
        if not who:
            self.maybe_train()

    def _on_trainer_busy(self, busy: bool) -> None:
        self.learning.set_busy(busy)
        if not busy:
            self.train_label.hide()

    # --- review order ------------------------------------------------------------------

    def set_order(self, order: str) -> None:
        self.order = order
        self.apply_order()

    def apply_order(self) -> None:
        """Show the images in path order, or the unreviewed ones the model is least sure
        about first (then the rest, in path order)."""
        images = self.images
        everything = list(images.values())  # path order, as the store lists them
        if self.order == "uncertainty":
            version = (self.bridge.info.model_version if self.bridge is not None and self.bridge.info
                       else current_model_version(self.store))
            first = [images.get(i.id, i) for i in review_order(self.store, version)]  # type: ignore[arg-type]
            seen = {i.id for i in first}
            everything = first + [i for i in everything if i.id not in seen]
        self.ordered.emit(everything)

    def catch_up(self) -> None:
        """Another connection stored labels (an import): the Learning panel reads the store
        again, and the newly accepted images may make a round due."""
        self.learning.refresh(self.store)
        self.maybe_train()
