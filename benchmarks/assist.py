"""Assisted masks measured like the interactive-segmentation literature.

    python benchmarks/assist.py [DATA_DIR] [--parts protocol,crop1mp,shape,tools,sam] [--assist-model M]
                                [--set radius=3,5,8 --set color=bgr,lab] [--subset even|odd]

DATA_DIR holds images/ and masks/ with the same file stems (default
../shared/data/grabcut-benchmark). A mask pixel above 128 is the object; 128 is the
benchmark's grey boundary band, which counts for neither side, as in RITM's GrabCut loader
(`instances_mask[instances_mask == 128] = -1`, left out by its clicker and its IoU).

The protocol (per image, one object): the simulated person drags the object's true box
(the tight box of its object pixels) = action 1, then clicks by the standard rule
(labeler/assist/clicker.py: exact L2 distance transform of the missed and the extra region,
image border as border, deepest pixel of the deeper region, never the same pixel twice),
at most 20 clicks, stopping once IoU >= 0.90. NoC@t is printed two ways:
- "box+clk": the box is action 1, each click one more; 20 when not reached in 20 actions;
- "clk": the clicks after the box only (0 when the box alone reaches t); 20 when not
  reached in 20 clicks. That is the literature's count, though its methods get no box.
">20@t" is the share of images not reaching t within 20 actions. Times: each refinement
(one add_click: GrabCut on the working crop, upsampling, post-processing), and the box.

Parts: protocol (the table; every `--set NAME=V1,V2` multiplies the grid of GrabCut
parameters, labeler/assist/grabcut.py GrabCutParams, one line per combination); crop1mp
(the same protocol on each image scaled so that its crop is one megapixel: the time per
refinement at that size); shape (polygon tolerance of the final masks); tools (magic wand
and intelligent scissors timings on a 1 MP and a 12 MP photo); sam (the same protocol with
the assist model, `--assist-model`, when its weights are here: "box ms" is then the image
encoder plus the first decoding, a refinement one decoding; `--assist-model
random:sam2.1-tiny` runs it with random weights, for the times only). Benchmarks print;
they never assert. Run with nothing else busy: timings are wall-clock.
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeler import geometry
from labeler.assist import clicker
from labeler.assist.grabcut import GrabCutParams, GrabCutSegmenter, crop_rects
from labeler.assist.masks import CropMask, mask_to_shape
from labeler.assist.scissors import Scissors
from labeler.assist.wand import magic_wand
from labeler.core.entities import MaskRLE, Polygons

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "grabcut-benchmark"
MAX_ACTIONS = 20
STOP_IOU = 0.90


@dataclass
class Sample:
    name: str
    image: np.ndarray
    gt: np.ndarray       # bool, the object
    ignore: np.ndarray   # bool, the grey boundary band


def load(folder: Path) -> list[Sample]:
    masks = {p.stem: p for p in (folder / "masks").iterdir() if p.is_file()}
    samples = []
    for path in sorted((folder / "images").iterdir()):
        if path.stem not in masks:
            continue
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(masks[path.stem]), cv2.IMREAD_GRAYSCALE)
        if image is None or mask is None:
            print(f"skipped {path.name}: unreadable", file=sys.stderr)
            continue
        samples.append(Sample(path.stem, image, mask > 128, mask == 128))
    return samples


@dataclass
class Run:
    name: str
    ious: list[float]          # after the box, then after each click
    start_s: float
    click_s: list[float]
    work_pixels: int
    crop_pixels: int
    final: CropMask


def run_one(sample: Sample, params: GrabCutParams, segmenter=None) -> Run:
    """`segmenter`: another tool behind the same interface (the assist model); default GrabCut."""
    seg = segmenter if segmenter is not None else GrabCutSegmenter(params)
    t = time.perf_counter()
    crop = seg.start(sample.image, clicker.box_of(sample.gt))
    start_s = time.perf_counter() - t
    pred = crop.full()
    ious = [clicker.iou(sample.gt, pred, sample.ignore)]
    clicks: list[clicker.Click] = []
    times = []
    while len(clicks) < MAX_ACTIONS and ious[-1] < STOP_IOU:
        c = clicker.next_click(sample.gt, pred, clicks, sample.ignore)
        if c is None:
            break
        clicks.append(c)
        t = time.perf_counter()
        crop = seg.add_click(c.x + 0.5, c.y + 0.5, c.positive)
        times.append(time.perf_counter() - t)
        pred = crop.full()
        ious.append(clicker.iou(sample.gt, pred, sample.ignore))
    return Run(sample.name, ious, start_s, times, getattr(seg, "work_pixels", 0), crop.mask.size, crop)


def _init_worker() -> None:
    cv2.setNumThreads(1)  # several processes: one thread each


def _job(args) -> Run:
    return run_one(*args)


def run_all(samples: list[Sample], params: GrabCutParams, jobs: int) -> list[Run]:
    if jobs <= 1:  # OpenCV's own threads, as in the app
        return [run_one(s, params) for s in samples]
    with multiprocessing.Pool(jobs, initializer=_init_worker) as pool:
        return pool.map(_job, [(s, params) for s in samples], chunksize=1)


def noc_clicks(ious: list[float], t: float) -> int:
    """Clicks after the box until IoU >= t (0 if the box reaches it), at most 20."""
    return 0 if ious[0] >= t else clicker.noc(ious[1:], t, MAX_ACTIONS)


def summarize(runs: list[Run]) -> dict:
    out = {}
    for t in (0.85, 0.90):
        key = round(t * 100)
        out[f"noc{key}_box"] = statistics.mean(clicker.noc(r.ious, t, MAX_ACTIONS) for r in runs)
        out[f"noc{key}_clk"] = statistics.mean(noc_clicks(r.ious, t) for r in runs)
        out[f"fail{key}"] = sum(1 for r in runs if max(r.ious[:MAX_ACTIONS]) < t) / len(runs)
    out["box_iou"] = statistics.mean(r.ious[0] for r in runs)
    times = sorted(s for r in runs for s in r.click_s)
    out["click_med"] = 1000 * statistics.median(times) if times else float("nan")
    out["click_p95"] = 1000 * times[round(0.95 * (len(times) - 1))] if times else float("nan")
    out["click_max"] = 1000 * times[-1] if times else float("nan")
    out["clicks"] = len(times)
    out["box_med"] = 1000 * statistics.median(r.start_s for r in runs)
    out["work_kpx"] = statistics.median(r.work_pixels for r in runs) / 1e3
    out["crop_kpx"] = statistics.median(r.crop_pixels for r in runs) / 1e3
    return out


HEADER = (f"{'parameters':<58} {'NoC85':>13} {'NoC90':>13} {'box':>6} {'>20@':>9} "
          f"{'refinement ms':>21} {'box':>5} {'crop/work':>11}\n"
          f"{'':<58} {'box+clk / clk':>13} {'box+clk / clk':>13} {'IoU':>6} {'85 / 90':>9} "
          f"{'median / p95 / max':>21} {'ms':>5} {'kpx median':>11}")


def row(label: str, s: dict) -> str:
    return (f"{label:<58} {s['noc85_box']:>5.2f} / {s['noc85_clk']:<5.2f} {s['noc90_box']:>5.2f} / "
            f"{s['noc90_clk']:<5.2f} {s['box_iou']:>6.3f} {s['fail85']:>4.0%}/{s['fail90']:<4.0%} "
            f"{s['click_med']:>7.0f} / {s['click_p95']:>3.0f} / {s['click_max']:<5.0f} {s['box_med']:>5.0f} "
            f"{s['crop_kpx']:>5.0f}/{s['work_kpx']:<5.0f}")


def label_of(params: GrabCutParams) -> str:
    default = GrabCutParams()
    changed = {k: v for k, v in asdict(params).items() if getattr(default, k) != v}
    return " ".join(f"{k}={v}" for k, v in changed.items()) or "defaults"


def part_protocol(samples, grid, jobs, verbose) -> list[Run]:
    print("\n== protocol: tool grabcut (OpenCV GrabCut, weight-free), true box then clicks")
    print("defaults: " + " ".join(f"{k}={v}" for k, v in asdict(GrabCutParams()).items()))
    print(HEADER)
    runs = []
    for params in grid:
        runs = run_all(samples, params, jobs)
        print(row(label_of(params), summarize(runs)), flush=True)
        if verbose:
            for r in runs:
                print(f"    {r.name:<12} " + " ".join(f"{v:.3f}" for v in r.ious))
    return runs


def scaled(sample: Sample, params: GrabCutParams, megapixels: float) -> Sample:
    """The sample resized so that the segmenter's crop around its box has `megapixels`."""
    _, (x0, y0, x1, y1) = crop_rects(clicker.box_of(sample.gt), sample.gt.shape, params)
    f = math.sqrt(megapixels * 1e6 / ((x1 - x0) * (y1 - y0)))
    size = (round(sample.image.shape[1] * f), round(sample.image.shape[0] * f))
    near = lambda m: cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    return Sample(sample.name, cv2.resize(sample.image, size, interpolation=cv2.INTER_CUBIC),
                  near(sample.gt), near(sample.ignore))


