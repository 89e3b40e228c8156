"""Canvas speed on a heavy image: 10,000 x 5,000 px with 5,000 polygons of 20 vertices.

Prints, for a 1600 x 900 canvas in the real main window (offscreen):
  * shapes loaded: from opening the image to the first frame with every shape drawn;
  * frame times (median, p95, max) over a scripted pan/zoom sequence. A frame is all the
    GUI-thread work of one step: a full repaint of the viewport plus whatever runs between
    events; then how long the sharper tiles take once the view rests, and the longest
    stretch the event loop was blocked by that rendering;
  * select + drag one vertex: the click that selects, each drag step, and the release
    (command, database write, overlay update, instance list);
  * peak memory (RSS) of the process;
then runs benchmarks/_large_image.py (a 20,000 x 20,000 image, in a fresh process so its
peak memory is its own).

    python benchmarks/canvas.py [--polygons 5000] [--skip-large]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

W, H = 10_000, 5_000


def make_project(root: Path, n_polygons: int) -> Path:
    from labeler.core.entities import Instance, Polygons
    from labeler.imaging import find_images, scan_images
    from labeler.formats.common import add_image_files
    from labeler.store import ProjectStore

    images = root / "images"
    images.mkdir(parents=True)
    y, x = np.mgrid[0:H, 0:W // 8]  # a smooth pattern, cheap to make and to encode
    strip = (127 + 60 * np.sin(x / 37.0) * np.cos(y / 53.0)).astype(np.uint8)
    pixels = cv2.merge([np.tile(strip, 8), np.tile(strip, 8)[:, ::-1], np.full((H, W), 90, np.uint8)])
    cv2.imwrite(str(images / "big.jpg"), pixels, [cv2.IMWRITE_JPEG_QUALITY, 85])
    project = root / "project"
    rng = np.random.default_rng(0)
    with ProjectStore.create(project, images, ["a", "b", "c", "d"]) as store:
        infos, _ = scan_images(find_images(images))
        (image,) = add_image_files(store, infos)
        angles = np.linspace(0, 2 * math.pi, 20, endpoint=False)
        instances = []
        for k in range(n_polygons):
            cx, cy = rng.uniform(60, W - 60), rng.uniform(60, H - 60)
            radii = rng.uniform(20, 55, 20)
            ring = tuple((float(cx + r * math.cos(a)), float(cy + r * math.sin(a))) for r, a in zip(radii, angles))
            instances.append(Instance(None, image.id, 1 + k % 4, Polygons(((ring,),))))
        store.add_instances(instances)
    return project


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run(n_polygons: int) -> None:
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="labeler-canvas-"))
    os.environ["LABELER_SETTINGS"] = str(tmp / "settings.ini")
    t = time.perf_counter()
    project = make_project(tmp, n_polygons)
    print(f"set-up: {W}x{H} JPEG and {n_polygons} polygons of 20 vertices in {time.perf_counter() - t:.1f} s")

    from labeler.gui.main_window import MainWindow
    from labeler.store import ProjectStore

    store = ProjectStore.open(project)
    window = MainWindow(store)
    window.show()
    canvas = window.canvas
    # Size the window so that the canvas viewport is exactly 1600 x 900.
    for _ in range(3):
        vp = canvas.viewport().size()
        window.resize(window.width() + 1600 - vp.width(), window.height() + 900 - vp.height())
        app.processEvents()
    print(f"canvas viewport: {canvas.viewport().width()} x {canvas.viewport().height()}")
    image_id = store.images()[0].id
    window.open_image(None)
    app.processEvents()

    t = time.perf_counter()
    window.open_image(image_id)
    canvas.viewport().repaint()
    shapes_loaded = time.perf_counter() - t
    while window.progress.isVisible():  # wait for the full-resolution pixels
        app.processEvents()
        time.sleep(0.01)
    print(f"shapes loaded (open image -> first frame with all {n_polygons} shapes): {shapes_loaded * 1000:.0f} ms")

    def frame(step) -> float:
        start = time.perf_counter()
        step()
        canvas.viewport().repaint()
        app.processEvents()
        return (time.perf_counter() - start) * 1000

    steps = []
    for k in range(12):  # zoom in towards a point, then pan around, then zoom out
        steps.append(lambda: canvas.zoom_by(1.25))
    for k in range(40):
        dx, dy = 120 * math.cos(k / 6), 90 * math.sin(k / 5)
        steps.append(lambda dx=dx, dy=dy: canvas.pan_by(dx, dy))
    for k in range(12):
        steps.append(lambda: canvas.zoom_by(0.8))
    for k in range(30):
        dx, dy = 200 * math.cos(k / 4), 120 * math.sin(k / 3)
        steps.append(lambda dx=dx, dy=dy: canvas.pan_by(dx, dy))
    steps.append(canvas.fit)
    canvas.fit()
    app.processEvents()
    layer = canvas.shape_layer
    layer.longest_slice_ms = 0.0
    times = [frame(s) for s in steps]
    print(f"pan/zoom frames ({len(times)} steps): median {statistics.median(times):.1f} ms, "
          f"p95 {percentile(times, 95):.1f} ms, max {max(times):.1f} ms")
    # Then the view rests: the tiles still queued are rendered in short slices.
    canvas.zoom_by(3.0)
    canvas.viewport().repaint()
    start = time.perf_counter()
    while layer._queue or layer._timer.isActive():
        app.processEvents()
        time.sleep(0.001)
    print(f"sharp tiles after the view stops: {(time.perf_counter() - start) * 1000:.0f} ms "
          f"(incl. {layer.__class__.__module__.split('.')[-1]}.SETTLE_MS wait; longest GUI-thread "
          f"slice {layer.longest_slice_ms:.1f} ms)")

    # Select one polygon and drag one of its vertices, at a working zoom.
    inst = next(iter(window.session.instances.values()))
    ring = inst.shape.parts[0][0]
    cx = sum(x for x, _ in ring) / len(ring)
    cy = sum(y for _, y in ring) / len(ring)
    canvas.centerOn(cx, cy)
    canvas.zoom_by(2.0 / canvas.scale)
    canvas.centerOn(cx, cy)
    app.processEvents()

    viewport = canvas.viewport()

    def send(kind, x, y, button, buttons) -> float:
        pos = QPointF(canvas.mapFromScene(QPointF(x, y)))
        start = time.perf_counter()
        QApplication.sendEvent(viewport, QMouseEvent(kind, pos, pos, button, buttons, Qt.KeyboardModifier.NoModifier))
        viewport.repaint()
        app.processEvents()
        return (time.perf_counter() - start) * 1000

    L, N = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    select_ms = send(QMouseEvent.Type.MouseButtonPress, cx, cy, L, L)
    select_ms += send(QMouseEvent.Type.MouseButtonRelease, cx, cy, L, N)
    vx, vy = ring[0]
    press_ms = send(QMouseEvent.Type.MouseButtonPress, vx, vy, L, L)
    moves = [send(QMouseEvent.Type.MouseMove, vx + 2 * k, vy + k, N, L) for k in range(1, 21)]
    release_ms = send(QMouseEvent.Type.MouseButtonRelease, vx + 40, vy + 20, L, N)
    moved = store.get_instance(inst.id).shape.parts[0][0][0]  # type: ignore[union-attr]
    assert abs(moved[0] - (vx + 40)) < 1.5, "the vertex drag did not reach the store"
    print(f"select one polygon: {select_ms:.1f} ms; vertex drag: press {press_ms:.1f} ms, "
          f"move step median {statistics.median(moves):.1f} ms / max {max(moves):.1f} ms, "
          f"release (command + database + overlay update) {release_ms:.1f} ms")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss:.0f} MB")
    window.close()
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--polygons", type=int, default=5000)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    import platform

    print(f"machine: {os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}, "
          f"Qt platform {os.environ['QT_QPA_PLATFORM']}")
    run(args.polygons)
    if not args.skip_large:
        sys.stdout.flush()
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "_large_image.py")], check=False)


if __name__ == "__main__":
    main()
