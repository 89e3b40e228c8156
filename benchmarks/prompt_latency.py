"""The assist model's latency: image encoder per image, decoder per click, and a click through
the window's worker process, for the SAM 2.1 sizes (random weights: the work is the same).

    python benchmarks/prompt_latency.py [--sizes sam2.1-tiny,sam2.1-small] [--device auto]
                                        [--threads N] [--repeat 5] [--no-worker]

Parts, per size: build; encoder (one 1024 x 1024 forward after the processor's resize of a
1 MP photo, median of --repeat after one warm-up); decoder (a box, then a box and 1..5
clicks, median of 20 each: what one click costs once the image is encoded); the embedding's
size and the disk cache's load time. Then, for the first size, the worker process as the
window uses it (workers/prompter.py through AssistClient): the first prompt on an image
nobody encoded (it waits for the encoder), and prompts on an image encoded ahead (the
decoder, the pickling of the mask and the queues), median of 20, polled every 2 ms.
Benchmarks print; they never assert. Run with nothing else busy: timings are wall-clock.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "grabcut-benchmark" / "images"


def photo(megapixels: float = 1.0) -> np.ndarray:
    """A real photo when ../shared is here (else a smooth random image), scaled to `megapixels`."""
    files = sorted(PHOTO.glob("*.jpg")) if PHOTO.is_dir() else []
    image = cv2.imread(str(files[0])) if files else None
    if image is None:
        rng = np.random.default_rng(0)
        image = cv2.resize(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8), (800, 600))
    h, w = image.shape[:2]
    scale = (megapixels * 1e6 / (h * w)) ** 0.5
    return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)


def ms(seconds: list[float]) -> str:
    return f"{1000 * statistics.median(seconds):.0f} ms (min {1000 * min(seconds):.0f}, max {1000 * max(seconds):.0f})"


def measure_size(name: str, device, repeat: int) -> None:
    import torch

    from labeler.ml.promptable import RANDOM, Embedding, PromptModel

    start = time.perf_counter()
    model = PromptModel.load(RANDOM + name, device=device)
    params = sum(p.numel() for p in model.model.parameters()) / 1e6
    print(f"\n== {name}: {params:.1f} M parameters, built in {time.perf_counter() - start:.1f} s")
    bgr = photo()
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]

    def sync():
        if model.device.type == "cuda":
            torch.cuda.synchronize()

    model.embed(rgb)  # warm-up
    times = []
    for _ in range(repeat):
        sync()
        t = time.perf_counter()
        embedding = model.embed(rgb)
        sync()
        times.append(time.perf_counter() - t)
    print(f"encoder, one {w}x{h} photo: {ms(times)}")
    box = (w * 0.25, h * 0.25, w * 0.75, h * 0.75)
    rng = np.random.default_rng(1)
    for clicks in range(6):
        points = [(float(rng.uniform(box[0], box[2])), float(rng.uniform(box[1], box[3])), bool(k % 2 == 0))
                  for k in range(clicks)]
        model.segment(embedding, box, points)
        times = []
        for _ in range(20):
            sync()
            t = time.perf_counter()
            model.segment(embedding, box, points)
            sync()
            times.append(time.perf_counter() - t)
        what = "box alone (3 candidates)" if not clicks else f"box + {clicks} click{'s' * (clicks > 1)}"
        print(f"decoder, {what}: {ms(times)}")
    tensors = embedding.to_tensors()
    with tempfile.TemporaryDirectory() as folder:
        from safetensors.torch import load_file, save_file

        path = Path(folder) / "e.safetensors"
        save_file(tensors, path)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            Embedding.from_tensors(load_file(path), model.device)
            times.append(time.perf_counter() - t)
        print(f"embedding: {embedding.nbytes() / 2**20:.1f} MiB in memory, {path.stat().st_size / 2**20:.1f} MiB "
              f"on disk (float16); loaded from the disk cache in {ms(times)}")


def measure_worker(name: str, device: str) -> None:
    from labeler.projects import create_project
    from labeler.workers.client import AssistClient
    from labeler.workers.protocol import AssistConfig, AssistReady, Embed, Embedded, Segment, Segmented

    print(f"\n== the worker process (workers/prompter.py), random {name}, as the window uses it")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "images").mkdir()
        image = photo()
        for n in range(2):
            cv2.imwrite(str(root / "images" / f"{n}.jpg"), image)
        created = create_project(root / "project", root / "images", ["thing"])
        client = AssistClient(AssistConfig(str(created.project), model="random:" + name, device=device,
                                           allow_download=False, cache_dir=str(root / "cache")))
        t = time.perf_counter()
        client.start()

        def wait(kind, request_id=None):
            while True:
                for answer in client.poll():
                    if isinstance(answer, kind) and (request_id is None or answer.request_id == request_id):
                        return answer
                time.sleep(0.002)

        try:
            wait(AssistReady)
            print(f"worker ready in {time.perf_counter() - t:.1f} s (spawn, imports, model)")
            h, w = image.shape[:2]
            box = (w * 0.25, h * 0.25, w * 0.75, h * 0.75)
            t = time.perf_counter()
            client.send(Segment(1, 1, box))
            first = wait(Segmented, 1)
            print(f"first prompt on an image not encoded yet: {1000 * (time.perf_counter() - t):.0f} ms "
                  f"(waited for the encoder: {first.waited_for_encoder})")
            client.send(Embed((2,)))
            wait(Embedded)
            times, decoder = [], []
            for n in range(20):
                clicks = tuple((w * 0.5 + k, h * 0.5, True) for k in range(n % 4))
                t = time.perf_counter()
                client.send(Segment(100 + n, 2, box, clicks))
                answer = wait(Segmented, 100 + n)
                times.append(time.perf_counter() - t)
                decoder.append(answer.decoder_seconds)
            print(f"a prompt on an image encoded ahead, round trip: {ms(times)}; of which the decoder {ms(decoder)}")
            client.stop()
            again = AssistClient(client.config)
            again.start()
            client = again
            wait(AssistReady)
            t = time.perf_counter()
            client.send(Segment(200, 2, box))
            wait(Segmented, 200)
            print(f"a new worker, an image in the disk cache, first prompt: {1000 * (time.perf_counter() - t):.0f} ms")
        finally:
            client.stop()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="sam2.1-tiny,sam2.1-small,sam2.1-base-plus")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-worker", action="store_true")
    args = ap.parse_args(argv)
    import torch
    import transformers

    from labeler.ml.device import describe_device, pick_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"machine: {cpu}; device {describe_device(device)}; torch {torch.__version__}, "
          f"transformers {transformers.__version__}, Python {platform.python_version()}")
    sizes = [s for s in args.sizes.split(",") if s]
    for name in sizes:
        measure_size(name, device, args.repeat)
    if not args.no_worker and sizes:
        measure_worker(sizes[0], args.device)


if __name__ == "__main__":
    main()
