"""The File menu used like a person uses it: the keys open the dialogs, the fields are typed
into, the buttons clicked; then the project on disk and the window are checked. Modal
dialogs are answered by `Dialogs`, which waits for each one to come up (in any nested event
loop) and fails the test with its text if one comes up that nobody expected."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QMenu, QMessageBox
from shiboken6 import isValid

from labeler.core.entities import ImageStatus
from labeler.formats import import_coco
from labeler.gui import preferences
from labeler.gui.app import LabelerApp
from labeler.gui.bridge import PollingBridge
from labeler.gui.model_controller import trainer_config
from labeler.gui.widgets.file_dialogs import ExportDialog, ImportDialog, NewProjectDialog
from labeler.gui.widgets.start_window import StartWindow
from labeler.gui.widgets.task_dialog import Cancelled, TaskDialog
from labeler.store import DB_NAME, ProjectStore
from labeler.workers.protocol import AssistConfig, TrainerConfig, WorkerConfig
from tests.conftest import write_image, write_json
from tests.gui.conftest import make_project
from tests.workers.conftest import make_model_project, tiny_config

K = Qt.Key
CTRL = Qt.KeyboardModifier.ControlModifier
LEFT = Qt.MouseButton.LeftButton
SQUARE = [10, 10, 60, 10, 60, 60, 10, 60]


class Dialogs:
    """Answers the modal dialogs in the order they come up. TaskDialogs (progress) close by
    themselves and are let be, unless a step asks for one."""

    def __init__(self) -> None:
        self.steps: list = []
        self.unexpected: list[str] = []
        self.seen: list[str] = []  # the text of every message box answered
        self._timer = QTimer()
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._check)

    def expect(self, kind, action=None) -> Dialogs:
        self.steps.append((kind, action))
        self._timer.start()
        return self

    def _check(self) -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None or not dialog.isVisible():
            return
        if self.steps and isinstance(dialog, self.steps[0][0]):
            _, action = self.steps.pop(0)
            if isinstance(dialog, QMessageBox):
                self.seen.append(f"{dialog.text()}\n{dialog.informativeText()}")
            (action or _ok)(dialog)
        elif not isinstance(dialog, TaskDialog):
            text = dialog.text() if isinstance(dialog, QMessageBox) else type(dialog).__name__
            self.unexpected.append(text)
            dialog.reject() if not isinstance(dialog, QMessageBox) else dialog.close()

    def done(self) -> list[str]:
        self._timer.stop()
        assert not self.unexpected, f"unexpected dialogs: {self.unexpected}"
        assert not self.steps, f"dialogs that never came up: {[k.__name__ for k, _ in self.steps]}"
        return self.seen


def _ok(dialog) -> None:
    if isinstance(dialog, QMessageBox):
        QTest.mouseClick(dialog.button(QMessageBox.StandardButton.Ok), LEFT)
    else:
        QTest.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Ok), LEFT)


def type_into(edit, text: str) -> None:
    """Select what the field holds and type over it, Enter between lines."""
    edit.setFocus()
    edit.selectAll()
    for n, line in enumerate(text.split("\n")):
        if n:
            QTest.keyClick(edit, K.Key_Return)
        QTest.keyClicks(edit, line)


def tick(button) -> None:
    """A check box or radio button, as from the keyboard: focus it and press Space (a mouse
    click at the widget's centre can miss a short label in a wide row)."""
    button.setFocus()
    QTest.keyClick(button, K.Key_Space)


def choose_folder(path: Path):
    """Answer a folder dialog by pasting the path into its name field and pressing Enter
    (typed key by key, the dialog's completer pops up at a moment of its own and takes keys)."""
    def answer(dialog: QFileDialog) -> None:
        edit = dialog.findChild(QLineEdit, "fileNameEdit")
        edit.setFocus()
        edit.setText(str(path))
        QTest.keyClick(edit, K.Key_Return)
    return answer


def closed(window) -> bool:
    """Closed, or closed and deleted already (the app deletes the windows it made)."""
    return not isValid(window) or not window.isVisible()


def activate(qtbot, widget) -> None:
    qtbot.waitExposed(widget)
    widget.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is widget)