def part_crop1mp(samples, params, jobs) -> None:
    print("\n== crop1mp: each image scaled (bicubic; masks nearest) so that its crop is 1.0 MP")
    print(HEADER)
    big = [scaled(s, params, 1.0) for s in samples]
    print(row(label_of(params), summarize(run_all(big, params, jobs))), flush=True)


def part_shape(runs: list[Run]) -> None:
    shapes = [mask_to_shape(r.final) for r in runs]
    polygons = [s for s in shapes if isinstance(s, Polygons)]
    print(f"\n== shape: the {len(runs)} final masks become {len(polygons)} polygons "
          f"({sum(len(s.parts) > 1 for s in polygons)} of several parts) and "
          f"{sum(isinstance(s, MaskRLE) for s in shapes)} RLE masks (with holes); "
          f"traced by geometry.mask_to_polygons at each tolerance:")
    print(f"{'tolerance px':>12} {'IoU mean':>9} {'IoU min':>8} {'vertices mean':>14} {'ms mean':>8}")
    for tol in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0):
        ious, verts, times = [], [], []
        for r in runs:
            m = r.final.mask
            t = time.perf_counter()
            poly = geometry.mask_to_polygons(m, tolerance=tol)
            times.append(time.perf_counter() - t)
            raster = geometry.polygons_to_mask(poly, *m.shape)
            ious.append(clicker.iou(m, raster))
            verts.append(poly.vertex_count)
        print(f"{tol:>12.1f} {statistics.mean(ious):>9.4f} {min(ious):>8.4f} {statistics.mean(verts):>14.0f} "
              f"{1000 * statistics.mean(times):>8.1f}")


