"""The main window: docks, actions and status bar wired to the Session and the canvas.

Layout and wiring only; what happens lives in the Session (state and commands), the canvas
and its tools (drawing and editing), the widgets (lists and panels), the model controller
(inference worker and trainer) and the effort counter.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QInputDialog, QLabel, QMainWindow, QProgressBar, QSlider, QWidget

from ..core.entities import ImageRecord, ImageStatus, InstanceStatus
from ..store import ProjectStore
from ..workers.protocol import AssistConfig, TrainerConfig, WorkerConfig
from .actions import ACTIONS, MENUS
from .assist_controller import AssistController
from .canvas.view import CanvasView
from .effort import EffortCounter
from .model_controller import ModelController
from .project_files import ProjectFiles
from .session import Session
from .settings import settings
from .widgets.category_panel import CategoryPanel
from .widgets.image_browser import ImageBrowser
from .widgets.attribute_editor import edit_class_attributes, edit_image_tags
from .widgets.instance_list import InstancePanel
from .widgets.messages import MessageLog, StatusBar
from .widgets.shortcut_sheet import ShortcutSheet


HINT_WIDTH = 460  # pixels of the status bar the tool's hint may take


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class MainWindow(QMainWindow):
    """`model`: how to start the model worker; None runs without a model (suggestions
    already in the project can still be reviewed). `suggest_untrained`: ask an untrained
    model for suggestions anyway (tests; normally it only answers box prompts). `trainer`:
    how to start the trainer (app.run makes one from the model's settings); None: no training.
    `assist`: how to start the assist model (SAM 2.1); None: the assisted mask tool uses GrabCut."""

    def __init__(self, store: ProjectStore, model: WorkerConfig | None = None,
                 suggest_untrained: bool = False, trainer: TrainerConfig | None = None,
                 assist: AssistConfig | None = None) -> None:
        super().__init__()
        self.store = store
        self.session = Session(store, self)
        self.effort = EffortCounter(self.session, parent=self)
        self.images: dict[int, ImageRecord] = {i.id: i for i in store.images()}  # type: ignore[misc]
        self.models = ModelController(self.session, self.images, suggest_untrained, self)
        self.setWindowTitle(f"labeler - {store.project_dir.name}")

        self.canvas = CanvasView(self.session)
        self.setCentralWidget(self.canvas)
        self.browser = ImageBrowser(store.image_path)
        self.instance_panel = InstancePanel(self.session)
        self.instance_list = self.instance_panel.list
        self.categories = CategoryPanel(self.session)
        self.browser_dock = self._dock("Images", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.instance_dock = self._dock("Instances", self.instance_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.category_dock = self._dock("Classes", self.categories, Qt.DockWidgetArea.RightDockWidgetArea)
        self.learning = self.models.learning
        self.learning_dock = self._dock("Learning", self.learning, Qt.DockWidgetArea.RightDockWidgetArea)
        self.message_log = MessageLog()
        self.messages_dock = self._dock("Messages", self.message_log, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.messages_dock.hide()  # View → Messages, or a click on the message line
        self.setStatusBar(StatusBar(self.message_log))
        self.assist = AssistController(self.session, self.canvas, self.browser.visible_ids, self)

        self.actions_: dict[str, QAction] = {}
        self._build_actions()
        self._build_status_bar()
        self.files = ProjectFiles(self)
        self._wire()
        self._restore()
        self.browser.set_images(list(self.images.values()))
        self.learning.refresh(store)
        self.open_image(self._first_image())
        if model is not None:
            self.models.start_model(model)
        if trainer is not None:
            self.models.start_trainer(trainer)
        if assist is not None:
            self.assist.start(assist)

    # --- construction ------------------------------------------------------------------

    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")  # saveState needs names
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_actions(self) -> None:
        self.menus = menus = {name: self.menuBar().addMenu("&" + name) for name in MENUS}  # Alt+F opens File
        toolbar = self.addToolBar("Tools")
        toolbar.setObjectName("toolbar_tools")
        tools = QActionGroup(self)
        for spec in ACTIONS:
            action = QAction(spec.text, self)
            action.setShortcuts([QKeySequence(k) for k in spec.keys])
            action.setToolTip(f"{spec.text} ({', '.join(spec.keys)})" if spec.keys else spec.text)
            action.setCheckable(spec.checkable)
            slot = getattr(self, f"do_{spec.name}")
            action.triggered.connect(slot if spec.arg is None else lambda _=False, s=slot, a=spec.arg: s(a))
            if spec.name.startswith("tool_"):
                tools.addAction(action)
            (menus[spec.menu] if spec.menu else self).addAction(action)
            if spec.toolbar:
                action.setIconText(spec.toolbar)
                toolbar.addAction(action)
            self.actions_[spec.name] = action
        for n in range(1, 10):  # 1-9: pick a class (and relabel the selection)
            action = QAction(f"Class {n}", self)
            action.setShortcut(QKeySequence(str(n)))
            action.triggered.connect(lambda _=False, n=n: self.pick_class(n))
            self.addAction(action)
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Brush "))
        self.brush_slider = self._slider(1, 200, 8, "Brush radius in image pixels ([ and ])")
        self.brush_slider.valueChanged.connect(self.canvas.set_brush_radius)
        toolbar.addWidget(self.brush_slider)
        wand = self.canvas.tools["wand"]
        toolbar.addWidget(QLabel(" Tolerance "))
        self.tolerance_slider = self._slider(0, 255, int(wand.tolerance), "Magic wand tolerance (Ctrl+wheel over "
                                             "the image)")
        self.tolerance_slider.valueChanged.connect(lambda v: setattr(wand, "tolerance", v))
        wand.tolerance_listeners.append(self.tolerance_slider.setValue)  # the same value again: no loop
        toolbar.addWidget(self.tolerance_slider)
        toolbar.addWidget(QLabel(" Opacity "))
        self.opacity_slider = self._slider(0, 100, 35, "Fill opacity of the shapes")
        self.opacity_slider.valueChanged.connect(self.canvas.set_fill_opacity)
        toolbar.addWidget(self.opacity_slider)
        toolbar.addWidget(QLabel(" Score "))
        self.score_slider = self._slider(0, 100, 50, "Suggestions scoring below this are hidden "
                                         "and not accepted by Shift+Enter")
        self.score_slider.valueChanged.connect(self._on_score_threshold)
        toolbar.addWidget(self.score_slider)
        self.actions_["tool_edit"].setChecked(True)
        self.actions_["show_names"].setChecked(True)
        panels = menus["View"].addMenu("Panels")  # a closed dock comes back from here
        for dock in (self.browser_dock, self.instance_dock, self.category_dock, self.learning_dock,
                     self.messages_dock):
            panels.addAction(dock.toggleViewAction())
        panels.addAction(toolbar.toggleViewAction())

    def _slider(self, low: int, high: int, value: int, tip: str) -> QSlider:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(low, high)
        slider.setValue(value)
        slider.setFixedWidth(90)
        slider.setToolTip(tip)
        slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        return slider

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        bar.line.clicked.connect(self.messages_dock.show)  # type: ignore[attr-defined]
        self.tool_label, self.position_label, self.zoom_label, self.size_label, self.count_label = (
            QLabel(), QLabel(), QLabel(), QLabel(), QLabel())
        self.tool_label.hide()  # what the brush or eraser will do next
        metrics = self.position_label.fontMetrics()  # room for the widest figures: no jitter
        self.position_label.setMinimumWidth(metrics.horizontalAdvance("x 00000.0  y 00000.0 "))
        self.zoom_label.setMinimumWidth(metrics.horizontalAdvance("0000% "))
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy indicator while pixels are decoded
        self.progress.setMaximumWidth(120)
        self.progress.setFormat("loading")
        self.progress.hide()
        m = self.models  # the controllers own their widgets; they are placed here
        for widget in (self.tool_label, m.batch_progress, m.batch_cancel, self.progress, self.position_label,
                       self.zoom_label, self.size_label, self.count_label, m.model_label, m.train_label,
                       m.prompt_busy, self.assist.download, self.assist.label):
            bar.addPermanentWidget(widget)

    def _on_hint(self, text: str) -> None:
        """What the tool will do next; cut to HINT_WIDTH (whole in the tooltip) so that a long
        hint never widens the window or squeezes the message out."""
        self.tool_label.setText(self.tool_label.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight,
                                                                         HINT_WIDTH))
        self.tool_label.setToolTip(text)
        self.tool_label.setVisible(bool(text))

    def _wire(self) -> None:
        s = self.session
        self.browser.imageActivated.connect(self.open_image)
        s.imageStatusChanged.connect(self._on_status)
        s.instancesChanged.connect(lambda *_: self._update_counts())
        s.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        s.historyChanged.connect(self._update_undo)
        self.canvas.cursorMoved.connect(lambda x, y: self.position_label.setText(f"x {x:.1f}  y {y:.1f}"))
        self.canvas.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.canvas.loadingChanged.connect(self.progress.setVisible)
        self.canvas.imageFailed.connect(self._on_image_failed)
        self.canvas.imageRead.connect(self._on_image_read)
        self.canvas.toolChanged.connect(lambda name: self.actions_[f"tool_{name}"].setChecked(True))
        self.canvas.boxPrompted.connect(self.models.box_prompt)
        self.canvas.hintChanged.connect(self._on_hint)
        self.browser.orderChanged.connect(self.models.set_order)
        self.models.ordered.connect(self.browser.set_images)
        self.models.message.connect(self.statusBar().showMessage)
        self.effort.watch(self.canvas, self.canvas.viewport())

    # --- settings ----------------------------------------------------------------------

    def _restore(self) -> None:
        st = settings()
        geometry, state = st.value("window/geometry"), st.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 850)
            self.resizeDocks([self.browser_dock, self.instance_dock], [240, 360], Qt.Orientation.Horizontal)
            self.resizeDocks([self.instance_dock, self.category_dock, self.learning_dock], [300, 130, 380],
                             Qt.Orientation.Vertical)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self.brush_slider.setValue(int(st.value("canvas/brush_radius", 8)))
        self.opacity_slider.setValue(int(st.value("canvas/opacity", 35)))

    def save_settings(self) -> None:
        st = settings()
        st.setValue("window/geometry", self.saveGeometry())
        st.setValue("window/state", self.saveState())
        st.setValue("canvas/brush_radius", self.brush_slider.value())
        st.setValue("canvas/opacity", self.opacity_slider.value())
        if self.session.image is not None:
            st.setValue(f"projects/{self.store.project_dir.resolve().as_posix()}/last_image", self.session.image.id)
        st.sync()

    def closeEvent(self, event) -> None:
        self.canvas.tool.cancel()
        self.save_settings()
        self.effort.close()
        self.models.stop()
        self.assist.stop()
        super().closeEvent(event)

    def _first_image(self) -> int | None:
        key = f"projects/{self.store.project_dir.resolve().as_posix()}/last_image"
        last = settings().value(key)
        if last is not None and int(last) in self.images:
            return int(last)
        pending = [i for i in self.browser.visible_ids() if self.images[i].status != ImageStatus.ACCEPTED]
        return pending[0] if pending else next(iter(self.images), None)

    # --- images ------------------------------------------------------------------------

    def open_image(self, image_id: int | None) -> None:
        if image_id is not None and self.session.image is not None and image_id == self.session.image.id:
            return
        self.canvas.tool.cancel()
        self.session.open_image(image_id)
        if image_id is not None:
            self.browser.set_current(image_id)
            image = self.images[image_id]
            self.size_label.setText(f"{image.width} x {image.height}")
            self.setWindowTitle(f"{image.path} - labeler - {self.store.project_dir.name}")
            self.models.suggest_for_screen()
        self._update_counts()

    def _on_image_failed(self, text: str) -> None:
        self.statusBar().showMessage(f"{text} - drawing is off for this image until the file can be read", 15000)
        if self.session.image is not None:
            self.browser.set_problem(self.session.image.id, text)  # type: ignore[arg-type]

    def _on_image_read(self) -> None:
        if self.session.image is not None:  # a file replaced since its thumbnail was made gets a new one
            self.browser.set_problem(self.session.image.id, None)  # type: ignore[arg-type]

    def _on_status(self, image: ImageRecord) -> None:
        before = self.images.get(image.id)  # type: ignore[arg-type]
        self.images[image.id] = image  # type: ignore[index]
        self.browser.update_image(image)
        self._update_counts()
        self.models.on_status(image, before.status if before is not None else None)

    def _update_counts(self) -> None:
        accepted = sum(1 for i in self.images.values() if i.status == ImageStatus.ACCEPTED)
        here = len(self.session.instances)
        self.count_label.setText(f"{plural(here, 'instance')} here  |  {accepted}/{len(self.images)} "
                                 f"image{'' if len(self.images) == 1 else 's'} accepted")

    def _update_undo(self) -> None:
        history = self.session.history
        for name, label in (("undo", history.undo_label if history else None),
                            ("redo", history.redo_label if history else None)):
            action = self.actions_[name]
            action.setEnabled(label is not None)
            action.setText(f"{name.capitalize()} {label}" if label else name.capitalize())

    def _step(self, step: int) -> None:
        current = self.session.image.id if self.session.image else None
        target = self.browser.neighbour(current, step) if current is not None else None
        if target is None:
            self.session.message.emit("No more images in that direction" + (
                " (the image list is filtered)" if self.browser.filter_combo.currentIndex() else ""))
            return
        self.open_image(target)

    def _on_score_threshold(self, percent: int) -> None:
        self.session.set_score_threshold(percent / 100)

    # --- actions -----------------------------------------------------------------------

    def do_prev_image(self) -> None:
        self._step(-1)

    def do_next_image(self) -> None:
        self._step(+1)

    def do_accept_image(self) -> None:
        image = self.session.image
        if image is None:
            return
        self.session.mark_image(ImageStatus.ACCEPTED)
        order = self.browser.visible_ids() or list(self.images)
        start = order.index(image.id) + 1 if image.id in order else 0
        for iid in order[start:] + order[:start]:
            if self.images[iid].status != ImageStatus.ACCEPTED:
                self.open_image(iid)
                return
        self.session.message.emit("Image accepted. Every image in the list is accepted now.")

    def do_search(self) -> None:
        self.browser_dock.show()
        self.browser.search_edit.setFocus()
        self.browser.search_edit.selectAll()

    def do_undo(self) -> None:
        if self.canvas.undo_in_tool():
            return
        self.canvas.tool.cancel()
        self.session.undo()

    def do_redo(self) -> None:
        self.canvas.tool.cancel()
        self.session.redo()

    def do_delete(self) -> None:
        if self.canvas.delete_active_vertex():
            return
        chosen = self.session.selected_instances()
        if chosen and all(i.status == InstanceStatus.PROPOSED for i in chosen):
            self.session.review_selected(accepted=False)
        else:
            self.canvas.delete_pressed()

    def do_accept_suggestion(self) -> None:
        if self.canvas.enter_pressed():
            return  # Enter closed the polygon being drawn
        if not self.session.review_selected(accepted=True):
            self.session.message.emit("Select a suggestion first (Tab selects the next one)")

    def do_accept_all_suggestions(self) -> None:
        n = self.session.accept_all_suggestions()
        if not n:
            self.session.message.emit("No suggestion at or above the score threshold here")

    def do_next_suggestion(self) -> None:
        if self.canvas.tab_pressed():
            return  # Tab showed the assist model's next candidate mask
        target = self.session.next_suggestion()
        if target is None:
            self.session.message.emit("No suggestions waiting on this image")
        else:
            self.canvas.show_instance(target)

    def do_assist_weights(self) -> None:
        self.assist.choose_weights()

    def do_prelabel(self) -> None:
        self.models.prelabel()

    def do_cancel_prelabel(self) -> None:
        self.models.cancel_prelabel()

    def do_train_now(self) -> None:
        self.models.train_now()

    def do_stop_round(self) -> None:
        self.models.stop_round()

    def do_retrain_every(self) -> None:
        self.models.ask_retrain_every()

    def do_class_map(self) -> None:
        self.models.ask_class_map()

    def do_model_info(self) -> None:
        self.models.model_info()

    def do_change_class(self) -> None:
        selected = self.session.selected_instances()
        if not selected:
            self.session.message.emit("Select an instance first")
            return
        names = [c.name for c in self.session.categories.values()]
        name, ok = QInputDialog.getItem(self, "Change class", "Class:", names, 0, False)
        if ok:
            category = next(c for c in self.session.categories.values() if c.name == name)
            self.session.relabel_selected(category.id, move_picker=False)  # type: ignore[arg-type]

    def do_class_attributes(self) -> None:
        edit_class_attributes(self, self.session)

    def do_toggle_attribute(self, n: int) -> None:
        self.session.toggle_attribute(n)

    def do_image_tags(self) -> None:
        edit_image_tags(self, self.session)

    def pick_class(self, n: int) -> None:
        ids = list(self.session.categories)
        if n > len(ids):
            self.session.message.emit(f"There is no class {n}: add one in the Classes panel")
            return
        self.session.relabel_selected(ids[n - 1])

    def _tool(self, name: str) -> None:
        self.canvas.set_tool(name)

    def do_tool_edit(self) -> None:
        self._tool("edit")

    def do_tool_polygon(self) -> None:
        self._tool("polygon")

    def do_tool_rectangle(self) -> None:
        self._tool("rectangle")

    def do_tool_brush(self) -> None:
        self._tool("brush")

    def do_tool_eraser(self) -> None:
        self._tool("eraser")

    def do_tool_prompt(self) -> None:
        self._tool("prompt")

    def do_tool_assist(self) -> None:
        self._tool("assist")

    def do_tool_wand(self) -> None:
        self._tool("wand")

    def do_tool_scissors(self) -> None:
        self._tool("scissors")

    def do_brush_smaller(self) -> None:
        self.brush_slider.setValue(max(1, round(self.brush_slider.value() / 1.25)))

    def do_brush_bigger(self) -> None:
        self.brush_slider.setValue(max(self.brush_slider.value() + 1, round(self.brush_slider.value() * 1.25)))

    def do_fit(self) -> None:
        self.canvas.fit()

    def do_zoom_in(self) -> None:
        self.canvas.zoom_by(1.25)

    def do_zoom_out(self) -> None:
        self.canvas.zoom_by(0.8)

    def do_hide_all(self) -> None:
        self.session.toggle_hide_all()
        self.actions_["hide_all"].setChecked(self.session.hide_all)

    def do_show_names(self) -> None:
        self.canvas.set_show_names(self.actions_["show_names"].isChecked())

    def do_shortcuts(self) -> None:
        ShortcutSheet(self).exec()

    def do_new_project(self) -> None:
        self.files.new_project()

    def do_open_project(self) -> None:
        self.files.open_project()

    def do_import_labels(self) -> None:
        self.files.import_labels()

    def do_export_dataset(self) -> None:
        self.files.export_dataset()

    def do_close_project(self) -> None:
        self.files.close_project()

    def do_quit(self) -> None:
        self.close()