def press(qtbot, host: LabelerApp, key, modifiers=CTRL) -> None:
    """A key on the front window, as the person types it (window shortcuts included). The
    window is activated first: the offscreen platform does not hand activation back to it
    when a dialog closes, as a desktop does."""
    front = host.front()
    activate(qtbot, front)
    target = front.canvas if host.window is not None else front
    QTest.keyClick(target, key, modifiers)
    QApplication.processEvents()


def file_menu(window) -> QMenu:
    return next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "File")


@pytest.fixture
def app(qtbot):
    made: list[LabelerApp] = []

    def make(project: Path | None = None, **options) -> LabelerApp:
        host = LabelerApp(**options)
        made.append(host)
        if project is None:
            host.show_start()
        else:
            assert host.open(project)
        activate(qtbot, host.front())
        if host.window is not None:
            host.window.canvas.setFocus()
        return host

    yield make
    for host in made:
        host.shutdown()


def test_the_file_menu_holds_the_project_commands(app, project, qtbot):
    host = app(project)
    texts = [a.text() for a in file_menu(host.window).actions() if not a.isSeparator()]
    assert texts == ["New project from a folder of images...", "Open project...", "Recent projects",
                     "Import labels (COCO, YOLO, labelme, CVAT)...",
                     "Export dataset (COCO, YOLO, labelme, CVAT, mask PNGs)...", "Close project", "Quit"]
    shortcuts = {name: host.window.actions_[name].shortcut().toString() for name in
                 ("new_project", "open_project", "import_labels", "export_dataset", "close_project")}
    assert shortcuts == {"new_project": "Ctrl+N", "open_project": "Ctrl+O", "import_labels": "Ctrl+I",
                         "export_dataset": "Ctrl+E", "close_project": "Ctrl+W"}


def test_new_project_from_a_folder_lists_the_unreadable_files(app, project, tmp_path, qtbot):
    host = app(project)
    first = host.window
    images = tmp_path / "photos"
    write_image(images / "a.png", 64, 48)
    write_image(images / "deep" / "b.jpg", 32, 32)
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (images / "notes.txt").write_text("not an image")

    def fill(dialog: NewProjectDialog) -> None:
        type_into(dialog.images_edit, str(images))
        type_into(dialog.project_edit, str(tmp_path / "birds"))
        type_into(dialog.labels_edit, "bird, fish")
        _ok(dialog)

    dialogs = Dialogs().expect(NewProjectDialog, fill).expect(QMessageBox)
    press(qtbot, host, K.Key_N)
    (report,) = dialogs.done()
    assert "2 images; 1 unreadable files skipped" in report and "broken.png" in report

    window = host.window
    assert window is not first and closed(first)
    assert window.store.project_dir == (tmp_path / "birds").resolve()
    assert sorted(i.path for i in window.images.values()) == ["a.png", "deep/b.jpg"]
    assert [c.name for c in window.session.categories.values()] == ["bird", "fish"]
    assert preferences.recent_projects()[:2] == [(tmp_path / "birds").resolve(), project.resolve()]


def test_open_a_project_with_the_folder_dialog_and_go_back_by_recent_projects(app, tmp_path, qtbot):
    a, b = make_project(tmp_path / "a"), make_project(tmp_path / "b", sizes=((100, 80),))
    host = app(a)
    first = host.window
    dialogs = Dialogs().expect(QFileDialog, choose_folder(b))
    press(qtbot, host, K.Key_O)
    dialogs.done()
    second = host.window
    assert second is not first and closed(first) and second.isVisible()
    assert second.store.project_dir == b.resolve() and len(second.images) == 1
    assert second.windowTitle().endswith("labeler - project")

    recent = second.findChild(QMenu, "recent_projects")
    assert recent in [a.menu() for a in file_menu(second).actions()]
    recent.popup(second.mapToGlobal(second.rect().center()))
    qtbot.waitUntil(recent.isVisible)
    entries = [act for act in recent.actions() if act.text() == str(a.resolve())]
    assert len(entries) == 1 and str(b.resolve()) not in [act.text() for act in recent.actions()]
    entries[0].trigger()
    recent.close()
    assert host.window.store.project_dir == a.resolve() and len(host.window.images) == 3
    assert closed(second)


