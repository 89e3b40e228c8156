"""A project on disk, a window on it, and a Person who clicks and types on the canvas.

The Person works in image coordinates and sends real mouse and key events (through QTest,
so window shortcuts fire as they do for a user)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6.QtWidgets")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from labeler.imaging import find_images, scan_images  # noqa: E402
from labeler.formats.common import add_image_files  # noqa: E402
from labeler.store import ProjectStore  # noqa: E402
from tests.conftest import write_image  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "settings" / "labeler.ini"
    monkeypatch.setenv("LABELER_SETTINGS", str(path))
    return path


def make_project(root: Path, sizes=((400, 300), (320, 240), (360, 280))) -> Path:
    images = root / "images"
    for n, (w, h) in enumerate(sizes):
        write_image(images / f"img{n}.png", w, h, seed=n)
    project = root / "project"
    with ProjectStore.create(project, images, ["cat", "dog"]) as store:
        infos, errors = scan_images(find_images(images))
        assert not errors
        add_image_files(store, infos)
    return project


def make_photo_project(root: Path, image, classes=("thing", "other")) -> Path:
    """A project of one photo (a BGR numpy array), for the assisted tools."""
    import cv2

    images = root / "images"
    images.mkdir()
    cv2.imwrite(str(images / "photo.png"), image)
    project = root / "project"
    with ProjectStore.create(project, images, list(classes)) as store:
        infos, _ = scan_images(find_images(images))
        add_image_files(store, infos)
    return project


def mask_iou_with(shape, mask) -> float:
    """Mask IoU of an instance shape with a 0/1 numpy mask of the whole image."""
    from labeler.geometry import mask_iou, mask_to_rle

    return float(mask_iou([shape], [mask_to_rle(mask)], *mask.shape)[0, 0])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


@pytest.fixture
def open_window(qtbot):
    """Opens MainWindow on a project (a fresh store each time, like a new app run)."""
    from labeler.gui.main_window import MainWindow

    opened = []

    def open_(project_dir: Path, **options):
        store = ProjectStore.open(project_dir)
        window = MainWindow(store, **options)
        qtbot.addWidget(window)
        window.resize(1000, 700)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window)  # shortcuts need it
        window.canvas.setFocus()
        window.canvas.fit()
        opened.append((window, store))
        return window

    yield open_
    for window, store in opened:
        window.close()
        store.close()


class Person:
    def __init__(self, qtbot, window) -> None:
        self.qtbot, self.window = qtbot, window

    @property
    def canvas(self):
        return self.window.canvas

    def at(self, x: float, y: float) -> QPoint:
        return self.canvas.mapFromScene(QPointF(x, y))

    def key(self, key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
        QTest.keyClick(self.canvas, key, modifiers)
        QApplication.processEvents()

    def type(self, text: str) -> None:
        for ch in text:
            QTest.keyClicks(self.canvas, ch)
        QApplication.processEvents()

    def click(self, x: float, y: float, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
        QTest.mouseClick(self.canvas.viewport(), Qt.MouseButton.LeftButton, modifiers, self.at(x, y))
        QApplication.processEvents()

    def hover(self, x: float, y: float) -> None:
        self._send(QMouseEvent.Type.MouseMove, (x, y), Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)

    def drag(self, points, modifiers=Qt.KeyboardModifier.NoModifier, button=Qt.MouseButton.LeftButton) -> None:
        """Press at the first point, move through the others with the button held, release."""
        self._send(QMouseEvent.Type.MouseMove, points[0], Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, modifiers)
        self._send(QMouseEvent.Type.MouseButtonPress, points[0], button, button, modifiers)
        for p in points[1:]:
            self._send(QMouseEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, button, modifiers)
        self._send(QMouseEvent.Type.MouseButtonRelease, points[-1], button, Qt.MouseButton.NoButton, modifiers)

    def _send(self, kind, xy, button, buttons, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
        pos = QPointF(self.at(*xy))
        viewport = self.canvas.viewport()
        event = QMouseEvent(kind, pos, QPointF(viewport.mapToGlobal(pos.toPoint())), button, buttons, modifiers)
        QApplication.sendEvent(viewport, event)
        QApplication.processEvents()


@pytest.fixture
def person(qtbot):
    return lambda window: Person(qtbot, window)
