"""What a newcomer hit in the window (issue 11, points 4 and 7-12), used the way they used it."""

from __future__ import annotations

import hashlib

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from labeler.core.entities import MaskRLE, Polygons
from labeler.geometry import area
from labeler.store import ProjectStore
from labeler.workers.protocol import Failed, Prompted, Ready, WorkerConfig
from tests.conftest import write_image
from tests.gui.conftest import make_project
from tests.gui.test_window import CTRL, K, SHIFT, add_square, stored


# --- 4. the brush joins an instance only when asked --------------------------------------

def test_a_brush_stroke_elsewhere_never_joins_the_rectangle_drawn_before(project, open_window, person):
    window = open_window(project)
    me = person(window)
    window.brush_slider.setValue(8)
    me.key(K.Key_R)
    me.drag([(20, 20), (80, 80)])
    rectangle = window.session.selected_instances()[0]  # a new shape stays selected (to relabel it)
    me.key(K.Key_B)
    me.hover(250, 200)
    assert window.tool_label.text().startswith("Brush: a new")
    me.drag([(250, 200), (300, 200)])  # far from the rectangle
    instances = stored(window)[0]
    assert len(instances) == 2
    assert instances[0].shape == rectangle.shape  # untouched
    assert isinstance(instances[1].shape, MaskRLE)

    # even across its edge: the rectangle was only drawn, not picked, so a new mask starts
    me.key(K.Key_R)
    me.drag([(150, 20), (200, 80)])
    me.key(K.Key_B)
    me.drag([(190, 50), (230, 50)])
    assert len(stored(window)[0]) == 4


def test_the_brush_adds_to_an_instance_picked_on_purpose_or_with_shift(project, open_window, person):
    square = add_square(project, 100, 100, 200, 200)
    window = open_window(project)
    me = person(window)
    window.brush_slider.setValue(8)
    me.click(150, 150)  # picked on purpose
    me.key(K.Key_B)
    me.hover(195, 150)
    assert window.tool_label.text() == "Brush: adds to cat #1"
    me.drag([(195, 150), (230, 150)])  # touches it: grows it
    (grown,) = stored(window)[0]
    assert grown.id == square.id and area(grown.shape) > area(square.shape)

    me.hover(300, 250)
    assert window.tool_label.text() == "Brush: a new cat mask (Shift: adds to cat #1)"  # apart: would be new
    me.drag([(300, 250), (320, 250)])
    assert len(stored(window)[0]) == 2
    me.key(K.Key_Z, CTRL)

    me.key(K.Key_V)
    me.click(150, 150)  # picked again
    me.key(K.Key_B)
    me.drag([(300, 250), (320, 250)], modifiers=SHIFT)  # Shift: a new part of it, apart
    (joined,) = stored(window)[0]
    assert joined.id == square.id and area(joined.shape) > area(grown.shape) + 200


# --- 7. messages in full, apart from the coordinates ---------------------------------------

def test_a_long_message_is_kept_whole_and_apart_from_the_coordinates(project, open_window, person):
    window = open_window(project)
    me = person(window)
    me.hover(100, 100)
    long = ("The model worker stopped unexpectedly (exit code -9); it was restarted and no label "
            "was lost. " * 3).strip()
    window.statusBar().showMessage(long, 5000)
    QApplication.processEvents()
    line = window.statusBar().line
    assert line.full == long and long in line.toolTip()
    assert line.text() == long or line.text().endswith("…")  # elided at a word's end, never cut silently
    assert line.geometry().right() < window.position_label.geometry().left()  # no overlap
    assert window.position_label.text().startswith("x 100")
    assert window.message_log.texts()[-1] == long
    panels = next(a.menu() for a in window.menus["View"].actions() if a.menu() and a.text() == "Panels")
    toggles = {a.text(): a for a in panels.actions()}
    toggles["Messages"].trigger()
    assert window.messages_dock.isVisible()
    assert long in window.message_log.view.toPlainText()


# --- 9. columns and the first fit ----------------------------------------------------------