@pytest.mark.parametrize("case, message", [
    ("not a project", "not a labeler project"),
    ("newer", "written by a newer labeler"),
    ("gone", "not a labeler project"),
])
def test_a_folder_that_cannot_be_opened_is_one_line_and_the_project_stays(app, project, tmp_path, case,
                                                                          message, person, qtbot):
    other = make_project(tmp_path / "other")
    if case == "not a project":
        other = tmp_path / "empty"
        other.mkdir()
    elif case == "newer":
        with sqlite3.connect(other / DB_NAME) as db:
            db.execute("PRAGMA user_version = 999")
    host = app(project)
    window = host.window
    if case == "gone":  # a recent project deleted since: File > Recent projects
        preferences.remember_project(other)
        preferences.remember_project(project)
        os.remove(other / DB_NAME)
        dialogs = Dialogs().expect(QMessageBox)
        recent = window.findChild(QMenu, "recent_projects")
        recent.aboutToShow.emit()
        next(act for act in recent.actions() if act.text() == str(other.resolve())).trigger()
    else:
        dialogs = Dialogs().expect(QFileDialog, choose_folder(other)).expect(QMessageBox)
        press(qtbot, host, K.Key_O)
    (text,) = dialogs.done()
    line = text.strip()
    assert message in line and "\n" not in line and "Traceback" not in line
    assert host.window is window and window.isVisible()
    before = window.session.image.id
    activate(qtbot, window)  # see press()
    person(window).key(K.Key_D)  # the project is still open and usable
    assert window.session.image.id != before
    if case == "gone":
        assert other.resolve() not in preferences.recent_projects()


def coco_file(path: Path, file_name: str, extra_images=()) -> Path:
    images = [{"id": 1, "file_name": file_name, "width": 400, "height": 300}]
    images += [{"id": 2 + n, "file_name": name, "width": 10, "height": 10} for n, name in enumerate(extra_images)]
    return write_json(path, {
        "images": images,
        "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "segmentation": [SQUARE]},
                        {"id": 2, "image_id": 1, "category_id": 7, "segmentation": [[1, 1, 2, 2]]}],
        "categories": [{"id": 7, "name": "bird"}]})


def test_import_coco_shows_the_report_and_the_window_catches_up(app, project, tmp_path, qtbot):
    host = app(project)
    window = host.window
    assert window.session.image.path == "img0.png" and not window.session.instances
    path = coco_file(tmp_path / "coco.json", "img0.png", extra_images=["nowhere.png"])

    def fill(dialog: ImportDialog) -> None:
        assert dialog.fmt() == "coco"
        type_into(dialog.paths_edit, str(path))
        _ok(dialog)

    dialogs = Dialogs().expect(ImportDialog, fill).expect(QMessageBox)
    press(qtbot, host, K.Key_I)
    (report,) = dialogs.done()
    assert report.startswith("Imported 1 instance on 1 image") and "new classes: bird" in report
    assert "degenerate polygon (fewer than 3 points) dropped" in report
    assert "image not found; its annotations were skipped" in report
    # The window shows what was stored: the class, the instance on screen, the image's status.
    assert "bird" in [c.name for c in window.session.categories.values()]
    assert any(window.categories.list.item(r).text().endswith("bird") for r in range(window.categories.list.count()))
    assert len(window.session.instances) == 1
    assert window.images[window.session.image.id].status == ImageStatus.ACCEPTED
    assert "1/3 images accepted" in window.count_label.text()


def test_import_labelme_through_the_format_choice(app, project, tmp_path, qtbot):
    host = app(project)
    window = host.window
    labelme = write_json(tmp_path / "lm" / "img1.json", {
        "imagePath": "../images/img1.png", "imageWidth": 320, "imageHeight": 240,
        "shapes": [{"label": "fish", "shape_type": "polygon", "points": [[5, 5], [50, 5], [50, 50]]}]})
    assert labelme.is_file()

    def fill(dialog: ImportDialog) -> None:
        dialog.format_combo.setFocus()
        QTest.keyClick(dialog.format_combo, K.Key_Down)
        assert dialog.fmt() == "labelme"
        type_into(dialog.paths_edit, str(tmp_path / "lm"))
        _ok(dialog)

    dialogs = Dialogs().expect(ImportDialog, fill).expect(QMessageBox)
    press(qtbot, host, K.Key_I)
    (report,) = dialogs.done()
    assert report.startswith("Imported 1 instance on 1 image")
    img1 = next(i for i in window.images.values() if i.path == "img1.png")
    assert img1.status == ImageStatus.ACCEPTED


