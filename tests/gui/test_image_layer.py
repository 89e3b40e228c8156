"""The canvas image layer: pyramid and tile limits, what ends up on screen, and the
background loader's signals (stale requests, failures)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("PySide6.QtWidgets")

from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtGui import QPainter, QTransform  # noqa: E402
from PySide6.QtWidgets import QFrame, QGraphicsScene, QGraphicsView  # noqa: E402

from labeler.imaging import ImageReadError  # noqa: E402
from labeler.gui.canvas import image_layer  # noqa: E402
from labeler.gui.canvas.image_layer import (  # noqa: E402
    EMPTY_COLOR, ImageLayer, ImageLoader, ImagePyramid, decode_image, preview_reduction)

QT_MAX_SIDE = 32_767

# Four blocks of solid colour (BGR, as OpenCV stores them), 400 x 300 px.
BLOCKS = {(0, 0): (255, 0, 0), (1, 0): (0, 255, 0), (0, 1): (0, 0, 255), (1, 1): (0, 200, 255)}


def block_image(width: int = 400, height: int = 300) -> np.ndarray:
    pixels = np.zeros((height, width, 3), np.uint8)
    for (bx, by), bgr in BLOCKS.items():
        pixels[by * height // 2:(by + 1) * height // 2, bx * width // 2:(bx + 1) * width // 2] = bgr
    return pixels


def rgb_at(image, x: int, y: int) -> tuple[int, int, int]:
    return image.pixelColor(x, y).getRgb()[:3]


def close(rgb, bgr, tol: int = 3) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(rgb, bgr[::-1]))


def test_pyramid_levels_and_tiles_stay_within_limits():
    pixels = np.random.default_rng(0).integers(0, 255, (3000, 5000, 3), dtype=np.uint8)
    pyramid = ImagePyramid.from_array(pixels, tile_size=256)
    assert (pyramid.width, pyramid.height) == (5000, 3000) and not pyramid.is_preview
    assert np.shares_memory(pyramid.levels[0].pixels, pixels)  # level 0 is not a copy
    sizes = [(lv.width, lv.height) for lv in pyramid.levels]
    assert sizes == [(5000, 3000), (2500, 1500), (1250, 750), (625, 375), (312, 188), (156, 94)]
    # Coarser levels are stored ready to draw (32-bit); level 0 never is (it is not copied).
    assert [lv.ready for lv in pyramid.levels] == [False] + [True] * 5
    assert pyramid.nbytes() == 5000 * 3000 * 3 + sum(w * h * 4 for w, h in sizes[1:])
    for index, level in enumerate(pyramid.levels):
        assert level.width < QT_MAX_SIDE and level.scale_x == pytest.approx(level.width / 5000)
        cols, rows = pyramid.tile_grid(index)
        covered = 0
        for row in range(rows):
            for col in range(cols):
                x, y, w, h = pyramid.tile_rect(index, col, row)
                assert 0 < w <= 256 and 0 < h <= 256
                covered += w * h
        assert covered == level.width * level.height
    # A tile view shows the array's pixels (BGR888, no copy) at the right offset.
    image = pyramid.tile_image(0, 3, 2)
    assert (image.width(), image.height()) == (256, 256)
    assert close(rgb_at(image, 7, 9), pixels[2 * 256 + 9, 3 * 256 + 7], tol=0)
    coarse = pyramid.tile_image(1, 1, 1)
    assert close(rgb_at(coarse, 5, 6), pyramid.levels[1].pixels[256 + 6, 256 + 5, :3], tol=0)
    last = pyramid.tile_image(0, *[n - 1 for n in pyramid.tile_grid(0)])
    assert (last.width(), last.height()) == (5000 - 19 * 256, 3000 - 11 * 256)
    assert close(rgb_at(last, last.width() - 1, last.height() - 1), pixels[-1, -1], tol=0)


def test_very_large_images_get_a_virtual_half_level(monkeypatch, view):
    monkeypatch.setattr(image_layer, "SKIP_HALF_ABOVE", 100_000)
    monkeypatch.setattr(image_layer, "READY_PIXELS", 20_000)
    pixels = block_image()
    pixels[100:110, 100:110] = (255, 255, 255)  # a detail a 1/4 level would blur away
    pyramid = ImagePyramid.from_array(pixels, tile_size=64)
    assert [lv.width for lv in pyramid.levels] == [400, 200, 100, 50]
    assert pyramid.levels[1].pixels is None  # no memory: its tiles are made when drawn
    assert [lv.ready for lv in pyramid.levels] == [False, False, True, True]  # 100x75 > 20,000
    assert pyramid.nbytes() == 400 * 300 * 3 + 100 * 75 * 4 + 50 * 38 * 4
    assert pyramid.level_for_scale(0.4) == 1 and pyramid.level_for_scale(0.25) == 2
    assert pyramid.level_for_scale(0.01) == 3 and pyramid.level_for_scale(3.0) == 0

    view.layer.set_pyramid(pyramid)
    shot = look_at(view, 0.45, 200, 150)
    for block, (x, y) in {(0, 0): (60, 50), (1, 0): (330, 40), (0, 1): (90, 260), (1, 1): (350, 280)}.items():
        assert close(screen_rgb(view, shot, x, y), BLOCKS[block]), block
    assert close(screen_rgb(view, shot, 105, 105), (255, 255, 255), tol=40)


def test_preview_and_gray_pyramids():
    preview = ImagePyramid.from_array(np.zeros((50, 75), np.uint8), full_size=(300, 200), tile_size=32)
    assert preview.is_preview and (preview.width, preview.height) == (300, 200)
    assert preview.levels[0].scale_x == pytest.approx(0.25)
    assert preview.level_for_scale(1.0) == 0 and preview.level_for_scale(0.1) == 1
    assert preview.tile_image(0, 0, 0).width() == 32
    with pytest.raises(ValueError):
        ImagePyramid.from_array(np.zeros((4, 4, 4), np.uint8))


def test_preview_reduction():
    assert preview_reduction(4000, 4000) == 1
    assert preview_reduction(6000, 4000) == 4  # 24 MP: 1/2 would still be 6 MP
    assert preview_reduction(20_000, 20_000) == 8


@pytest.fixture
def view(qtbot):
    view = QGraphicsView()
    scene = QGraphicsScene(view)  # owned by the view: a scene without a parent is collected
    view.setScene(scene)
    view.setFrameShape(QFrame.Shape.NoFrame)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setRenderHint(QPainter.RenderHint.Antialiasing)  # as the canvas does for shapes
    view.setBackgroundBrush(Qt.GlobalColor.white)
    view.resize(240, 180)
    layer = ImageLayer()
    scene.addItem(layer)
    scene.setSceneRect(-1000, -1000, 3000, 3000)
    qtbot.addWidget(view)
    view.show()
    view.layer = layer  # type: ignore[attr-defined]
    return view


def look_at(view: QGraphicsView, scale: float, x: float, y: float):
    view.setTransform(QTransform.fromScale(scale, scale))
    view.centerOn(x, y)
    return view.viewport().grab().toImage()


def screen_rgb(view: QGraphicsView, shot, x: float, y: float) -> tuple[int, int, int]:
    p = view.mapFromScene(QPointF(x, y))
    return rgb_at(shot, p.x(), p.y())


def test_layer_draws_the_right_colours_at_two_zoom_levels(view):
    view.layer.set_size(400, 300)
    shot = look_at(view, 0.5, 200, 150)
    assert close(screen_rgb(view, shot, 200, 150), (EMPTY_COLOR.blue(), EMPTY_COLOR.green(), EMPTY_COLOR.red()))

    view.layer.set_pyramid(ImagePyramid.from_array(block_image(), tile_size=64))
    points = {(0, 0): (60, 50), (1, 0): (330, 40), (0, 1): (90, 260), (1, 1): (350, 280)}
    shot = look_at(view, 0.5, 200, 150)  # whole image in view, from the 1/2 level
    for block, (x, y) in points.items():
        assert close(screen_rgb(view, shot, x, y), BLOCKS[block]), block
    assert close(screen_rgb(view, shot, 430, 150), (255, 255, 255))  # outside: background

    shot = look_at(view, 3.0, 100, 140)  # zoomed in across the left blocks, level 0 tiles
    for x, y in [(100, 120), (128, 128), (127.9, 127.9), (128.1, 128.1), (70, 145)]:  # 128: seams
        assert close(screen_rgb(view, shot, x, y), BLOCKS[(0, 0)]), (x, y)
    for x, y in [(100, 160), (128.2, 165), (70, 155)]:
        assert close(screen_rgb(view, shot, x, y), BLOCKS[(0, 1)]), (x, y)


def test_zoomed_seams_show_no_background(view):
    pixels = np.full((300, 400, 3), (40, 120, 200), np.uint8)
    view.layer.set_pyramid(ImagePyramid.from_array(pixels, tile_size=64))
    for scale in (0.85, 1.37, 2.5):  # the view stays inside the image: no background
        shot = look_at(view, scale, 200.3, 150.7)
        colours = {rgb_at(shot, x, y) for x in range(0, 240, 3) for y in range(0, 180, 3)}
        assert all(close(c, (40, 120, 200)) for c in colours), (scale, colours)


def write_png(path: Path, pixels: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), pixels)
    return path


def test_decode_image_normalises_to_8_bit_bgr(tmp_path):
    gray16 = write_png(tmp_path / "gray16.png", np.full((20, 30), 40000, np.uint16))
    out = decode_image(gray16)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8 and (out == 40000 >> 8).all()
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., :3] = (1, 2, 3)
    assert (decode_image(write_png(tmp_path / "rgba.png", rgba)) == (1, 2, 3)).all()
    assert decode_image(write_png(tmp_path / "ünïcode.png", block_image())).shape == (300, 400, 3)
    assert decode_image(write_png(tmp_path / "big.jpg", block_image()), reduce=4).shape == (75, 100, 3)


def test_decode_image_applies_exif_orientation(tmp_path):
    """The product's one rule (README): pixels as displayed, like labelme and detectron2;
    the thumbnails follow it too."""
    from labeler.imaging.reduced import decode_thumbnail

    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.new("RGB", (40, 20), (10, 200, 30)).save(path, exif=exif)
    assert decode_image(path).shape == (40, 20, 3)
    assert decode_image(path, reduce=2).shape == (20, 10, 3)
    assert decode_thumbnail(path, max_side=64).shape[:2] == (40, 20)


def test_decode_image_errors_name_the_file(tmp_path):
    with pytest.raises(ImageReadError, match="missing.png: file not found"):
        decode_image(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not an image at all" * 10)
    with pytest.raises(ImageReadError, match="junk.png: cannot decode"):
        decode_image(tmp_path / "junk.png")
    whole = (tmp_path / "ok.jpg")
    cv2.imwrite(str(whole), block_image())
    (tmp_path / "header_only.jpg").write_bytes(whole.read_bytes()[:300])
    with pytest.raises(ImageReadError, match="header_only.jpg: cannot decode"):
        decode_image(tmp_path / "header_only.jpg")


def test_loader_delivers_a_pyramid(qtbot, tmp_path):
    pixels = block_image()
    path = write_png(tmp_path / "a.png", pixels)
    loader = ImageLoader()
    with qtbot.waitSignal(loader.loaded) as blocker:
        request = loader.load(path, (400, 300))
    got_id, pyramid = blocker.args
    assert got_id == request and not pyramid.is_preview
    assert (pyramid.width, pyramid.height) == (400, 300)
    assert np.array_equal(pyramid.levels[0].pixels, pixels)


def test_loader_sends_a_preview_before_the_full_image(qtbot, tmp_path):
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), block_image(800, 600))
    loader = ImageLoader(preview_above=100_000, preview_pixels=40_000)
    got: list = []
    loader.loaded.connect(lambda rid, pyramid: got.append(pyramid))
    with qtbot.waitSignal(loader.loaded, check_params_cb=lambda rid, p: not p.is_preview):
        loader.load(path, (800, 600))
    # The preview decodes alongside the full image; it is dropped if it arrives second.
    assert [p.is_preview for p in got] in ([True, False], [False])
    assert all((p.width, p.height) == (800, 600) for p in got)
    if len(got) == 2:
        assert got[0].levels[0].width == 200  # 1/4: the first reduction under 40,000 px


def test_loader_reports_failures_with_the_file_name(qtbot, tmp_path):
    loader = ImageLoader()
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 50)
    for name in ("broken.png", "missing.jpg"):
        with qtbot.waitSignal(loader.failed) as blocker:
            request = loader.load(tmp_path / name, (10, 10))
        assert blocker.args[0] == request and name in blocker.args[1]


def test_newer_requests_make_older_ones_stale(qtbot, tmp_path):
    first = write_png(tmp_path / "first.png", block_image())
    second = write_png(tmp_path / "second.png", block_image(60, 40))
    loader = ImageLoader()
    seen: list[int] = []
    loader.loaded.connect(lambda rid, _p: seen.append(rid))
    loader.failed.connect(lambda rid, _m: seen.append(rid))
    loader.load(first, (400, 300))
    with qtbot.waitSignal(loader.loaded) as blocker:
        newer = loader.load(second, (60, 40))
    assert seen == [newer] and blocker.args[1].width == 60

    # Cancelled requests stay silent too. Jobs run in order on one thread, so by the time
    # the next request is delivered anything from the cancelled one would have arrived.
    seen.clear()
    loader.load(first, (400, 300))
    loader.cancel()
    with qtbot.waitSignal(loader.loaded):
        last = loader.load(second, (60, 40))
    assert seen == [last]
