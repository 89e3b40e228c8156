"""Opening a very large image on the canvas: time until the first pixels are on screen (a
reduced JPEG preview), time until full resolution is shown, and the peak memory of that
process; then the cost of canvas frames while zooming and panning. Targets: open a
20,000 x 20,000 image in < 2 s within 1.5 GB; the image part of a frame a few ms.

    python benchmarks/_large_image.py [--size 20000] [--format jpg|png] [--keep DIR]

The synthetic image is written by a child process (its memory is not counted) and opened
by another, fresh one that does nothing else, so its peak RSS is the canvas's alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VIEW_W, VIEW_H = 1600, 900
FRAME_CASE = (10_000, 5_000)  # the frame budget is specified for this size


def generate(path: Path, size: int) -> None:
    """Smooth colour fields with a fine texture (so JPEG has realistic work to do), built
    in strips of rows."""
    import cv2
    import numpy as np

    pixels = np.empty((size, size, 3), np.uint8)
    x = np.arange(size, dtype=np.float32)
    texture = np.random.default_rng(0).integers(0, 24, (256, size, 3), dtype=np.uint8)
    for y0 in range(0, size, 256):
        y = np.arange(y0, min(size, y0 + 256), dtype=np.float32)[:, None]
        strip = pixels[y0:y0 + len(y)]
        strip[..., 0] = 128 + 100 * np.sin(x / 900 + y / 1300)
        strip[..., 1] = 128 + 100 * np.sin(x / 1700 - y / 700)
        strip[..., 2] = 128 + 100 * np.cos((x + y) / 2500)
        strip += texture[:len(y)]
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if path.suffix == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    if not cv2.imwrite(str(path), pixels, params):
        sys.exit(f"could not write {path}")


def peak_rss_gb() -> float:
    """Peak resident memory in GB (10^9 bytes; Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def frame_times(app, view, width: int, height: int) -> list[float]:
    """Milliseconds per full viewport repaint over 40 steps: zoom from fit to 1:1 at the
    centre, pan at 1:1, zoom back out. Each repaint is the first at its transform, so
    tiles that newly come into view are converted inside the timed frame."""
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QTransform

    view.fitInView(QRectF(0, 0, width, height), Qt.AspectRatioMode.KeepAspectRatio)
    fit = view.transform().m11()
    cx, cy = width / 2, height / 2
    steps = [(fit * (1 / fit) ** (k / 11), cx, cy) for k in range(12)]
    steps += [(1.0, cx + 70 * k, cy + 25 * k) for k in range(1, 21)]
    steps += [(fit * (1 / fit) ** (k / 7), cx + 1400, cy + 500) for k in range(7, -1, -1)]
    times = []
    for scale, x, y in steps:
        view.setTransform(QTransform.fromScale(scale, scale))
        view.centerOn(x, y)
        start = time.perf_counter()
        view.viewport().repaint()
        times.append((time.perf_counter() - start) * 1000)
        app.processEvents()
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {ordered[len(ordered) // 2]:.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms ({len(times)} repaints)"


def frames(app, view, layer, label: str) -> None:
    """Two passes: the first converts tiles into fresh memory, the second (cache emptied,
    its buffers kept, as when the full image replaces the preview) into recycled memory."""
    size = (layer.pyramid.width, layer.pyramid.height)
    print(f"frames {VIEW_W}x{VIEW_H} over {label}, first pass: {summary(frame_times(app, view, *size))}")
    layer.set_pyramid(layer.pyramid)
    print(f"frames {VIEW_W}x{VIEW_H} over {label}, second pass: {summary(frame_times(app, view, *size))}")


def measure(path: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from PySide6.QtCore import QEventLoop, Qt
    from PySide6.QtWidgets import QApplication, QFrame, QGraphicsScene, QGraphicsView

    from labeler.imaging import read_image_info
    from labeler.gui.canvas.image_layer import ImageLayer, ImageLoader, ImagePyramid

    app = QApplication([])
    view = QGraphicsView()
    scene = QGraphicsScene(view)
    view.setScene(scene)
    view.setFrameShape(QFrame.Shape.NoFrame)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.resize(VIEW_W, VIEW_H)
    layer = ImageLayer()
    scene.addItem(layer)
    view.show()
    app.processEvents()

    info = read_image_info(path, verify=False)  # the store knows the size before decoding
    width, height = info.width, info.height
    scene.setSceneRect(-width, -height, 3 * width, 3 * height)
    layer.set_size(width, height)
    view.fitInView(layer.boundingRect(), Qt.AspectRatioMode.KeepAspectRatio)
    view.viewport().grab()
    before = peak_rss_gb()

    shown: dict[str, float] = {}
    full: list[ImagePyramid] = []
    loop = QEventLoop()  # not app.exec(): QApplication.quit() closes the windows in Qt 6
    loader = ImageLoader()
    start = time.perf_counter()

    def on_loaded(_request: int, pyramid: ImagePyramid) -> None:
        layer.set_pyramid(pyramid)
        view.viewport().grab()  # forces the paint
        shown["preview" if pyramid.is_preview else "full"] = time.perf_counter() - start
        if not pyramid.is_preview:
            full.append(pyramid)
            loop.quit()

    def on_failed(_request: int, message: str) -> None:
        print(message)
        loop.quit()

    loader.loaded.connect(on_loaded)
    loader.failed.connect(on_failed)
    loader.load(path, (width, height))
    loop.exec()
    if "full" not in shown:
        sys.exit(1)
    peak = peak_rss_gb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    pyramid = full.pop()
    fmt = path.suffix[1:]
    preview = f"preview on screen {shown['preview']:.2f} s, " if "preview" in shown else "no preview, "
    print(f"open {width}x{height} {fmt} ({path.stat().st_size / 2**20:.0f} MB file): {preview}"
          f"full resolution {shown['full']:.2f} s, peak RSS {peak:.2f} GB "
          f"(Qt app before loading {before:.2f} GB)")
    levels = ", ".join(f"{lv.width}x{lv.height}" + (" (virtual)" if lv.pixels is None else "")
                       for lv in pyramid.levels)
    print(f"  pyramid levels {levels}: {pyramid.nbytes() / 1e9:.2f} GB")
    print(f"  process CPU so far: user {usage.ru_utime:.2f} s, system {usage.ru_stime:.2f} s "
          f"(system time is mostly page faults on fresh memory)")
    frames(app, view, layer, f"{width}x{height}")

    del pyramid
    layer.set_size(*FRAME_CASE)  # drops the big image before the next one is built
    pixels = np.empty((FRAME_CASE[1], FRAME_CASE[0], 3), np.uint8)
    for y0 in range(0, FRAME_CASE[1], 500):  # coloured noise: every tile differs
        pixels[y0:y0 + 500] = np.random.default_rng(y0).integers(0, 255, (500, FRAME_CASE[0], 3), np.uint8)
    layer.set_pyramid(ImagePyramid.from_array(pixels))
    frames(app, view, layer, f"{FRAME_CASE[0]}x{FRAME_CASE[1]} (in memory)")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="width and height in pixels")
    parser.add_argument("--format", choices=("jpg", "png"), default="jpg")
    parser.add_argument("--keep", type=Path, help="write the image here and keep it (reused if present)")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        return generate(args.generate, args.size)
    if args.measure:
        return measure(args.measure)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()}")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="labeler-large-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"large_{args.size}.{args.format}"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    if not path.exists():
        start = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate", str(path), "--size", str(args.size)], check=True)
        print(f"wrote {path} in {time.perf_counter() - start:.1f} s (not measured)")
    try:
        subprocess.run([sys.executable, __file__, "--measure", str(path)], check=True, env=env)
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)
            folder.rmdir()


if __name__ == "__main__":
    main()
