"""Reliability of `labeler import` / `labeler export` against malformed files and kill -9.

Generates, deterministically from --seed, a corpus of malformed COCO and labelme files in a
temporary folder (with a few small real PNG/JPEG images made with OpenCV), and replays each
file against the real command line in subprocesses (`sys.executable -m labeler ...`, each with
a timeout and a memory cap):

    for every corpus file:
        a fresh copy of a small template project (init'ed once, image root inside it)
        labeler import PROJECT --format coco|labelme FILE
        labeler export PROJECT out.json --all --rle     (when the project may have changed)
        the export loaded by pycocotools in another subprocess (a segfault is counted, not fatal)

and classifies the outcome:

    clean        exit 0, no traceback
    clear error  exit 2, exactly one stderr line (progress lines aside) starting 'labeler: error:'
    unclear      any other non-zero exit that is neither a traceback nor a crash
                 (several lines, argparse usage, exit 3...)
    traceback    'Traceback' anywhere in stderr, or exit 1
    crash        killed by a signal (negative exit code), exit 139, or the timeout
    wrong result an exported mask that is not 0/1, NaN/Infinity in the export JSON, an area or
                 bbox that is not finite, an annotation outside the image (empty mask or bbox
                 past the border), RLE runs that do not sum to h*w, an export pycocotools
                 cannot load, a non-zero exit with an export file written anyway
    partial write the import failed but the project changed (database rows or files under the
                 project), or a .tmp file left next to the export
    outside root a file created or changed outside the project's image root (the case folder is
                 watched; e.g. labelme imageData written through a dangling symlink)
    integrity    PRAGMA integrity_check (or foreign_key_check) is not clean afterwards

The first four are exclusive (the worst of the import and export steps counts); the last four
are flags on top. Then kill -9 loops: --kills times, an import of a large valid COCO file
(20,000 annotations) and an export of the imported project are started and SIGKILLed at a
random moment; checked: the project holds none or all of that import's annotations, the
project still opens (`labeler stats`), integrity_check, the export file is either the old one
or a complete new one, and leftover temporary files.

It never asserts: it prints one table of counts (per corpus family, the total, and the kill
loops) and the first few examples of each bad outcome (case name, step, stderr's last line).
Exit status 0 whatever it finds.

    .venv/bin/python benchmarks/reliability.py                       # full run (520 files, 40 kills)
    .venv/bin/python benchmarks/reliability.py --count 40 --kills 3  # a quick look
    options: --count N  --kills N  --seed S  --keep DIR  --jobs N  --timeout S  --mem-limit-mb M
             --examples K  --families a,b (substring filter on family names)

--keep DIR keeps the corpus, every case's project, its stdout/stderr and the export (the
default is a temporary folder, removed at the end). A full run took 8 minutes on 2 shared
cores with --jobs 1 (about 6 for the corpus, 2 for the kill loops); cases that hang cost
--timeout each (30 s), so a build with many hangs takes longer.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path



from _reliability_checks import Runner, _CHECKER_ARGS, _all_checkers, area_of, changes, check_exports_loop, checker, classify, db_state, integrity, snapshot  # noqa: E402
from _reliability_corpus import FLAGS, IMAGES, KILL_ANNOTATIONS, LABELS, SEVERITY, png_bytes  # noqa: E402
from _reliability_kills import kill_loops  # noqa: E402
from _reliability_labelme import Case, FAMILIES, generate_corpus  # noqa: E402

# =========================================================================================
# one corpus case
# =========================================================================================

@dataclass
class Result:
    case: Case
    outcome: str = "clean"
    stage: str = "import"
    last_line: str = ""
    flags: dict = field(default_factory=dict)  # flag -> detail
    notes: list = field(default_factory=list)
    seconds: float = 0.0


def make_template(work: Path, runner: Runner) -> Path:
    import cv2
    import numpy as np

    tpl = work / "template"
    images = tpl / "proj" / "images"
    rng = np.random.default_rng(0)
    for name, w, h in IMAGES:
        p = images / name
        p.parent.mkdir(parents=True, exist_ok=True)
        img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(str(p), img)
    (images / "broken.png").write_bytes(png_bytes(64, 48, seed=1)[:50])  # unreadable: init skips it
    r = runner.labeler(["init", tpl / "proj", "--images", images, "--labels", ",".join(LABELS)], tpl)
    if r.rc != 0:
        sys.exit(f"reliability: cannot create the template project: {r.last_line}")
    return tpl / "proj"


def place_case(case: Case, run_dir: Path, template: Path) -> list[Path]:
    shutil.copytree(template, run_dir / "proj", symlinks=True)
    (run_dir / "out").mkdir()
    (run_dir / "outside").mkdir(exist_ok=True)
    targets = []
    for where, rel in case.files:
        src = case.dir / where / rel
        base = {"images": run_dir / "proj" / "images", "input": run_dir / "input", "outside": run_dir / "outside"}[where]
        dst = base / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        if where != "outside" and rel.endswith(".json"):
            targets.append(dst)
    for link, target in case.symlinks:
        lp = run_dir / link
        lp.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target[4:] if target.startswith("REL:") else str(run_dir / target), lp)
    # the absolute path of a real image, for the case that asks for it
    for dst in targets:
        raw = dst.read_bytes()
        if b"@ABS@" in raw:
            dst.write_bytes(raw.replace(b"@ABS@", str(run_dir / "proj" / "images" / "a.png").encode()))
    return targets


def run_case(case: Case, work: Path, template: Path, runner: Runner, keep: bool) -> Result:
    start = time.perf_counter()
    res = Result(case)
    run_dir = work / "runs" / f"{case.idx:04d}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    db = run_dir / "proj" / "labeler.db"
    try:
        targets = place_case(case, run_dir, template)
        before_db, before_files = db_state(db), snapshot(run_dir)
        imp = runner.labeler(["import", run_dir / "proj", "--format", case.fmt, *targets], run_dir)
        res.outcome = classify(imp)
        res.last_line = imp.last_line
        after_db, after_files = db_state(db), snapshot(run_dir)
        changed = changes(before_files, after_files)
        outside = [c for c in changed if area_of(c) == "outside"]
        in_root = [c for c in changed if area_of(c) in ("root", "project")]
        if outside:
            res.flags["outside root"] = f"import wrote {', '.join(outside[:3])}"
        db_changed = after_db != before_db
        if imp.rc != 0 and (db_changed or in_root):
            what = (["database rows changed"] if db_changed else []) + [f"new/changed {c}" for c in in_root[:2]]
            res.flags["partial write"] = f"import exit {imp.rc} but {'; '.join(what)}"
        bad = integrity(db)
        if bad:
            res.flags["integrity"] = f"after import: {bad}"
        if "\x1b" in imp.stdout + imp.stderr:
            res.notes.append("raw ESC (terminal control) in the output")
        if max((len(l) for l in imp.stderr.splitlines()), default=0) > 1000:
            res.notes.append("a stderr line over 1000 characters")
        (run_dir / "logs").mkdir()
        (run_dir / "logs" / "import.stderr").write_text(imp.stderr[-20000:], errors="replace")
        (run_dir / "logs" / "import.stdout").write_text(imp.stdout[-20000:], errors="replace")

        # export, when the project may differ from the (known good) template
        if imp.rc == 0 or db_changed or in_root:
            out = run_dir / "out" / "export.json"
            exp = runner.labeler(["export", run_dir / "proj", out, "--all", "--rle"], run_dir)
            (run_dir / "logs" / "export.stderr").write_text(exp.stderr[-20000:], errors="replace")
            eo = classify(exp)
            if SEVERITY[eo] > SEVERITY[res.outcome]:
                res.outcome, res.stage, res.last_line = eo, "export", exp.last_line
            leftovers = [p.name for p in (run_dir / "out").iterdir() if p.name != "export.json"]
            if leftovers:
                res.flags["partial write"] = f"left next to the export: {', '.join(leftovers[:3])}"
            if exp.rc != 0 and out.exists():
                res.flags["wrong result"] = f"export exit {exp.rc} but {out.name} was written"
            after2 = snapshot(run_dir)
            outside2 = [c for c in changes(after_files, after2) if area_of(c) in ("outside", "root")]
            if outside2 and "outside root" not in res.flags:
                res.flags["outside root"] = f"export wrote {', '.join(outside2[:3])}"
            bad = integrity(db)
            if bad and "integrity" not in res.flags:
                res.flags["integrity"] = f"after export: {bad}"
            if exp.rc == 0 and out.exists():
                report = checker().check(out)
                if "crash" in report:
                    res.outcome, res.stage, res.last_line = "crash", "pycocotools", report["crash"]
                elif "error" in report:
                    res.flags.setdefault("wrong result", f"pycocotools cannot load the export: {report['error']}")
                elif report["problems"]:
                    res.flags.setdefault("wrong result", f"{report['problems'][0]}"
                                         + (f" (+{len(report['problems']) - 1} more)" if len(report["problems"]) > 1 else ""))
            elif exp.rc == 0:
                res.flags.setdefault("wrong result", "export exit 0 but no file")
    except Exception as exc:  # the harness itself: report, do not stop
        res.outcome, res.stage, res.last_line = "unclear", "harness", f"harness error: {type(exc).__name__}: {exc}"
    res.seconds = time.perf_counter() - start
    if not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return res


# =========================================================================================
# report
# =========================================================================================

def clean_text(s: str, limit: int = 220) -> str:
    """One printable line: control characters and surrogates escaped, long text cut."""
    s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    s = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in s[:limit * 2])
    return s if len(s) <= limit else s[:limit - 3] + "..."


def signature(line: str) -> str:
    """A last stderr line with paths and numbers blurred, to group failures."""
    s = re.sub(r"(/[^\s:'\"]+)+", "<path>", line)
    s = re.sub(r"\d+", "N", s)
    return clean_text(s, 150)


def print_report(results: list[Result], kills: tuple | None, seconds: float, examples: int, args) -> None:
    cols = ["tried", "clean", "clear error", "unclear", "traceback", "crash"] + FLAGS
    rows: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        for key in (r.case.family, "TOTAL corpus"):
            rows[key]["tried"] += 1
            rows[key][r.outcome] += 1
            for f in r.flags:
                rows[key][f] += 1
    width = max([len(k) for k in rows] + [26])
    head = f"{'':<{width}} " + " ".join(f"{c:>{max(len(c), 5)}}" for c in cols)
    print()
    print(f"labeler reliability: {len(results)} corpus files, seed {args.seed}, {args.jobs} job(s), {seconds:.0f} s")
    print(head)
    print("-" * len(head))
    families = [f[0] for f in FAMILIES if f[0] in rows]
    for key in families + ["TOTAL corpus"]:
        if key == "TOTAL corpus":
            print("-" * len(head))
        print(f"{key:<{width}} " + " ".join(f"{rows[key][c]:>{max(len(c), 5)}}" for c in cols))
    if kills:
        imp, exp, info = kills
        for k in (imp, exp):
            vals = {"tried": k.tried, "clean": k.ok, "crash": k.crash, "partial write": k.partial,
                    "integrity": k.integrity}
            print(f"{k.name:<{width}} " + " ".join(f"{vals.get(c, '-'):>{max(len(c), 5)}}" for c in cols))
    print()
    print("clean/clear error/unclear/traceback/crash are exclusive (the worse of import and export counts);")
    print("wrong result/partial write/outside root/integrity are flags on top. Kill rows: clean = consistent,")
    print("crash = the project no longer opens, partial write = not all-or-nothing, torn export or leftover files.")

    notes = Counter(n for r in results for n in r.notes)
    if notes:
        print("notes (not counted above): " + "; ".join(f"{n}: {c}" for n, c in notes.items()))
    if kills:
        imp, exp, info = kills
        print()
        print(f"kill loops: a full import of {KILL_ANNOTATIONS} annotations took {info['import_s']:.1f} s "
              f"(exit {info['import_rc']}, {info['imported']} instances stored), the full export "
              f"{info['export_s']:.1f} s (exit {info['export_rc']}); kills at a uniform moment in [0, 1.3 x] that time")
        for k in (imp, exp):
            print(f"  {k.name}: {k.tried} runs, finished before the kill {k.finished_before_kill}, "
                  f"hot journal left (rolled back on the next open) {k.journal_left}, "
                  f"results {dict(k.counts_seen)}, leftover files {dict(k.leftovers) or 'none'}")

    print()
    print(f"examples (first {examples} of each bad outcome):")
    for outcome in ["traceback", "crash", "unclear", *FLAGS]:
        hits = [r for r in results if r.outcome == outcome or outcome in r.flags]
        if not hits:
            continue
        print(f"  {outcome} ({len(hits)}):")
        for r in hits[:examples]:
            detail = r.flags[outcome] if outcome in r.flags else f"[{r.stage}] {r.last_line}"
            print(f"    #{r.case.idx:04d} {r.case.family} / {clean_text(r.case.name, 70)}: {clean_text(detail)}")
    if kills:
        for k in kills[:2]:
            if k.examples:
                print(f"  {k.name} ({len(k.examples)} runs with a problem):")
                for e in k.examples[:examples]:
                    print(f"    {clean_text(e)}")

    groups: dict[str, list] = defaultdict(list)
    for r in results:
        if r.outcome in ("traceback", "crash", "unclear"):
            groups[f"{r.outcome} [{r.stage}] {signature(r.last_line)}"].append(r)
    if groups:
        print()
        print("traceback/crash/unclear grouped by the last stderr line (paths and numbers blurred):")
        for sig, rs in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:25]:
            print(f"  {len(rs):4d}  {sig}   e.g. #{rs[0].case.idx:04d} {clean_text(rs[0].case.name, 50)}")
    slow = sorted(results, key=lambda r: -r.seconds)[:5]
    print()
    print("slowest cases: " + ", ".join(f"#{r.case.idx:04d} {clean_text(r.case.name, 40)} {r.seconds:.1f} s" for r in slow))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=520, help="corpus files (default 520)")
    parser.add_argument("--kills", type=int, default=40, help="kill -9 rounds, each one import and one export (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work here and keep everything")
    parser.add_argument("--jobs", type=int, default=1, help="corpus cases run in parallel (default 1)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per command; past it the command "
                        "counts as a crash (hang) (default 30)")
    parser.add_argument("--mem-limit-mb", type=int, default=4096, help="address-space cap per command (0: none)")
    parser.add_argument("--examples", type=int, default=5, help="examples printed per bad outcome")
    parser.add_argument("--families", default="", help="only families whose name contains one of these (comma separated)")
    parser.add_argument("--check-exports", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.check_exports:  # the pycocotools check, in its own process
        check_exports_loop()
        return

    start = time.perf_counter()
    if args.keep:
        work = args.keep.resolve()
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="labeler-reliability-"))
    runner = Runner(args.timeout, args.mem_limit_mb)
    _CHECKER_ARGS[:] = [runner, args.timeout]
    try:
        template = make_template(work, runner)
        fam_filter = [s.strip() for s in args.families.split(",") if s.strip()]
        cases = generate_corpus(work / "corpus", args.count, args.seed, fam_filter)
        print(f"corpus: {len(cases)} files in {work / 'corpus'} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
        results: list[Result] = []
        lock = threading.Lock()

        def one(case: Case) -> Result:
            r = run_case(case, work, template, runner, keep=bool(args.keep))
            with lock:
                results.append(r)
                if len(results) % 25 == 0 or len(results) == len(cases):
                    print(f"  {len(results)}/{len(cases)} cases, {time.perf_counter() - start:.0f} s", file=sys.stderr)
            return r

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(one, cases))
        results.sort(key=lambda r: r.case.idx)
        for c in _all_checkers:
            c.close()
        kills = None
        if args.kills > 0:
            print(f"kill -9 loops: {args.kills} rounds", file=sys.stderr)
            kills = kill_loops(work, runner, args.kills, args.seed)
        print_report(results, kills, time.perf_counter() - start, args.examples, args)
        if args.keep:
            print(f"\neverything is in {work} (runs/NNNN: each case's project, stderr and export)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