def test_a_bad_import_file_is_one_line_and_stores_nothing(app, project, tmp_path, qtbot):
    host = app(project)
    good = coco_file(tmp_path / "good.json", "img0.png")
    (tmp_path / "bad.json").write_text("{")

    def fill(dialog: ImportDialog) -> None:
        type_into(dialog.paths_edit, f"{good}\n{tmp_path / 'bad.json'}")
        _ok(dialog)

    dialogs = Dialogs().expect(ImportDialog, fill).expect(QMessageBox)
    press(qtbot, host, K.Key_I)
    (text,) = dialogs.done()
    first, rest = text.split("\n", 1)
    assert "bad.json" in first and "not valid JSON" in first and "Nothing was imported" in rest
    with ProjectStore.open(project) as store:
        assert store.instance_counts() == [] and [c.name for c in store.categories()] == ["cat", "dog"]
    assert [c.name for c in host.window.session.categories.values()] == ["cat", "dog"]


def test_any_user_error_from_an_import_is_one_line(app, project, tmp_path, qtbot, monkeypatch):
    """Not only the format's and the store's errors: every UserError (here an OptionError, a
    ValueError too) is told in a message and the window goes on."""
    from labeler.core.errors import OptionError
    from labeler.gui import project_files

    def refuse(*_args, **_kwargs):
        raise OptionError("--split: a fraction between 0 and 1, not 7")

    monkeypatch.setattr(project_files, "import_labels", refuse)
    host = app(project)
    good = coco_file(tmp_path / "good.json", "img0.png")

    def fill(dialog: ImportDialog) -> None:
        type_into(dialog.paths_edit, str(good))
        _ok(dialog)

    dialogs = Dialogs().expect(ImportDialog, fill).expect(QMessageBox)
    press(qtbot, host, K.Key_I)
    (text,) = dialogs.done()
    assert text.split("\n")[0] == "--split: a fraction between 0 and 1, not 7"
    assert host.window.isVisible()


def test_export_with_the_command_line_options(app, project, tmp_path, qtbot):
    with ProjectStore.open(project) as store:
        import_coco(store, [coco_file(tmp_path / "coco.json", "img0.png")])
    host = app(project)
    out = tmp_path / "out" / "data.json"

    def fill(dialog: ExportDialog) -> None:
        type_into(dialog.out_edit, str(out))
        tick(dialog.all_radio)
        tick(dialog.rle_check)
        type_into(dialog.val_spin.lineEdit(), "0.5")
        _ok(dialog)

    dialogs = Dialogs().expect(ExportDialog, fill).expect(QMessageBox)
    press(qtbot, host, K.Key_E)
    (report,) = dialogs.done()
    train, val = out.with_name("data_train.json"), out.with_name("data_val.json")
    assert report.startswith(f"Exported 1 instance on 3 images (every image) to {train}, {val}")
    both = [json.loads(p.read_text()) for p in (train, val)]
    assert sum(len(d["images"]) for d in both) == 3
    (ann,) = [a for d in both for a in d["annotations"]]
    assert isinstance(ann["segmentation"], dict) and "counts" in ann["segmentation"]  # RLE

    # Again: the dialog comes back with the last choices; now accepted images only, polygons, no split.
    def accepted_only(dialog: ExportDialog) -> None:
        assert (dialog.out(), dialog.all_images(), dialog.rle(), dialog.val_fraction()) == (out, True, True, 0.5)
        tick(dialog.accepted_radio)
        type_into(dialog.val_spin.lineEdit(), "0")
        tick(dialog.rle_check)
        _ok(dialog)

    dialogs = Dialogs().expect(ExportDialog, accepted_only).expect(QMessageBox)
    press(qtbot, host, K.Key_E)
    (report,) = dialogs.done()
    assert report.startswith(f"Exported 1 instance on 1 image (the images marked accepted) to {out}")
    (ann,) = json.loads(out.read_text())["annotations"]
    assert ann["segmentation"] == [SQUARE]  # a polygon


