"""The image browser: filter and search, quiet programmatic selection, navigation order, and
thumbnails that are decoded off the GUI thread only for rows on screen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6.QtWidgets")

from PySide6.QtCore import Qt  # noqa: E402

from labeler.core.entities import ImageRecord, ImageStatus  # noqa: E402
from labeler.gui.widgets.image_browser import ICON_SIZE, PADDING, ImageBrowser  # noqa: E402
from labeler.imaging.reduced import decode_thumbnail  # noqa: E402
from labeler.gui.widgets.status_icons import STATUS_TEXT, status_icon  # noqa: E402

from ..conftest import write_image  # noqa: E402

U, P, R, A = ImageStatus.UNLABELED, ImageStatus.PROPOSED, ImageStatus.IN_REVIEW, ImageStatus.ACCEPTED
STATUSES = [U, P, R, A, U, P, A, U]
NAMES = ["cat_01.png", "cat_02.png", "Dog_01.png", "dog_02.png", "sub/bird.png", "sub/CAT_03.png",
         "fish.png", "broken.png"]


def records(statuses=STATUSES, names=NAMES) -> list[ImageRecord]:
    return [ImageRecord(k + 1, name, 64, 48, status) for k, (name, status) in enumerate(zip(names, statuses))]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for k, name in enumerate(NAMES[:-1]):
        write_image(tmp_path / name, 64, 48, seed=k)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing an image needs")
    return tmp_path


@pytest.fixture
def browser(qtbot, root: Path) -> ImageBrowser:
    widget = ImageBrowser(lambda image: root / image.path)
    qtbot.addWidget(widget)
    widget.resize(320, 700)
    widget.set_images(records())
    return widget


def set_filter(browser: ImageBrowser, text: str) -> None:
    browser.filter_combo.setCurrentIndex(browser.filter_combo.findText(text))


def selected_id(browser: ImageBrowser) -> int | None:
    """The image whose row is selected in the list, as the person sees it."""
    rows = browser.view.selectionModel().selectedIndexes()
    return browser.model.id_at(rows[0].row()) if rows else None


def test_filter_by_status_and_search_by_name(browser):
    assert browser.visible_ids() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [browser.filter_combo.itemText(k) for k in range(browser.filter_combo.count())] == [
        "All", "Unlabeled", "Proposed", "In review", "Accepted", "Not accepted yet"]
    set_filter(browser, "Unlabeled")
    assert browser.visible_ids() == [1, 5, 8]
    set_filter(browser, "Not accepted yet")
    assert browser.visible_ids() == [1, 2, 3, 5, 6, 8]
    browser.search_edit.setText("cat")  # case-insensitive, anywhere in the relative path
    assert browser.visible_ids() == [1, 2, 6]
    set_filter(browser, "All")
    browser.search_edit.setText("SUB/")
    assert browser.visible_ids() == [5, 6]
    browser.search_edit.clear()
    assert browser.visible_ids() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert browser.search_edit.placeholderText() == "Search by name (Ctrl+F)"


def test_update_image_changes_what_the_filter_shows(browser, qtbot):
    set_filter(browser, "Not accepted yet")
    browser.set_current(2)
    with qtbot.assertNotEmitted(browser.imageActivated):
        browser.update_image(ImageRecord(2, NAMES[1], 64, 48, A))  # the current row leaves
        assert browser.visible_ids() == [1, 3, 5, 6, 8]
        assert selected_id(browser) is None  # the open image is hidden, not forgotten
        browser.update_image(ImageRecord(7, NAMES[6], 64, 48, R))  # comes back in order
        assert browser.visible_ids() == [1, 3, 5, 6, 7, 8]
        browser.update_image(ImageRecord(3, NAMES[2], 64, 48, P))  # stays, repaints
        assert browser.visible_ids() == [1, 3, 5, 6, 7, 8]
    set_filter(browser, "All")
    assert selected_id(browser) == 2  # shown again, selected again
    set_filter(browser, "Proposed")
    assert browser.visible_ids() == [3, 6]


def test_click_activates_but_set_current_does_not(browser, qtbot):
    browser.show()
    qtbot.waitExposed(browser)
    view, model = browser.view, browser.model
    with qtbot.assertNotEmitted(browser.imageActivated):
        browser.set_current(4)
    assert selected_id(browser) == 4
    assert view.selectionModel().isSelected(model.index(3))

    rect = view.visualRect(model.index(2))
    with qtbot.waitSignal(browser.imageActivated) as blocker:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [3]
    assert selected_id(browser) == 3

    with qtbot.waitSignal(browser.imageActivated) as blocker:
        qtbot.keyClick(view, Qt.Key.Key_Down)
    assert blocker.args == [4]

    with qtbot.assertNotEmitted(browser.imageActivated):  # filtering and reloading stay quiet
        browser.search_edit.setText("dog")
        browser.search_edit.clear()
        browser.set_images(records())
    assert selected_id(browser) == 4
    assert view.selectionModel().isSelected(model.index(3))


def test_neighbour_in_displayed_order(browser):
    assert browser.neighbour(1, -1) is None
    assert browser.neighbour(1, +1) == 2
    assert browser.neighbour(8, +1) is None
    assert browser.neighbour(8, -1) == 7
    set_filter(browser, "Unlabeled")  # shows 1, 5, 8
    assert browser.neighbour(1, +1) == 5
    assert browser.neighbour(5, -1) == 1
    assert browser.neighbour(8, +1) is None
    # Filtered out: step from where it sits in the full list.
    assert browser.neighbour(3, +1) == 5
    assert browser.neighbour(3, -1) == 1
    assert browser.neighbour(7, +1) == 8
    assert browser.neighbour(7, -1) == 5
    browser.search_edit.setText("cat")  # shows only 1
    assert browser.neighbour(1, +1) is None
    assert browser.neighbour(2, -1) == 1
    assert browser.neighbour(2, +1) is None
    assert browser.neighbour(999, +1) is None


def test_thumbnails_arrive_and_a_corrupt_file_gets_the_broken_mark(browser, qtbot, root):
    loader = browser.loader
    browser.show()
    qtbot.waitExposed(browser)
    qtbot.waitUntil(lambda: loader.state(root / "cat_01.png") == "ready")
    qtbot.waitUntil(lambda: loader.state(root / "broken.png") == "broken")
    model = browser.model
    good = model.data(model.index(0), Qt.ItemDataRole.DecorationRole)
    bad = model.data(model.index(7), Qt.ItemDataRole.DecorationRole)
    assert good.cacheKey() not in (loader.placeholder.cacheKey(), loader.broken.cacheKey())
    assert max(good.width(), good.height()) <= 96 and not good.isNull()
    assert bad.cacheKey() == loader.broken.cacheKey()
    qtbot.waitUntil(lambda: loader.pending() == 0)
    assert loader.request_count == len(NAMES)  # each file once, however often it was painted
    browser.view.viewport().repaint()
    assert loader.request_count == len(NAMES)


def test_only_rows_on_screen_ask_for_thumbnails(qtbot, tmp_path):
    browser = ImageBrowser(lambda image: tmp_path / image.path)  # no files: every one is broken
    qtbot.addWidget(browser)
    browser.view.setFixedHeight(10 * (ICON_SIZE + 2 * PADDING))  # about ten rows on screen
    images = [ImageRecord(k + 1, f"img_{k:05d}.jpg", 4000, 3000, STATUSES[k % 8]) for k in range(2000)]
    browser.set_images(images)
    browser.show()
    qtbot.waitExposed(browser)
    qtbot.waitUntil(lambda: browser.loader.request_count > 0 and browser.loader.pending() == 0)
    assert 5 <= browser.loader.request_count <= 20
    before = browser.loader.request_count
    browser.set_current(1500)  # jumps there: only the rows around it are asked for
    qtbot.waitUntil(lambda: browser.loader.request_count > before and browser.loader.pending() == 0)
    assert browser.loader.request_count - before <= 20
    assert browser.loader.state(tmp_path / "img_01499.jpg") == "broken"


def test_decode_thumbnail_fits_and_reads_non_ascii_paths(tmp_path):
    import cv2

    path = tmp_path / "straße" / "ünïcode.jpg"
    path.parent.mkdir()
    rng = np.random.default_rng(0)
    ok, data = cv2.imencode(".jpg", rng.integers(0, 255, (900, 1600, 3), dtype=np.uint8))
    data.tofile(path)
    thumb = decode_thumbnail(path, 96, (1600, 900))
    assert thumb is not None and thumb.shape == (54, 96, 3)
    small = write_image(tmp_path / "small.png", 40, 30)
    assert decode_thumbnail(small, 96, (40, 30)).shape == (30, 40, 3)  # never enlarged
    assert decode_thumbnail(tmp_path / "missing.png", 96) is None
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8\xff not really")
    assert decode_thumbnail(tmp_path / "junk.jpg", 96) is None


def test_status_icons(qapp):
    for status in ImageStatus:
        icon = status_icon(status, 12)
        assert not icon.isNull() and icon is status_icon(status, 12)  # cached
        assert STATUS_TEXT[status]