def test_instance_columns_fit_on_an_image_that_starts_empty(project, open_window, person):
    window = open_window(project)
    me = person(window)
    assert len(window.session.instances) == 0
    me.key(K.Key_R)
    me.drag([(20, 20), (80, 80)])
    table = window.instance_list
    metrics = table.fontMetrics()
    header = table.horizontalHeader()
    assert header.sectionSize(0) >= metrics.horizontalAdvance("cat") + 40  # check box, swatch, name
    assert header.sectionSize(2) >= metrics.horizontalAdvance("model v9 edited")  # "manual" in full
    assert table.model().index(0, 2).data() == "manual"


def test_the_first_image_is_fitted_to_the_final_window_size(project, open_window):
    window = open_window(project)
    window.resize(1400, 900)
    QApplication.processEvents()
    canvas = window.canvas
    w, h = canvas.image_size()
    fit = min(canvas.viewport().width() / w, canvas.viewport().height() / h)
    assert canvas.scale == pytest.approx(fit, rel=0.01)
    canvas.zoom_by(2.0)  # once the person zooms, a resize leaves the zoom alone
    zoom = canvas.scale
    window.resize(1200, 800)
    QApplication.processEvents()
    assert canvas.scale == pytest.approx(zoom)


# --- 10. panels, class names, vertex markers --------------------------------------------

def test_every_dock_comes_back_from_the_view_menu(project, open_window):
    window = open_window(project)
    panels = next(a.menu() for a in window.menus["View"].actions() if a.menu() and a.text() == "Panels")
    toggles = {a.text(): a for a in panels.actions()}
    for dock in (window.browser_dock, window.instance_dock, window.category_dock, window.learning_dock):
        dock.close()
        assert not dock.isVisible()
        toggles[dock.windowTitle()].trigger()
        assert dock.isVisible()


def test_class_names_on_the_canvas_toggle_with_l(project, open_window, person):
    add_square(project, 10, 10, 60, 60, category=1)
    add_square(project, 100, 100, 200, 200, category=2)
    window = open_window(project)
    me = person(window)
    assert window.canvas.tags.texts == ["cat", "dog"]
    me.key(K.Key_L)
    assert window.canvas.tags.texts == [] and not window.actions_["show_names"].isChecked()
    me.key(K.Key_L)
    assert window.canvas.tags.texts == ["cat", "dog"]
    me.click(150, 150)
    me.key(K.Key_1)  # relabel: the tag follows
    assert window.canvas.tags.texts == ["cat", "cat"]


def test_every_placed_polygon_vertex_has_a_marker(project, open_window, person):
    window = open_window(project)
    me = person(window)
    me.key(K.Key_P)
    for x, y in [(50, 50), (150, 60), (140, 160)]:
        me.click(x, y)
    assert window.canvas.preview.vertex_markers == 3
    me.key(K.Key_Backspace)
    assert window.canvas.preview.vertex_markers == 2


# --- 11. undo puts the picker back; words ---------------------------------------------------

def test_undoing_a_relabel_puts_the_class_picker_back(project, open_window, person):
    add_square(project, category=1)
    window = open_window(project)
    me = person(window)
    me.click(150, 150)
    me.key(K.Key_2)
    assert window.session.current_category_id == 2
    me.key(K.Key_Z, CTRL)
    assert stored(window)[0][0].category_id == 1
    assert window.session.current_category_id == 1
    assert window.categories.list.currentItem().text().endswith("cat")
    me.key(K.Key_Z, CTRL | SHIFT)
    assert window.session.current_category_id == 2


def test_counts_say_one_instance_and_one_image(tmp_path, open_window, person):
    window = open_window(make_project(tmp_path, sizes=((200, 150),)))
    me = person(window)
    me.key(K.Key_R)
    me.drag([(20, 20), (80, 80)])
    assert window.count_label.text() == "1 instance here  |  0/1 image accepted"
    me.drag([(100, 20), (150, 80)])
    assert window.count_label.text().startswith("2 instances here")


# --- 12. an image that became unreadable -------------------------------------------------------