def test_export_in_another_format_offers_its_own_folder_and_options(app, project, tmp_path, qtbot):
    """The format box: YOLO writes a folder, has a split but no RLE; CVAT has neither; each
    format remembers its own file or folder."""
    with ProjectStore.open(project) as store:
        import_coco(store, [coco_file(tmp_path / "coco.json", "img0.png")])
    host = app(project)
    out = tmp_path / "yolo"

    def yolo(dialog: ExportDialog) -> None:
        dialog.format_combo.setFocus()
        QTest.keyClick(dialog.format_combo, K.Key_Down)  # COCO -> labelme
        assert dialog.fmt() == "labelme" and dialog.out_label.text() == "Folder:"
        QTest.keyClick(dialog.format_combo, K.Key_Down)  # -> YOLO
        assert dialog.fmt() == "yolo" and not dialog.rle_check.isEnabled() and dialog.val_spin.isEnabled()
        type_into(dialog.out_edit, str(out))
        tick(dialog.all_radio)
        _ok(dialog)

    dialogs = Dialogs().expect(ExportDialog, yolo).expect(QMessageBox)
    press(qtbot, host, K.Key_E)
    (report,) = dialogs.done()
    assert report.startswith("Exported 1 instance on 3 images (every image)")
    assert (out / "data.yaml").is_file() and len(list((out / "labels" / "train").glob("*.txt"))) == 3

    def again(dialog: ExportDialog) -> None:  # the last format and its folder come back
        assert dialog.fmt() == "yolo" and dialog.out() == out
        QTest.keyClick(dialog.format_combo, K.Key_Down)  # -> CVAT
        assert dialog.fmt() == "cvat" and dialog.out_label.text() == "File:"
        assert not dialog.rle_check.isEnabled() and not dialog.val_spin.isEnabled()
        assert dialog.out().name.endswith("_cvat.xml")
        dialog.reject()

    dialogs = Dialogs().expect(ExportDialog, again)
    press(qtbot, host, K.Key_E)
    dialogs.done()


def test_export_with_nothing_accepted_says_what_to_do(app, project, tmp_path, qtbot):
    host = app(project)

    def fill(dialog: ExportDialog) -> None:
        type_into(dialog.out_edit, str(tmp_path / "none.json"))
        _ok(dialog)

    dialogs = Dialogs().expect(ExportDialog, fill).expect(QMessageBox)
    press(qtbot, host, K.Key_E)
    (report,) = dialogs.done()
    assert "0 instances on 0 images (the images marked accepted)" in report and "Every image" in report
    assert json.loads((tmp_path / "none.json").read_text())["images"] == []


def test_close_project_leaves_the_start_window_which_opens_it_again(app, project, qtbot):
    host = app(project)
    window, store = host.window, host.store
    press(qtbot, host, K.Key_W)
    start = host.front()
    assert isinstance(start, StartWindow) and start.isVisible() and closed(window)
    assert host.window is None
    with pytest.raises(sqlite3.ProgrammingError):
        store.images()  # closed
    assert start.recent_list.item(0).data(Qt.ItemDataRole.UserRole) == str(project.resolve())
    activate(qtbot, start)

    # The start window's own buttons and keys: New and Open ask, Cancel leaves things be.
    dialogs = Dialogs().expect(NewProjectDialog, lambda d: d.reject())
    QTest.mouseClick(start.new_button, LEFT)
    dialogs.expect(QFileDialog, lambda d: d.reject())
    press(qtbot, host, K.Key_O)
    dialogs.done()
    assert host.window is None and start.isVisible()

    start.recent_list.setFocus()
    QTest.keyClick(start.recent_list, K.Key_Return)
    assert host.window is not None and host.window.store.project_dir == project.resolve()
    assert not start.isVisible()


