"""The kill -9 loops of benchmarks/reliability.py."""

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path




from _reliability_checks import DB_FILES, Runner, integrity  # noqa: E402
from _reliability_corpus import KILL_ANNOTATIONS, KILL_IMAGES, dumps, rand_poly  # noqa: E402

# =========================================================================================
# kill -9 loops
# =========================================================================================

def big_coco(root: Path, seed: int) -> tuple[Path, Path]:
    """KILL_IMAGES images (160x120) with KILL_ANNOTATIONS polygons; returns (image dir, json)."""
    import cv2
    import numpy as np

    rng = random.Random(f"{seed}:kill")
    images = root / "images"
    images.mkdir(parents=True)
    nrng = np.random.default_rng(seed)
    coco_images, anns = [], []
    per = KILL_ANNOTATIONS // KILL_IMAGES
    for i in range(KILL_IMAGES):
        name = f"k{i:03d}.png"
        cv2.imwrite(str(images / name), nrng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
        coco_images.append({"id": i + 1, "file_name": name, "width": 160, "height": 120})
        for _ in range(per):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": rng.choice([1, 2, 3]),
                         "segmentation": [rand_poly(rng, 160, 120, rng.randint(5, 12))], "iscrowd": 0})
    data = {"images": coco_images, "annotations": anns,
            "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]}
    path = root / "big.json"
    path.write_bytes(dumps(data))
    return images, path


def count_instances(db: Path) -> int | None:
    try:
        con = sqlite3.connect(str(db))
        try:
            return con.execute("SELECT COUNT(*) FROM instances").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return None


@dataclass
class KillStats:
    name: str
    tried: int = 0
    ok: int = 0
    crash: int = 0        # the project no longer opens with the CLI
    partial: int = 0      # not all-or-nothing / torn export / leftover temporary files
    integrity: int = 0
    finished_before_kill: int = 0
    journal_left: int = 0
    leftovers: Counter = field(default_factory=Counter)
    counts_seen: Counter = field(default_factory=Counter)
    examples: list = field(default_factory=list)


def kill_loops(work: Path, runner: Runner, n: int, seed: int) -> tuple[KillStats, KillStats, dict]:
    rng = random.Random(f"{seed}:kills")
    root = work / "kill"
    images, big = big_coco(root, seed)
    tpl = root / "template"
    r = runner.labeler(["init", tpl, "--images", images], root)
    if r.rc != 0:
        sys.exit(f"reliability: cannot create the kill template: {r.last_line}")
    # calibrate: one full import and one full export
    full = root / "full"
    shutil.copytree(tpl, full)
    t = time.perf_counter()
    r = runner.labeler(["import", full, "--format", "coco", big], root, timeout=600)
    t_import = time.perf_counter() - t
    full_count = count_instances(full / "labeler.db")
    old_export = root / "old_export.json"
    t = time.perf_counter()
    r2 = runner.labeler(["export", full, old_export, "--all", "--rle"], root, timeout=600)
    t_export = time.perf_counter() - t
    info = {"import_s": t_import, "export_s": t_export, "import_rc": r.rc, "import_line": r.last_line,
            "export_rc": r2.rc, "imported": full_count}
    old_hash = hashlib.sha1(old_export.read_bytes()).hexdigest() if old_export.exists() else None

    imp, exp = KillStats("kill -9 import"), KillStats("kill -9 export")
    for i in range(n):
        # --- import
        kd = root / f"imp{i:03d}"
        shutil.copytree(tpl, kd)
        delay = rng.uniform(0.0, 1.3) * t_import
        p = runner.popen([sys.executable, "-m", "labeler", "import", str(kd), "--format", "coco", str(big)], root)
        time.sleep(delay)
        imp.tried += 1
        if p.poll() is not None:
            imp.finished_before_kill += 1
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        problems = []
        left = [x.name for x in kd.iterdir() if x.name != "labeler.db"]
        if "labeler.db-journal" in left or "labeler.db-wal" in left:
            imp.journal_left += 1
        odd = [x for x in left if x not in DB_FILES]
        for x in odd:
            imp.leftovers[re.sub(r"\d+", "N", x)] += 1
        st = runner.labeler(["stats", kd], root, timeout=120)
        if st.rc != 0:
            imp.crash += 1
            problems.append(f"stats exit {st.rc}: {st.last_line}")
        count = count_instances(kd / "labeler.db")
        imp.counts_seen[count] += 1
        partial = count not in (0, full_count) or bool(odd)
        if count not in (0, full_count):
            problems.append(f"{count} of {full_count} instances after the kill at {delay:.2f} s")
        if odd:
            problems.append(f"left behind: {', '.join(odd[:3])}")
        bad = integrity(kd / "labeler.db")
        if bad:
            imp.integrity += 1
            problems.append(bad)
        imp.partial += partial
        if problems:
            imp.examples.append(f"run {i}, kill at {delay:.2f} s: " + "; ".join(problems))
        else:
            imp.ok += 1
        shutil.rmtree(kd, ignore_errors=True)

        # --- export (of the fully imported project), over an existing export half the time
        ed = root / f"exp{i:03d}"
        ed.mkdir()
        out = ed / "export.json"
        seeded = i % 2 == 0 and old_export.exists()
        if seeded:
            shutil.copyfile(old_export, out)
        delay = rng.uniform(0.0, 1.3) * t_export
        p = runner.popen([sys.executable, "-m", "labeler", "export", str(full), str(out), "--all", "--rle"], root)
        time.sleep(delay)
        exp.tried += 1
        if p.poll() is not None:
            exp.finished_before_kill += 1
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        problems = []
        odd = [x.name for x in ed.iterdir() if x.name != "export.json"]
        for x in odd:
            exp.leftovers[re.sub(r"[A-Za-z0-9_]{6,}", "X", x)] += 1
        torn = False
        if out.exists():
            blob = out.read_bytes()
            if hashlib.sha1(blob).hexdigest() != old_hash:
                try:
                    got = len(json.loads(blob)["annotations"])
                    if got != full_count:
                        torn = True
                        problems.append(f"export has {got} of {full_count} annotations")
                except (ValueError, KeyError, TypeError):
                    torn = True
                    problems.append(f"export.json is not complete JSON ({len(blob)} bytes)")
            same = hashlib.sha1(blob).hexdigest() == old_hash
            exp.counts_seen["torn file" if torn else ("old or identical file" if same else "new file")] += 1
        else:
            exp.counts_seen["no file" if not seeded else "old file gone"] += 1
            if seeded:
                torn = True
                problems.append("the previous export.json disappeared")
        if odd:
            problems.append(f"left behind: {', '.join(odd[:3])}")
        bad = integrity(full / "labeler.db")
        if bad:
            exp.integrity += 1
            problems.append(bad)
        exp.partial += torn or bool(odd)
        if problems:
            exp.examples.append(f"run {i}, kill at {delay:.2f} s: " + "; ".join(problems))
        else:
            exp.ok += 1
        shutil.rmtree(ed, ignore_errors=True)
    return imp, exp, info


