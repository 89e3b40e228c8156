"""Running the command line and checking what it left, for benchmarks/reliability.py."""

import contextlib
import hashlib
import io
import json
import math
import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path




from _reliability_corpus import PROGRESS  # noqa: E402

# =========================================================================================
# running the command line
# =========================================================================================

@dataclass
class Run:
    rc: int | None           # None: timed out
    stdout: str
    stderr: str
    seconds: float

    @property
    def last_line(self) -> str:
        lines = [l for l in self.stderr.splitlines() if l.strip()]
        fatal = [l for l in lines if l.startswith("Fatal Python error")]
        if fatal:  # faulthandler's report: the error and the innermost frame
            frames = [l.strip() for l in lines if l.strip().startswith('File "')]
            where = ""
            if frames:
                m = re.match(r'File "(.*)", line (\d+) in (.*)', frames[0])
                where = f" at {m.group(1).split('/labeler/')[-1]}:{m.group(2)} in {m.group(3)}" if m else f" at {frames[0]}"
            return f"exit {self.rc}: {fatal[0]}{where}"
        if self.rc is None:
            return "(timed out)" + (f"; last stderr line: {lines[-1]}" if lines else "")
        return lines[-1] if lines else f"(no stderr; exit {self.rc})"


class Runner:
    def __init__(self, timeout: float, mem_mb: int) -> None:
        self.timeout = timeout
        self.mem = mem_mb << 20
        self.env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                        PYTHONFAULTHANDLER="1", PYTHONIOENCODING="utf-8")
        self.env.pop("PYTHONWARNINGS", None)

    def _limits(self) -> None:
        if self.mem:
            resource.setrlimit(resource.RLIMIT_AS, (self.mem, self.mem))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def popen(self, argv: list[str], cwd: Path, stdin: bool = False, stderr=subprocess.PIPE) -> subprocess.Popen:
        return subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=stderr, env=self.env, preexec_fn=self._limits,
                                start_new_session=True)

    def run(self, argv: list[str], cwd: Path, timeout: float | None = None) -> Run:
        start = time.perf_counter()
        p = self.popen(argv, cwd)
        try:
            out, err = p.communicate(timeout=timeout or self.timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)  # our own child's process group
            out, err = p.communicate()
            rc = None
        return Run(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), time.perf_counter() - start)

    def labeler(self, args: list, cwd: Path, timeout: float | None = None) -> Run:
        return self.run([sys.executable, "-m", "labeler", *map(str, args)], cwd, timeout)


def classify(run: Run) -> str:
    if run.rc is None or run.rc < 0 or run.rc in (139, 134, 137):
        return "crash"
    if "Traceback" in run.stderr or run.rc == 1:
        return "traceback"
    if run.rc == 0:
        return "clean"
    if run.rc == 2:
        lines = [l for l in run.stderr.splitlines() if l.strip() and not PROGRESS.match(l.strip())]
        if len(lines) == 1 and lines[0].startswith("labeler: error:"):
            return "clear error"
    return "unclear"


# =========================================================================================
# checks
# =========================================================================================

DB_FILES = {"labeler.db", "labeler.db-journal", "labeler.db-wal", "labeler.db-shm"}