def test_the_start_window_lists_recent_projects_and_marks_the_gone(app, tmp_path, qtbot):
    kept, gone = make_project(tmp_path / "kept"), make_project(tmp_path / "gone")
    for p in (gone, kept):
        preferences.remember_project(p)
    os.remove(gone / DB_NAME)
    host = app()
    items = [host.start.recent_list.item(r).text() for r in range(host.start.recent_list.count())]
    assert items == [str(kept.resolve()), f"{gone.resolve()}  (not found)"]


def test_opening_another_project_stops_the_old_workers_before_new_ones_start(app, tmp_path, qtbot,
                                                                            monkeypatch):
    a, b = make_model_project(tmp_path / "a"), make_model_project(tmp_path / "b", count=2)
    model = tiny_config(a)
    host = app(a, model=model, trainer=trainer_config(model), suggest_untrained=True)
    window = host.window
    qtbot.waitUntil(lambda: window.models.bridge.info is not None, timeout=120_000)
    old = [window.models.bridge.client, window.models.trainer.client]
    pids = [c.pid for c in old]
    assert all(c.alive for c in old)
    old_alive_at_start = []  # for each new worker: was any old one still running when it started?
    start = PollingBridge.start
    monkeypatch.setattr(PollingBridge, "start", lambda self: (
        old_alive_at_start.append(any(c.alive for c in old)), start(self))[-1])

    dialogs = Dialogs().expect(QFileDialog, choose_folder(b))
    press(qtbot, host, K.Key_O)
    dialogs.done()
    assert old_alive_at_start == [False, False]
    assert not any(c.alive for c in old)
    for pid in pids:  # joined: the processes are gone, not only asked to go
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    new = host.window
    assert new is not window
    clients = [new.models.bridge.client, new.models.trainer.client]
    assert [c.config.project_dir for c in clients] == [str(b.resolve())] * 2
    assert not set(c.pid for c in clients) & set(pids)
    qtbot.waitUntil(lambda: new.models.bridge.info is not None, timeout=120_000)
    assert all(c.alive for c in clients)


def test_the_offline_setting_reaches_every_project_s_workers(tmp_path, qtbot):
    host = LabelerApp(WorkerConfig("", allow_download=True), TrainerConfig("", allow_download=True),
                      assist=AssistConfig("", allow_download=True))
    preferences.set_offline(True)
    model, trainer, assist = host.configs(tmp_path)
    assert (model.project_dir, model.allow_download, trainer.project_dir, trainer.allow_download) == (
        str(tmp_path), False, str(tmp_path), False)
    assert (assist.project_dir, assist.allow_download) == (str(tmp_path), False)
    preferences.set_offline(False)
    model, trainer, assist = host.configs(tmp_path)
    assert model.allow_download and trainer.allow_download and assist.allow_download
    preferences.set_assist_model("/models/sam")  # chosen in the window: every project's assist model
    assert host.configs(tmp_path)[2].model == "/models/sam"
    named = LabelerApp(None, None, assist=AssistConfig("", model="sam2.1-small"))  # --assist-model wins
    assert named.configs(tmp_path)[2].model == "sam2.1-small"
    offline_flag = LabelerApp(WorkerConfig("", allow_download=False), None)  # labeler gui --offline
    assert offline_flag.configs(tmp_path) == (WorkerConfig(str(tmp_path), allow_download=False), None, None)


def test_cancel_stops_the_work_and_the_dialog_waits_for_it(qtbot):
    go, reached = threading.Event(), []

    def work(progress):
        progress(1, 3)
        go.wait(30)  # until the person has pressed Cancel
        progress(2, 3)  # raises Cancelled
        reached.append("after")

    def cancel(dialog: TaskDialog) -> None:
        QTest.mouseClick(dialog.cancel_button, LEFT)
        assert dialog.isVisible() and dialog.label.text() == "Cancelling..."  # still waiting for the work
        go.set()

    task = TaskDialog(None, "Working", "Working...")
    qtbot.addWidget(task)
    dialogs = Dialogs().expect(TaskDialog, cancel)
    with pytest.raises(Cancelled):
        task.run(work)
    dialogs.done()
    assert reached == [] and not task.isVisible()