def test_an_image_broken_after_init_is_marked_and_cannot_be_drawn_on(project, open_window, person, qtbot):
    with ProjectStore.open(project) as store:
        first, second = store.images()[:2]
        broken = store.image_path(second)
    window = open_window(project)
    me = person(window)
    browser = window.browser
    qtbot.waitUntil(lambda: browser.loader.state(broken) == "ready")  # the old thumbnail
    broken.write_bytes(b"this is not a PNG any more")
    me.key(K.Key_D)
    assert window.session.image.id == second.id
    qtbot.waitUntil(lambda: window.canvas.unreadable is not None)
    row = browser.model.row_of(second.id)
    assert "img1.png" in browser.model.index(row).data(Qt.ItemDataRole.ToolTipRole).split("Cannot be read: ")[1]
    qtbot.waitUntil(lambda: browser.loader.state(broken) == "broken")  # the thumbnail says so too
    me.key(K.Key_R)
    me.drag([(20, 20), (80, 80)])
    assert stored(window)[0] == []  # nothing drawn on a blank canvas
    assert "Drawing is off" in window.statusBar().currentMessage()

    write_image(broken, 320, 240, seed=7)  # fixed: readable again when opened
    me.key(K.Key_A)
    me.key(K.Key_D)
    qtbot.waitUntil(lambda: window.canvas.unreadable is None and not window.progress.isVisible())
    qtbot.waitUntil(lambda: browser.loader.state(broken) == "ready")
    assert browser.model.problems == {}
    me.drag([(20, 20), (80, 80)])
    assert len(stored(window)[0]) == 1


# --- 5. the box prompt: no confident noise, progress until the answer --------------------------

class FakeBridge:
    """The inference worker's bridge as the controller sees it, answering when the test says."""

    def __init__(self, weights_source: str) -> None:
        self.info = Ready("CPU", "maskrcnn_tiny", 0, weights_source, "")
        self.running = True
        self.asked: list[tuple] = []

    def prompt(self, image_id, box, category_id) -> int:
        self.asked.append((image_id, box))
        return len(self.asked)

    def stop(self) -> None:
        pass


def test_the_box_prompt_says_plainly_that_an_untrained_model_cannot_help(project, open_window, person):
    window = open_window(project)
    window.models.bridge = FakeBridge("none")
    me = person(window)
    me.key(K.Key_M, SHIFT)  # the model's box prompt
    me.drag([(30, 30), (100, 110)])
    assert window.models.bridge.asked == []  # its guess would be noise with a high score
    assert "cannot help yet: the model has no trained weights" in window.statusBar().currentMessage()
    assert not window.models.prompt_busy.isVisible() and stored(window)[0] == []


def test_box_prompt_progress_stays_until_the_answer_arrives_or_fails(project, open_window, person):
    window = open_window(project)
    bridge = window.models.bridge = FakeBridge("coco")
    me = person(window)
    me.key(K.Key_M, SHIFT)  # the model's box prompt
    me.drag([(30, 30), (100, 110)])
    assert len(bridge.asked) == 1 and window.models.prompt_busy.isVisible()
    me.key(K.Key_A)  # other messages come and go meanwhile
    window.statusBar().clearMessage()
    assert window.models.prompt_busy.isVisible()
    image = window.session.image
    shape = Polygons.rectangle(35, 35, 95, 105)
    window.models._on_prompted(Prompted(1, image.id, 3, 1, 0.91, shape.to_json()))  # what the bridge emits
    assert not window.models.prompt_busy.isVisible()
    (suggestion,) = stored(window)[0]
    assert suggestion.shape == shape and window.session.selection == (suggestion.id,)

    me.drag([(150, 150), (200, 200)])
    assert window.models.prompt_busy.isVisible()
    window.models._on_failed(Failed(image.id, "box prompt failed: out of memory"))
    assert not window.models.prompt_busy.isVisible()
    assert "out of memory" in window.statusBar().currentMessage()


# --- 6. Train now with too few accepted images ---------------------------------------------------

def test_train_now_with_too_few_accepted_images_is_refused_at_once(tmp_path, open_window, person):
    from tests.gui.test_training_loop import tiny_trainer
    from tests.workers.conftest import make_model_project

    project = make_model_project(tmp_path)
    window = open_window(project, trainer=tiny_trainer(project))
    me = person(window)
    me.key(K.Key_T, CTRL)
    assert not window.models.trainer.busy  # nothing was asked of the trainer
    reason = "a round needs at least 2 accepted images (one to learn from, one to score on); the project has 0"
    assert reason in window.statusBar().currentMessage()
    panel = window.learning
    assert reason in panel.status_label.text()
    assert "running" not in panel.curve.empty_text and panel.train_button.isEnabled()
    assert not panel.progress_bar.isVisible()