def db_state(db: Path) -> tuple:
    """(row counts, digest) of the project tables; ('unreadable', error) when it cannot be read."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            h = hashlib.sha1()
            counts = {}
            for table in ("images", "categories", "instances"):  # not meta: a schema migration may touch it
                rows = con.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
                counts[table] = len(rows)
                h.update(repr(rows).encode("utf-8", "backslashreplace"))
            return tuple(sorted(counts.items())), h.hexdigest()
        finally:
            con.close()
    except sqlite3.Error as exc:
        return ("unreadable", str(exc))


def integrity(db: Path) -> str:
    """'' when PRAGMA integrity_check says ok and foreign_key_check finds nothing; else what it says."""
    try:
        con = sqlite3.connect(str(db))
        try:
            rows = con.execute("PRAGMA integrity_check").fetchall()
            if rows != [("ok",)]:
                return "integrity_check: " + "; ".join(str(r[0]) for r in rows[:3])
            fk = con.execute("PRAGMA foreign_key_check").fetchall()
            if fk:
                return f"foreign_key_check: {len(fk)} rows, e.g. {fk[0]}"
            return ""
        finally:
            con.close()
    except sqlite3.Error as exc:
        return f"cannot open: {exc}"


def snapshot(root: Path) -> dict[str, tuple]:
    """relpath -> (kind, size, mtime_ns) of everything under root (symlinks not followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            try:
                st = p.lstat()
            except OSError:
                continue
            kind = "link" if os.path.islink(p) else ("dir" if p.is_dir() else "file")
            if kind == "dir":
                out[str(p.relative_to(root))] = ("dir", 0, 0)
            else:
                out[str(p.relative_to(root))] = (kind, st.st_size, st.st_mtime_ns)
    return out


def changes(before: dict, after: dict) -> list[str]:
    """Paths created, changed or removed between two snapshots."""
    return sorted({k for k in after if before.get(k) != after[k]} | {k for k in before if k not in after})


def area_of(rel: str) -> str:
    """Where a changed path lies: 'db', 'root' (under the image root), 'export' or 'outside'."""
    parts = Path(rel).parts
    if parts[:2] == ("proj", "images"):
        return "root"
    if len(parts) == 2 and parts[0] == "proj" and parts[1].startswith("labeler.db"):
        return "db"  # the database, its journal and migration backups
    if parts[:1] == ("proj",):
        return "project"
    if parts[:1] == ("out",):
        return "export"
    if parts[:1] == ("logs",):
        return "harness"
    return "outside"


# The export check, run in its own process (python reliability.py --check-export FILE).
def check_export(path: str) -> dict:
    import numpy as np
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    problems: list[str] = []
    tokens: list[str] = []
    bad_floats: list[str] = []

    def on_constant(s):
        tokens.append(s)
        return float(s)

    def on_float(s):
        v = float(s)
        if not math.isfinite(v):
            bad_floats.append(s[:30])
        return v

    with open(path, "rb") as f:
        data = json.loads(f.read(), parse_constant=on_constant, parse_float=on_float)
    if tokens:
        problems.append(f"export JSON has {tokens[0]} ({len(tokens)} non-finite tokens)")
    if bad_floats:
        problems.append(f"export JSON has a number that overflows: {bad_floats[0]}")
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(path)
    images = {im["id"]: im for im in data["images"]}
    cat_ids = {c["id"] for c in data["categories"]}
    for ann in data["annotations"]:
        aid = ann.get("id")
        im = images.get(ann["image_id"])
        if im is None:
            problems.append(f"annotation {aid}: unknown image id")
            continue
        if ann["category_id"] not in cat_ids:
            problems.append(f"annotation {aid}: unknown category id")
        h, w = im["height"], im["width"]
        area = ann.get("area")
        if not isinstance(area, (int, float)) or not math.isfinite(area):
            problems.append(f"annotation {aid}: area {area!r} is not finite")
        elif area <= 0:
            problems.append(f"annotation {aid}: area {area!r}")
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(c, (int, float)) and math.isfinite(c) for c in bbox)):
            problems.append(f"annotation {aid}: bbox {str(bbox)[:60]} is not 4 finite numbers")
        else:
            x, y, bw, bh = bbox
            if x < -1 or y < -1 or x + bw > w + 1 or y + bh > h + 1 or bw <= 0 or bh <= 0:
                problems.append(f"annotation {aid}: bbox {[round(c, 1) for c in bbox]} outside the {w}x{h} image")
        seg = ann.get("segmentation")
        if isinstance(seg, dict):
            if list(seg.get("size", [])) != [h, w]:
                problems.append(f"annotation {aid}: RLE size {seg.get('size')} on a {h}x{w} image")
            counts = seg.get("counts")
            if isinstance(counts, str):
                runs = decode_rle_string(counts)
                if runs is None:
                    problems.append(f"annotation {aid}: RLE counts do not decode")
                elif any(r < 0 for r in runs) or sum(runs) != h * w:
                    problems.append(f"annotation {aid}: RLE runs sum to {sum(runs)} (min run {min(runs, default=0)}), "
                                    f"not {h}*{w}={h * w}")
        mask = coco.annToMask(ann)
        if mask.shape != (h, w):
            problems.append(f"annotation {aid}: mask shape {mask.shape} on a {h}x{w} image")
        values = set(np.unique(mask).tolist())
        if not values <= {0, 1}:
            problems.append(f"annotation {aid}: mask values {sorted(values)[:5]} are not 0/1")
        if not mask.any():
            problems.append(f"annotation {aid}: empty mask (the annotation is outside the image)")
        if isinstance(seg, dict) and isinstance(seg.get("counts"), str):
            a = float(mask_utils.area({"size": seg["size"], "counts": seg["counts"].encode()}))
            if a != float(mask.sum()):
                problems.append(f"annotation {aid}: RLE area {a} but the mask has {int(mask.sum())} pixels")
    return {"annotations": len(data["annotations"]), "problems": problems}


def decode_rle_string(s: str) -> list[int] | None:
    """pycocotools' rleFrString in Python; None when the string ends inside a number."""
    runs: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            if p >= len(s):
                return None
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs


class Checker:
    """A long-lived `reliability.py --check-exports` process (pycocotools is imported once): one
    export path per line in, one JSON line out. If it dies on a file (a segfault in pycocotools),
    that file counts as a crash and the next file gets a fresh process."""

    def __init__(self, runner: "Runner", timeout: float) -> None:
        self.runner, self.timeout, self.proc = runner, timeout, None

    def check(self, path: Path) -> dict:
        import select

        if self.proc is None or self.proc.poll() is not None:
            self.err = tempfile.TemporaryFile()
            self.proc = self.runner.popen([sys.executable, str(Path(__file__).resolve().with_name("reliability.py")), "--check-exports"],
                                          Path(path).parent, stdin=True, stderr=self.err)
        p = self.proc
        try:
            p.stdin.write((str(path) + "\n").encode("utf-8", "surrogateescape"))
            p.stdin.flush()
            ready, _, _ = select.select([p.stdout], [], [], self.timeout)
            line = p.stdout.readline() if ready else b""
        except (BrokenPipeError, OSError):
            line = b""
        if line:
            return json.loads(line)
        timed_out = p.poll() is None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        self.err.seek(0)
        err = self.err.read()[-20000:]
        self.proc = None
        run = Run(None if timed_out else p.returncode, "", err.decode("utf-8", "replace"), 0)
        return {"crash": f"pycocotools check: {run.last_line}"}

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


def check_exports_loop() -> None:
    """The checker process: paths on stdin, a JSON line each on stdout."""
    for line in sys.stdin:
        path = line.rstrip("\n")
        try:
            report = check_export(path)
        except Exception as exc:  # an export pycocotools (or json) cannot load
            report = {"error": f"{type(exc).__name__}: {exc}"[:300], "problems": []}
        sys.stdout.write(json.dumps(report) + "\n")
        sys.stdout.flush()


_checkers = threading.local()
_all_checkers: list = []
_CHECKER_ARGS: list = []


def checker() -> Checker:
    if not hasattr(_checkers, "c"):
        _checkers.c = Checker(*_CHECKER_ARGS)
        _all_checkers.append(_checkers.c)
    return _checkers.c