def _ms(fn, *args, repeat: int = 1) -> float:
    """Median wall-clock milliseconds of fn(*args)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def part_tools(samples: list[Sample]) -> None:
    print("\n== tools: magic wand and intelligent scissors on a benchmark photo resized to 1 and 12 MP")
    print("wand: median of 10 random seeds at tolerance 20, and a flat image where every pixel is filled.")
    print("IntelligentScissorsMB on the whole image: applyImage (edge features), buildMap (paths from the")
    print("image centre), getContour (one path, 50 random targets). Scissors (ours): fix() = features when the")
    print("vertex leaves the window + buildMap on the window; path_to() = getContour on it, 50 cursor points.")
    base = max(samples, key=lambda s: s.image.size).image
    rng = np.random.default_rng(0)
    for w, h in ((1155, 866), (4000, 3000)):
        image = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
        seeds = [(float(rng.integers(0, w)), float(rng.integers(0, h))) for _ in range(10)]
        wand = statistics.median(_ms(magic_wand, image, x, y, 20) for x, y in seeds)
        flat = np.full_like(image, 128)
        wand_all = _ms(magic_wand, flat, w / 2, h / 2, 20, repeat=3)
        tool = cv2.segmentation.IntelligentScissorsMB()
        tool.setEdgeFeatureCannyParameters(32, 100)
        tool.setGradientMagnitudeMaxLimit(200)
        apply_ms = _ms(tool.applyImage, image)
        build_ms = _ms(tool.buildMap, (w // 2, h // 2))
        targets = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(50)]
        contour = [_ms(tool.getContour, t) for t in targets]
        print(f"{w}x{h}: wand {wand:.1f} ms (flat image {wand_all:.0f} ms); applyImage {apply_ms:.0f} ms, "
              f"buildMap {build_ms:.0f} ms, getContour median {statistics.median(contour):.2f} ms "
              f"(max {max(contour):.2f})")
        for window in (512, 768, 1024):
            sc = Scissors(image, window=window)
            x, y = w / 2, h / 2
            first = _ms(sc.fix, x, y)
            again = _ms(sc.fix, x + 5, y + 5, repeat=3)
            cursor = [(x + rng.uniform(-window / 2, window / 2), y + rng.uniform(-window / 2, window / 2))
                      for _ in range(50)]
            moves = [_ms(sc.path_to, cx, cy) for cx, cy in cursor]
            print(f"    Scissors window {window}: first fix() {first:.0f} ms, next fix() {again:.0f} ms, "
                  f"path_to() median {statistics.median(moves):.2f} ms (max {max(moves):.2f})", flush=True)


def parse_grid(sets: list[str]) -> list[GrabCutParams]:
    types = {f.name: type(getattr(GrabCutParams(), f.name)) for f in fields(GrabCutParams)}
    axes = []
    for item in sets:
        key, _, values = item.partition("=")
        if key not in types:
            raise SystemExit(f"unknown parameter {key!r}; known: {', '.join(types)}")
        conv = types[key]
        if conv is bool:
            conv = lambda v: v.lower() in ("1", "true", "yes")
        axes.append([(key, conv(v)) for v in values.split(",")])
    return [replace(GrabCutParams(), **dict(combo)) for combo in itertools.product(*axes)] or [GrabCutParams()]


def part_sam(samples: list[Sample], source: str | None, offline: bool) -> None:
    from labeler.ml.device import pick_device
    from labeler.ml.promptable import PromptModel, PromptSegmenter, WeightsMissing

    print(f"\n== sam: the protocol with the assist model ({source or 'the default'})")
    try:
        model = PromptModel.load(source, device=pick_device("auto"), allow_download=not offline)
    except WeightsMissing as exc:
        print(f"not run: {exc}")
        return
    import torch

    print(f"{model.name} on {model.device}, torch {torch.__version__}, {torch.get_num_threads()} threads"
          + ("; RANDOM WEIGHTS: the NoC mean nothing, the times are real" if model.name.startswith("random:") else ""))
    runs = [run_one(s, GrabCutParams(), PromptSegmenter(model)) for s in samples]
    print(HEADER)
    print(row(model.name, summarize(runs)))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores, {cpu}, {platform.system()}, OpenCV {cv2.__version__} "
            f"({cv2.getNumThreads()} threads), numpy {np.__version__}, Python {platform.python_version()}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--parts", default="protocol,crop1mp,shape,tools,sam")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=V1,V2")
    ap.add_argument("--subset", choices=("all", "even", "odd"), default="all",
                    help="every image, or every other one (a two-fold check of a tuned choice)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (1 for clean timings)")
    ap.add_argument("--verbose", action="store_true", help="IoU after each action, per image")
    ap.add_argument("--assist-model", default=None, help="the sam part's model (default sam2.1-tiny)")
    ap.add_argument("--offline", action="store_true", help="the sam part never downloads")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))
    if not (args.data / "images").is_dir():
        raise SystemExit(f"{args.data}: no images/ folder")
    samples = load(args.data)
    if args.subset != "all":
        samples = samples[args.subset == "odd"::2]
    grid = parse_grid(args.set)
    print(f"machine: {machine()}")
    print(f"data: {args.data} ({len(samples)} images, subset {args.subset})")
    runs = part_protocol(samples, grid, args.jobs, args.verbose) if parts & {"protocol", "shape"} else []
    if "crop1mp" in parts:
        part_crop1mp(samples, grid[-1], args.jobs)
    if "shape" in parts:
        part_shape(runs)
    if "tools" in parts:
        part_tools(samples)
    if "sam" in parts:
        part_sam(samples, args.assist_model, args.offline)


if __name__ == "__main__":
    main()
