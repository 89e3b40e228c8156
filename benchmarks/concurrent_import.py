"""A large `labeler import` while a person edits in the window: does anyone wait, and for how long?

Builds a project of 15,000 images and a COCO file of 150,000 polygons (20 vertices each),
then runs `labeler import` as its own process while two other processes watch:

- an editor, standing in for the window: it opens the project through ProjectStore and
  makes one single-instance edit (put_instance) every --edit-every seconds, timing each one
  and counting the ones that fail;
- a probe, which every 2 ms asks SQLite for the write lock without waiting (and gives it
  back at once); the longest unbroken stretch it was refused is the longest lock hold.

Prints figures, asserts nothing.

    python benchmarks/concurrent_import.py [--images N] [--per-image K] [--edit-every S] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WIDTH, HEIGHT, VERTICES = 640, 480, 20
EDIT_IMAGES = 50  # images only the editor touches (the COCO file leaves them out)
ROOT = Path(__file__).resolve().parents[1]


# --- the helper processes --------------------------------------------------------------

def run_probe(db_path: Path, stop: Path, out: Path) -> None:
    """Longest stretch during which the write lock could not be had (2 ms resolution)."""
    db = sqlite3.connect(str(db_path), isolation_level=None, timeout=0)
    db.execute("PRAGMA busy_timeout = 0")
    longest, busy_since, refusals, tries = 0.0, None, 0, 0
    Path(str(out) + ".ready").touch()
    while not stop.exists():
        now = time.perf_counter()
        tries += 1
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
            if busy_since is not None:
                longest = max(longest, now - busy_since)
                busy_since = None
        except sqlite3.OperationalError:
            refusals += 1
            if busy_since is None:
                busy_since = now
        time.sleep(0.002)
    if busy_since is not None:
        longest = max(longest, time.perf_counter() - busy_since)
    out.write_text(json.dumps({"longest_hold_s": longest, "tries": tries, "refusals": refusals}))


def run_editor(project: Path, stop: Path, out: Path, every: float) -> None:
    """The window: one small edit at a time, through the store, on its own connection."""
    sys.path.insert(0, str(ROOT))
    from labeler.core import Instance, Polygons
    from labeler.store import ProjectStore

    rng = random.Random(1)
    waits, failures = [], []
    with ProjectStore.open(project) as store:
        targets = [im for im in store.images() if im.path.startswith("edit/")]
        category = store.categories()[0].id
        Path(str(out) + ".ready").touch()
        while not stop.exists():
            image = rng.choice(targets)
            x, y = rng.uniform(0, WIDTH - 40), rng.uniform(0, HEIGHT - 40)
            start = time.perf_counter()
            try:
                store.put_instance(Instance(None, image.id, category, Polygons.rectangle(x, y, x + 30, y + 30)))
            except Exception as exc:  # noqa: BLE001 - counting failures is the point
                failures.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            waits.append(time.perf_counter() - start)
            time.sleep(every)
    out.write_text(json.dumps({"waits": waits, "failures": failures}))


# --- the benchmark ---------------------------------------------------------------------

def star_polygon(rng: random.Random) -> list[float]:
    cx, cy = rng.uniform(60, WIDTH - 60), rng.uniform(60, HEIGHT - 60)
    angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(VERTICES))
    flat = []
    for a in angles:
        r = rng.uniform(15, 50)
        flat += [round(cx + r * math.cos(a), 2), round(cy + r * math.sin(a), 2)]
    return flat


def build(work: Path, n_images: int, per_image: int) -> tuple[Path, Path]:
    sys.path.insert(0, str(ROOT))
    from PIL import Image

    from labeler.core import ImageRecord
    from labeler.store import ProjectStore

    images = work / "images"
    (images / "edit").mkdir(parents=True, exist_ok=True)
    template = work / "template.png"
    Image.new("RGB", (WIDTH, HEIGHT), (90, 120, 150)).save(template)
    paths = [f"{k // 1000:02d}/img_{k:06d}.png" for k in range(n_images)]
    paths += [f"edit/edit_{k:03d}.png" for k in range(EDIT_IMAGES)]
    for rel in paths:
        p = images / rel
        p.parent.mkdir(exist_ok=True)
        if not p.exists():
            os.link(template, p)
    project = work / "project"
    with ProjectStore.create(project, images, ["a", "b", "c"]) as store:  # as `labeler init` leaves it
        store.add_images(ImageRecord(None, rel, WIDTH, HEIGHT) for rel in paths)
    rng = random.Random(0)
    anns, k = [], 0
    for i in range(n_images):
        for j in range(per_image):
            k += 1
            seg = star_polygon(rng)
            xs, ys = seg[0::2], seg[1::2]
            anns.append({"id": k, "image_id": i + 1, "category_id": 1 + j % 3, "segmentation": [seg],
                         "area": 1.0, "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
                         "iscrowd": 0})
    coco = {"images": [{"id": i + 1, "file_name": paths[i], "width": WIDTH, "height": HEIGHT}
                       for i in range(n_images)],
            "categories": [{"id": c + 1, "name": n} for c, n in enumerate("abc")],
            "annotations": anns}
    coco_file = work / "instances.json"
    coco_file.write_text(json.dumps(coco, separators=(",", ":")))
    return project, coco_file


def wait_for(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"helper did not start: {path.name}")
        time.sleep(0.02)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--probe":
        return run_probe(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
    if len(sys.argv) > 1 and sys.argv[1] == "--editor":
        return run_editor(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), float(sys.argv[5]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=15_000)
    parser.add_argument("--per-image", type=int, default=10)
    parser.add_argument("--edit-every", type=float, default=0.05, help="seconds between edits (default 0.05)")
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temp folder)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="labeler-concurrent-"))
    if (work / "project").exists():
        shutil.rmtree(work / "project")
    work.mkdir(parents=True, exist_ok=True)
    total = args.images * args.per_image
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}, {platform.system()}")
    start = time.perf_counter()
    project, coco_file = build(work, args.images, args.per_image)
    print(f"built {args.images:,} images, {total:,} polygons of {VERTICES} vertices "
          f"({coco_file.stat().st_size / 1e6:.0f} MB of COCO) in {time.perf_counter() - start:.1f} s")

    stop = work / "stop"
    stop.unlink(missing_ok=True)
    probe_out, editor_out = work / "probe.json", work / "editor.json"
    helpers = [
        subprocess.Popen([sys.executable, __file__, "--probe", str(project / "labeler.db"), str(stop), str(probe_out)]),
        subprocess.Popen([sys.executable, __file__, "--editor", str(project), str(stop), str(editor_out),
                          str(args.edit_every)]),
    ]
    wait_for(Path(str(probe_out) + ".ready"))
    wait_for(Path(str(editor_out) + ".ready"))
    time.sleep(0.5)
    start = time.perf_counter()
    imp = subprocess.run([sys.executable, "-m", "labeler", "import", str(project), "--format", "coco",
                          str(coco_file)], cwd=ROOT, capture_output=True, text=True)
    import_s = time.perf_counter() - start
    time.sleep(0.5)
    stop.touch()
    for h in helpers:
        h.wait(timeout=120)
    probe = json.loads(probe_out.read_text())
    editor = json.loads(editor_out.read_text())

    db = sqlite3.connect(str(project / "labeler.db"))
    stored = db.execute("SELECT COUNT(*) FROM instances i JOIN images m ON m.id = i.image_id "
                        "WHERE m.path NOT LIKE 'edit/%'").fetchone()[0]
    edits_stored = db.execute("SELECT COUNT(*) FROM instances i JOIN images m ON m.id = i.image_id "
                              "WHERE m.path LIKE 'edit/%'").fetchone()[0]
    db.close()
    waits = editor["waits"]
    print(f"import: exit {imp.returncode} in {import_s:.1f} s, {stored:,} of {total:,} instances stored"
          + (f"; stderr: {imp.stderr.strip().splitlines()[-1]}" if imp.returncode else ""))
    print(f"longest write-lock hold (probe, 2 ms steps): {probe['longest_hold_s']:.3f} s "
          f"({probe['refusals']:,} of {probe['tries']:,} tries refused)")
    print(f"edits: {len(waits):,} made, {len(editor['failures'])} failed, {edits_stored:,} stored; "
          f"longest edit wait {max(waits):.3f} s, median {statistics.median(waits) * 1000:.1f} ms")
    for message in sorted(set(editor["failures"]))[:3]:
        print(f"  failed edit: {message}")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
