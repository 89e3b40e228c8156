"""Screenshots of the window with its Learning dock.

    QT_QPA_PLATFORM=offscreen python docs/make_learning_screenshot.py --project DIR [OUT.png]
        a real project as it is, e.g. the one benchmarks/correction_loop.py trained
        (docs/learning_curve.png in the README comes from that);
    QT_QPA_PLATFORM=offscreen python docs/make_learning_screenshot.py --illustration [OUT.png]
        the demo project with six hand-made rounds (rising AP, one round not kept, one that
        diverged) and a seventh running: every kind of mark the panel draws, for checking
        its look. These numbers are made up; no model is trained.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from labeler.demo import ensure_demo_project
from labeler.gui.main_window import MainWindow
from labeler.store import ProjectStore
from labeler.store.effort import add_effort
from labeler.store.training import Snapshot, begin_version, finish_version
from labeler.workers.protocol import RoundStarted, TrainProgress

# accepted images, status, mask AP, box AP, mean loss, reason
ROUNDS = [
    (10, "promoted", 0.05, 0.08, 1.92, "first round: trained without error"),
    (20, "promoted", 0.18, 0.24, 1.21, "held-out mask AP 0.180 >= 0.050 of v1"),
    (30, "promoted", 0.31, 0.38, 0.86, "held-out mask AP 0.310 >= 0.180 of v2"),
    (40, "kept_previous", 0.28, 0.35, 0.79, "held-out mask AP 0.280 < 0.310 of v3; v3 stays"),
    (45, "failed", None, None, None, "training diverged (loss nan at step 12); the current model stays"),
    (50, "promoted", 0.42, 0.49, 0.63, "held-out mask AP 0.420 >= 0.310 of v3"),
]


def fake_snapshot(accepted: int, version: int) -> Snapshot:
    heldout = max(1, round(accepted * 0.2))
    return Snapshot(f"demo{accepted}", ((None, ()),) * (accepted - heldout), ((None, ()),) * heldout,
                    (1,), ("coin",), version)


def add_rounds(store: ProjectStore) -> None:
    current = 0
    for accepted, status, mask_ap, box_ap, loss, reason in ROUNDS:
        version = begin_version(store, fake_snapshot(accepted, current), "maskrcnn_resnet50_fpn_v2")
        metrics = {} if mask_ap is None else {"mask_ap": mask_ap, "box_ap": box_ap, "loss": loss}
        finish_version(store, version, status, metrics=metrics, reason=reason,
                       checkpoint=f"v{version}.pt" if status == "promoted" else None)
        if status == "promoted":
            current = version
    # The person's work on the coins under three model versions (the demo has one labeled image).
    coins = store.image_by_path("coins.png").id
    for version, seconds, vertices, strokes, keys in [(0, 310.0, 240, 4, 9), (3, 120.0, 40, 2, 18), (6, 52.0, 9, 0, 17)]:
        add_effort(store, coins, version, vertices=vertices, strokes=strokes, keys=keys, seconds=seconds)


def settle(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def main(out: Path, project: Path | None) -> None:
    work = Path(tempfile.mkdtemp(prefix="labeler-shot-"))
    os.environ["LABELER_SETTINGS"] = str(work / "settings.ini")
    illustration = project is None
    if illustration:
        project = ensure_demo_project(work / "demo")
        with ProjectStore.open(project) as store:
            add_rounds(store)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with ProjectStore.open(project) as store:
        window = MainWindow(store)
        window.resize(1500, 940)
        window.show()
        window.resizeDocks([window.instance_dock, window.category_dock, window.learning_dock], [250, 110, 470],
                           Qt.Orientation.Vertical)
        window.open_image((store.image_by_path("coins.png") if illustration else store.images()[0]).id)
        settle(app, 1.0)
        window.canvas.fit()
        panel = window.learning
        panel.set_available(True)
        if illustration:
            panel.set_busy(True)
            panel.round_started(RoundStarted(7, 44, 11, 200))
            panel.round_progress(TrainProgress(7, "training", 37, 200, 0.71))
        settle(app, 1.0)
        out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out))
        panel.tabs.setCurrentIndex(1)
        settle(app, 0.3)
        panel.grab().save(str(out.with_name(out.stem + "_effort.png")))
        window.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--project", type=Path, help="a project with real training rounds")
    source.add_argument("--illustration", action="store_true", help="the demo with made-up rounds")
    parser.add_argument("out", nargs="?", type=Path, default=Path(__file__).resolve().parent / "learning_curve.png")
    args = parser.parse_args()
    main(args.out, args.project)
