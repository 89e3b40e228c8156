"""Pre-labeling speed end to end: decode -> model -> polygons -> suggestions in the store.

Prints, for each model (default: maskrcnn_resnet50_fpn_v2 and the light
maskrcnn_mobilenet_v3_large_fpn):
  * images per second over a run of synthetic 1066 x 800 JPEGs (the model works at 800 px),
    after one warm-up batch, and the peak memory of the process (and of the GPU, on CUDA);
  * time from asking for the image on screen to its suggestions being in the store, for an
    image the model has not seen (through the real worker process) and for one it has;
and once: the extra memory of 300 detections on a 12-megapixel image. With --parts amp: how
far bfloat16 autocast moves the detections from float32's (with COCO weights if cached).

Each part runs in a fresh process, so each peak-memory figure is its own. No weights are
downloaded: without COCO weights the models are untrained, which changes what they find
but not the work per image (an untrained model's scores all pass the 0.2 threshold, so
every image yields the maximum of 100 detections: a heavy case for the polygon step).

    python benchmarks/prelabel.py [--device auto] [--images 8] [--batch 2] [--models a,b]
        [--device-decode] [--no-amp] [--channels-last] [--profile] [--parts throughput,...]
Runs without Qt (also on a GPU server: PYTHONPATH=. python benchmarks/prelabel.py).

The levers (issue 16; only for CUDA): JPEGs decoded on the GPU (--device-decode; off by
default in the app until a GPU run measures it: OpenCV on the CPU threads otherwise),
bfloat16 autocast (on by default; --no-amp: float32), channels_last convolutions
(--channels-last). --profile runs the timed images under
torch.profiler and adds, to the throughput line, the busy seconds of each stage (decode,
model, of which the mask paste, polygons, store; threads overlap, so they may add up to more
than the wall time) and the top operators by self time (CUDA time on a GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODELS = ("maskrcnn_resnet50_fpn_v2", "maskrcnn_mobilenet_v3_large_fpn")


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_project(root: Path, count: int, width: int = 1066, height: int = 800) -> Path:
    import cv2
    import numpy as np

    from labeler.imaging import find_images, scan_images
    from labeler.formats.common import add_image_files
    from labeler.store import ProjectStore

    rng = np.random.default_rng(0)
    images = root / "images"
    images.mkdir(parents=True)
    for n in range(count):
        image = (rng.normal(110, 25, (height, width, 3))).clip(0, 255).astype(np.uint8)
        for _ in range(12):
            x, y = int(rng.integers(0, width - 150)), int(rng.integers(0, height - 150))
            color = tuple(int(c) for c in rng.integers(0, 255, 3))
            if rng.random() < 0.5:
                cv2.circle(image, (x + 60, y + 60), int(rng.integers(20, 70)), color, -1)
            else:
                cv2.rectangle(image, (x, y), (x + int(rng.integers(30, 150)), y + int(rng.integers(30, 150))), color, -1)
        cv2.imwrite(str(images / f"img{n:04d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    project = root / "project"
    with ProjectStore.create(project, images, ["square", "disk", "person", "car"]) as store:
        infos, _ = scan_images(find_images(images))
        add_image_files(store, infos)
    return project


def config(project: Path, args, model: str, **changes):
    from labeler.workers.protocol import WorkerConfig

    return WorkerConfig(str(project), model_name=model, device=args.device, batch_size=args.batch,
                        allow_download=False, decode_on_device=args.device_decode,
                        amp=False if args.no_amp else None, channels_last=args.channels_last, **changes)


class Stages:
    """Busy seconds per pipeline stage, by wrapping the functions that do each (any thread),
    each also a torch.profiler range."""

    NAMES = ("decode", "model", "paste", "polygons", "store")

    def __init__(self) -> None:
        import threading

        import labeler.ml.predict as predict
        from labeler.workers.suggest import Suggester

        self.seconds = dict.fromkeys(self.NAMES, 0.0)
        self._lock = threading.Lock()
        for owner, name, stage in ((Suggester, "load_pixels", "decode"), (Suggester, "_decode_on_device", "decode"),
                                   (predict.Predictor, "predict", "model"), (predict, "paste_masks_in_boxes", "paste"),
                                   (Suggester, "_suggestions", "polygons"), (Suggester, "write", "store")):
            setattr(owner, name, self._timed(getattr(owner, name), stage))

    def _timed(self, function, stage):
        import functools

        import torch

        @functools.wraps(function)
        def timed(*args, **kwargs):
            start = time.perf_counter()
            with torch.profiler.record_function(f"stage:{stage}"):
                try:
                    return function(*args, **kwargs)
                finally:
                    with self._lock:
                        self.seconds[stage] += time.perf_counter() - start
        return timed

    def text(self, wall: float) -> str:
        busy = ", ".join(f"{name} {self.seconds[name]:.2f}" for name in self.NAMES)
        return f"busy seconds by stage over {wall:.2f} s wall: {busy} (paste is inside model)"


def gpu_peak() -> str:
    import torch

    if torch.cuda.is_available():
        return f", GPU peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
    return ""


def part_throughput(args) -> dict:
    from labeler.store import ProjectStore
    from labeler.store.proposals import images_needing_suggestions
    from labeler.workers.suggest import Suggester

    import contextlib

    import torch

    project = make_project(Path(tempfile.mkdtemp()), args.images + args.batch)
    stages = Stages() if args.profile else None
    profiler = contextlib.nullcontext()
    with ProjectStore.open(project) as store:
        suggester = Suggester(store, config(project, args, args.model))
        todo = images_needing_suggestions(store, 0)
        list(suggester.run(todo[:args.batch]))  # warm-up: first calls allocate and tune
        if stages is not None:
            stages.seconds = dict.fromkeys(Stages.NAMES, 0.0)  # count the timed images only
            activities = [torch.profiler.ProfilerActivity.CPU]
            if suggester.device.type == "cuda":
                activities.append(torch.profiler.ProfilerActivity.CUDA)
            profiler = torch.profiler.profile(activities=activities)
        with profiler:
            start = time.perf_counter()
            answers = list(suggester.run(todo[args.batch:]))
            if suggester.device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
        suggestions = sum(getattr(a, "added", 0) for a in answers)
        device = suggester.device_text
        levers = (f"decode {'on the GPU' if suggester.decode_on_device else 'OpenCV'}, "
                  f"amp {suggester.predictor.amp_dtype or 'off'}, channels_last {'on' if args.channels_last else 'off'}")
        suggester.close()
    text = (f"{args.model} on {device}, batch {args.batch} ({levers}): {len(answers) / seconds:.2f} images/s "
            f"({len(answers)} images, {suggestions} suggestions written), peak RSS "
            f"{rss_peak_mb():.0f} MB{gpu_peak()}")
    if stages is not None:
        sort = "self_cuda_time_total" if suggester.device.type == "cuda" else "self_cpu_time_total"
        text += (" (under the profiler)\n  " + stages.text(seconds) + "\n"
                 + profiler.key_averages().table(sort_by=sort, row_limit=15))
    return {"text": text}


def part_screen(args) -> dict:
    from labeler.store import ProjectStore
    from labeler.workers.client import WorkerClient
    from labeler.workers.protocol import Predict, Ready, Suggested

    project = make_project(Path(tempfile.mkdtemp()), 3)
    with ProjectStore.open(project) as store:
        ids = [i.id for i in store.images()]
    client = WorkerClient(config(project, args, args.model))
    client.start()

    def wait(kind):
        while True:
            for answer in client.poll():
                if isinstance(answer, kind):
                    return answer
            time.sleep(0.001)

    start = time.perf_counter()
    wait(Ready)
    ready = time.perf_counter() - start
    client.send(Predict((ids[0],), urgent=True))  # warm-up
    wait(Suggested)
    times = {}
    for label, image_id in (("not seen yet", ids[1]), ("already pre-labeled", ids[1])):
        start = time.perf_counter()
        client.send(Predict((image_id,), urgent=True))
        wait(Suggested)
        times[label] = time.perf_counter() - start
    client.stop()
    return {"text": f"{args.model}: image on screen -> suggestions stored: not seen yet "
                    f"{times['not seen yet'] * 1000:.0f} ms, already pre-labeled "
                    f"{times['already pre-labeled'] * 1000:.1f} ms (worker start with the model "
                    f"loaded: {ready:.1f} s)"}


def part_big(args) -> dict:
    import numpy as np
    import torch

    from labeler.ml.device import describe_device, pick_device
    from labeler.ml.predict import Predictor
    from labeler.ml.registry import build_model

    device = pick_device(args.device)
    model = build_model(args.model, 5, box_detections_per_img=300)
    predictor = Predictor(model, device, score_threshold=0.0, mask_threshold=0.0,
                          amp=False if args.no_amp else None, channels_last=args.channels_last)
    image = np.random.default_rng(0).integers(0, 255, (3000, 4000, 3), dtype=np.uint8)
    predictor.predict([image[:300, :400]])  # warm-up at small size
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base_gpu = torch.cuda.memory_allocated()
    base = rss_now_mb()
    start = time.perf_counter()
    (found,) = predictor.predict([image])
    seconds = time.perf_counter() - start
    extra = rss_peak_mb() - base
    pixels = sum(d.mask.size for d in found)
    text = (f"{args.model} on {describe_device(device)}, one 4000x3000 image, {len(found)} detections "
            f"(mask threshold 0: every mask fills its box): {seconds:.2f} s, extra peak RSS {extra:.0f} MB "
            f"(the image itself: {image.nbytes / 2**20:.0f} MB; all masks together {pixels / 2**20:.0f} MB)")
    if device.type == "cuda":
        text += f", extra GPU peak {(torch.cuda.max_memory_allocated() - base_gpu) / 2**30:.2f} GiB"
    return {"text": text}


def part_amp(args) -> dict:
    """bfloat16 autocast against float32 on the same images: how far the detections move."""
    import numpy as np
    import cv2

    from labeler.ml.device import describe_device, pick_device
    from labeler.ml.predict import Predictor
    from labeler.ml.weights import load_model

    device = pick_device(args.device)
    loaded = load_model(args.model, ["person", "car", "cup", "clock"], allow_download=False)
    root = make_project(Path(tempfile.mkdtemp()), args.images).parent / "images"
    images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(root.iterdir())]
    # untrained (no COCO weights cached) the scores are noise: compare every detection, as numbers only
    threshold = 0.3 if loaded.source != "none" else 0.0
    runs = {}
    for amp in (False, True):
        predictor = Predictor(loaded.model, device, amp=amp, score_threshold=threshold)
        runs[amp] = [d for i in range(0, len(images), args.batch) for d in predictor.predict(images[i:i + args.batch])]
    import torch
    from torchvision.ops import box_iou

    box_ious, mask_ious, score_moves = [], [], []
    for full, half in zip(runs[False], runs[True]):
        if not full or not half:
            box_ious += [0.0] * len(full)
            continue
        ious = box_iou(torch.tensor([d.box for d in full]), torch.tensor([e.box for e in half]))
        same = torch.tensor([[d.label == e.label for e in half] for d in full])
        best, match = (ious * same).max(dim=1)
        for d, iou, j in zip(full, best.tolist(), match.tolist()):
            box_ious.append(iou)
            e = half[j]
            score_moves.append(abs(e.score - d.score))
            a, b = d.full_mask(800, 1066), e.full_mask(800, 1066)
            union = np.logical_or(a, b).sum()
            if union:
                mask_ious.append(np.logical_and(a, b).sum() / union)
    if not box_ious:
        return {"text": f"{args.model} ({loaded.source} weights): no detection at score >= {threshold} in "
                        "float32; nothing to compare"}
    box_ious = np.array(box_ious)
    masks = (f"mask IoU of those pairs {np.mean(mask_ious):.3f} ({len(mask_ious)} with a mask)"
             if mask_ious else "no non-empty masks")
    return {"text": f"{args.model} on {describe_device(device)} ({loaded.source} weights, scores >= {threshold}), "
                    f"{len(images)} images: float32 {len(box_ious)} detections, bfloat16 "
                    f"{sum(len(r) for r in runs[True])}; per float32 detection the best box IoU with a bfloat16 one "
                    f"of its class: mean {box_ious.mean():.3f}, >= 0.9 for {(box_ious >= 0.9).mean():.1%}; {masks}; "
                    f"score moved by {np.mean(score_moves):.4f} on average"}


PARTS = {"throughput": part_throughput, "screen": part_screen, "big": part_big, "amp": part_amp}
LEVERS = ("--device-decode", "--no-amp", "--channels-last", "--profile")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=8, help="images timed per model")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--parts", default="throughput,screen,big", help="which measurements, of "
                        "throughput, screen, big and amp (bfloat16 against float32; not in the default)")
    parser.add_argument("--device-decode", action="store_true", help="decode JPEGs on the GPU (nvJPEG), CUDA only")
    parser.add_argument("--no-amp", action="store_true", help="float32 on CUDA too (default: bfloat16 autocast)")
    parser.add_argument("--channels-last", action="store_true", help="NHWC convolutions")
    parser.add_argument("--profile", action="store_true", help="stage times and top operators (throughput)")
    parser.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:  # a child process: one measurement
        print(json.dumps(PARTS[args.part](args)))
        return
    import torch

    print(f"machine: {os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}, "
          f"torch {torch.__version__}, "
          + (f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU"))
    base = [sys.executable, __file__, "--device", args.device, "--images", str(args.images),
            "--batch", str(args.batch)] + [flag for flag in LEVERS if getattr(args, flag[2:].replace("-", "_"))]
    parts = args.parts.split(",")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"--parts: unknown {', '.join(unknown)}; choose from {', '.join(sorted(PARTS))}")
    jobs = [(part, model) for model in args.models.split(",") for part in ("throughput", "screen", "amp")
            if part in parts]
    if "big" in parts:
        jobs.append(("big", MODELS[0]))
    for part, model in jobs:
        proc = subprocess.run(base + ["--part", part, "--model", model], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{part} {model}: failed\n{proc.stderr[-2000:]}")
            continue
        print(json.loads(proc.stdout.strip().splitlines()[-1])["text"], flush=True)


if __name__ == "__main__":
    main()