# --- 8. About the model: the exact file, the folder, a Download button -----------------------------

def weights_for_download(tmp_path):
    """A 'published' weights file (served from a file:// URL, no network) and where the model looks."""
    payload = b"weights" * 1000
    name = f"tiny_coco-{hashlib.sha256(payload).hexdigest()[:8]}.pth"
    source = tmp_path / "published" / name
    source.parent.mkdir()
    source.write_bytes(payload)
    return payload, source, tmp_path / "hub" / "checkpoints" / name


def test_about_the_model_names_the_file_and_downloads_it(tmp_path, project, open_window, monkeypatch):
    from labeler.gui.widgets.model_dialog import ModelDialog

    payload, source, wanted = weights_for_download(tmp_path)
    window = open_window(project)
    window.models.bridge = FakeBridge("none")
    window.models.model_config = WorkerConfig(str(project))  # a run that may download
    window.models.bridge.info = Ready("CPU (2 threads)", "tiny_coco", 0, "none", "No pretrained weights found.",
                                      str(wanted), source.as_uri())
    restarts = []
    monkeypatch.setattr(window.models, "restart_model", lambda why="": restarts.append(why))

    def look(dialog: ModelDialog) -> None:
        assert wanted.name in dialog.where.text() and str(wanted.parent) in dialog.where.text()
        assert dialog.download_button.isVisible()
        dialog.download_button.click()  # runs the download behind its progress dialog, then returns
        assert wanted.read_bytes() == payload
        assert "is in place" in dialog.result.text()
        dialog.reject()

    QTimer.singleShot(0, lambda: look(next(w for w in QApplication.topLevelWidgets()
                                           if isinstance(w, ModelDialog) and w.isVisible())))
    window.actions_["model_info"].trigger()
    assert restarts and wanted.name in restarts[0]
    assert [p.name for p in wanted.parent.iterdir()] == [wanted.name]  # no partial file left


def test_a_download_that_is_not_the_published_file_is_not_kept(tmp_path, project, open_window, monkeypatch):
    from labeler.gui.widgets.model_dialog import ModelDialog

    payload, source, wanted = weights_for_download(tmp_path)
    source.write_bytes(b"something else")
    window = open_window(project)
    window.models.bridge = FakeBridge("none")
    window.models.model_config = WorkerConfig(str(project))
    window.models.bridge.info = Ready("CPU", "tiny_coco", 0, "none", "", str(wanted), source.as_uri())
    monkeypatch.setattr(window.models, "restart_model", lambda why="": pytest.fail("restarted"))
    texts = []

    def look(dialog: ModelDialog) -> None:
        dialog.download_button.click()
        texts.append(dialog.result.text())
        dialog.offline_box.click()  # an offline machine: no Download button, the setting is kept
        texts.append(dialog.download_button.isVisible())
        dialog.reject()

    QTimer.singleShot(0, lambda: look(next(w for w in QApplication.topLevelWidgets()
                                           if isinstance(w, ModelDialog) and w.isVisible())))
    window.actions_["model_info"].trigger()
    assert "not the published one" in texts[0] and texts[1] is False
    assert not wanted.exists() and list(wanted.parent.iterdir()) == []
    from labeler.gui.preferences import offline
    assert offline()


def test_an_offline_run_offers_no_download(tmp_path, project, open_window):
    from labeler.gui.widgets.model_dialog import ModelDialog

    _, source, wanted = weights_for_download(tmp_path)
    window = open_window(project)
    window.models.bridge = FakeBridge("none")
    window.models.model_config = WorkerConfig(str(project), allow_download=False)  # labeler gui --offline
    window.models.bridge.info = Ready("CPU", "tiny_coco", 0, "none", "", str(wanted), source.as_uri())
    seen = []

    def look(dialog: ModelDialog) -> None:
        seen.append((dialog.download_button.isVisible(), dialog.again_button.isVisible(), dialog.where.text()))
        dialog.reject()

    QTimer.singleShot(0, lambda: look(next(w for w in QApplication.topLevelWidgets()
                                           if isinstance(w, ModelDialog) and w.isVisible())))
    window.actions_["model_info"].trigger()
    ((download, again, where),) = seen
    assert not download and again and wanted.name in where
