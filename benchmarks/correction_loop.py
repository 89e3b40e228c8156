"""The correction loop, measured: does the model learn from accepted labels, how fast does it
fine-tune, and how much labeling work does it save?

Parts (--parts, default all):
  learning    synthetic shapes; each round accepts --per-round more images (their ground
              truth, as a person would) and runs a real training round (workers/trainer.py:
              snapshot, fine-tune, held-out COCOeval, promote). Prints per round: held-out
              mask AP and box AP, and the promoted model's mask AP on a fixed test set of
              images that never enter the project (the fairest learning curve).
  throughput  fine-tuning speed at 800 px (1066 x 800 images) for --throughput-model:
              images/s over --throughput-steps steps after 2 warm-up steps, and what a pass
              over 120 images takes at that speed.
  simulate    `labeler simulate` on a synthetic shapes dataset: actions per instance per
              block of images and the overall ratio against drawing everything by hand.
  recipes     (not in the default parts) SGD against AdamW from no weights on the same data,
              model and seed (the engine's default is SGD; this is why it stays).

Nothing is downloaded; models start from no weights (CPU figures) unless torchvision's
cache has COCO weights. Runs without Qt, also on a GPU server:
    PYTHONPATH=. python benchmarks/correction_loop.py --device cuda --model maskrcnn_resnet50_fpn_v2
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}, "
            f"torch {torch.__version__}, {gpu}")


def trainer_config(args, project: Path, model: str, size: int):
    from labeler.workers.protocol import TrainerConfig

    engine = {"optimizer": args.optimizer, "warmup_steps": args.warmup}
    overrides = {"min_size": size, "max_size": int(size * 1.34)} if size else {}
    return TrainerConfig(str(project), model_name=model, device=args.device, steps=args.budget,
                         batch_size=args.batch, lr=args.lr, allow_download=False, engine=engine,
                         model_overrides=overrides)


def part_learning(args) -> None:
    from labeler.core.entities import ImageStatus, Instance, Provenance
    from labeler.ml.data import InstanceDataset
    from labeler.ml.device import pick_device
    from labeler.ml.engine import evaluate
    from labeler.imaging import find_images, scan_images
    from labeler.formats.common import add_image_files
    from labeler.ml.synthetic import CLASSES, shapes_samples
    from labeler.ml.weights import load_model
    from labeler.store import ProjectStore
    from labeler.store.proposals import current_model_version
    from labeler.workers.suggest import project_checkpoint
    from labeler.workers.trainer import run_round

    root = Path(tempfile.mkdtemp(prefix="loop-"))
    width, height = args.width, args.height
    total = args.per_round * args.rounds
    truth = {s.path.name: s for s in shapes_samples(root / "data", total, width, height, seed=1,
                                                    texture=args.texture)}
    project = root / "project"
    with ProjectStore.create(project, root / "data" / "images", CLASSES) as store:
        infos, _ = scan_images(find_images(root / "data" / "images"))
        add_image_files(store, infos)
    test = InstanceDataset(shapes_samples(root / "test", args.test_images, width, height, seed=10_000,
                                          texture=args.texture))
    device = pick_device(args.device)
    config = trainer_config(args, project, args.model, args.size)
    print(f"learning: {args.model}, {width}x{height} shapes{' on texture' if args.texture else ''}, "
          f"{args.per_round} more accepted images per round, {args.budget} steps of batch {args.batch} per "
          f"round, {config.engine}, lr {args.lr or 'default'}; test set {args.test_images} images")
    print(f"{'round':>5} {'accepted':>8} {'train/held':>10} {'s/step':>7} {'round s':>7} {'loss':>7} "
          f"{'held mask AP':>12} {'held box AP':>11} {'test mask AP':>12}  status")
    with ProjectStore.open(project) as store:
        categories = {c.name: c.id for c in store.categories()}
        images = store.images()
        for r in range(1, args.rounds + 1):
            with store.transaction():
                for image in images[(r - 1) * args.per_round: r * args.per_round]:
                    sample = truth[image.path]
                    for label, shape in zip(sample.labels, sample.shapes):
                        store.put_instance(Instance(None, image.id, categories[CLASSES[label - 1]], shape,
                                                    None, Provenance.manual()))
                    store.set_image_status(image.id, ImageStatus.ACCEPTED)
            start = time.perf_counter()
            done = run_round(store, config)
            seconds = time.perf_counter() - start  # the whole round: snapshot, training, scoring, promotion
            m = done.metrics
            version = current_model_version(store)
            loaded = load_model(args.model, CLASSES, checkpoint=project_checkpoint(project, version),
                                allow_download=False, **config.model_overrides)
            test_ap = evaluate(loaded.model.to(device), test, device)["mask_ap"]
            row = store.db.execute("SELECT train_images, heldout_images FROM model_versions WHERE version = ?",
                                   (done.version,)).fetchone()
            per_step = m.get("train_seconds", 0) / max(m.get("steps", 1), 1)
            print(f"{r:>5} {r * args.per_round:>8} {row[0]:>5}/{row[1]:<4} {per_step:>7.2f} {seconds:>7.1f} "
                  f"{m.get('loss', float('nan')):>7.3f} {m.get('mask_ap', float('nan')):>12.3f} "
                  f"{m.get('box_ap', float('nan')):>11.3f} {test_ap:>12.3f}  {done.status} v{done.version}"
                  + (f" ({done.reason})" if done.status == "failed" else ""), flush=True)
    print(f"project with the rounds (open it to see the learning panel): {project}")


def part_throughput(args) -> None:
    import torch

    from labeler.ml.data import InstanceDataset
    from labeler.ml.device import pick_device
    from labeler.ml.engine import TrainConfig, make_optimizer, make_scheduler, train_steps
    from labeler.ml.synthetic import CLASSES, shapes_samples
    from labeler.ml.transforms import train_transforms
    from labeler.ml.weights import load_model

    device = pick_device(args.device)
    samples = shapes_samples(Path(tempfile.mkdtemp(prefix="tp-")), 16, 1066, 800, seed=3)
    loaded = load_model(args.throughput_model, CLASSES, allow_download=False)
    model = loaded.model.to(device)
    dataset = InstanceDataset(samples, train_transforms())
    cfg = TrainConfig(steps=2, batch_size=args.batch, warmup_steps=0)
    optimizer = make_optimizer(model, cfg)
    train_steps(model, dataset, optimizer, make_scheduler(optimizer, cfg), cfg, device)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    cfg = replace(cfg, steps=args.throughput_steps, seed=1)
    stats = train_steps(model, dataset, optimizer, make_scheduler(optimizer, cfg), cfg, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    rate = stats.images / stats.seconds
    gpu = (f", GPU peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if device.type == "cuda" else "")
    print(f"throughput: {args.throughput_model} ({loaded.source} weights) at 800 px on {device}, batch "
          f"{args.batch}, AMP {'on' if device.type == 'cuda' else 'off'}: {stats.seconds / stats.steps:.2f} s/step, "
          f"{rate:.2f} images/s over {stats.steps} steps; a pass over 120 images: {120 / rate:.0f} s{gpu}")


RECIPES = {  # name -> ml.engine.TrainConfig settings
    "sgd": {"optimizer": "sgd", "lr": 0.01, "warmup_steps": 50},
    "adamw": {"optimizer": "adamw", "lr": 1e-3, "warmup_steps": 100},
}


def part_recipes(args) -> None:
    """Which optimizer learns faster from no weights: the same data, model and seed per recipe."""
    import torch

    from labeler.ml.data import InstanceDataset
    from labeler.ml.device import pick_device
    from labeler.ml.engine import TrainConfig, evaluate, make_optimizer, make_scheduler, train_steps
    from labeler.ml.registry import build_model
    from labeler.ml.synthetic import CLASSES, shapes_samples
    from labeler.ml.transforms import train_transforms

    device = pick_device(args.device)
    root = Path(tempfile.mkdtemp(prefix="recipes-"))
    train = InstanceDataset(shapes_samples(root / "train", 40, args.width, args.height, seed=1), train_transforms())
    heldout = InstanceDataset(shapes_samples(root / "heldout", 10, args.width, args.height, seed=5_000))
    print(f"recipes: {args.model} from no weights, 40 training and 10 held-out {args.width}x{args.height} "
          f"shapes images, {args.budget} steps of batch {args.batch}")
    for name, settings in RECIPES.items():
        torch.manual_seed(0)
        model = build_model(args.model, len(CLASSES) + 1).to(device)
        cfg = TrainConfig(steps=args.budget, batch_size=args.batch, **settings)
        optimizer = make_optimizer(model, cfg)
        stats = train_steps(model, train, optimizer, make_scheduler(optimizer, cfg), cfg, device)
        scores = evaluate(model, heldout, device)
        print(f"  {name:<6} {settings}: {stats.seconds / stats.steps:.2f} s/step, loss {stats.last_loss:.3f}, "
              f"held-out mask AP {scores['mask_ap']:.4f} (AP50 {scores['mask_ap50']:.3f}), "
              f"box AP {scores['box_ap']:.4f}", flush=True)


def part_simulate(args) -> None:
    from labeler.ml.synthetic import write_shapes_dataset

    root = Path(tempfile.mkdtemp(prefix="sim-"))
    gt = write_shapes_dataset(root / "data", args.sim_images, args.width, args.height, seed=7,
                              texture=args.texture)
    command = [sys.executable, "-m", "labeler", "simulate", str(gt), "--images", str(gt.parent / "images"),
               "--start-with", str(args.per_round), "--retrain-every", str(args.per_round), "--model", args.model,
               "--device", args.device, "--offline", "--budget", str(args.budget), "--batch", str(args.batch),
               "--project", str(root / "work")]
    if args.lr:
        command += ["--lr", str(args.lr)]
    print(f"simulate: {' '.join(command[1:])}", flush=True)
    start = time.perf_counter()
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": path})
    print(f"simulate took {time.perf_counter() - start:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="learning,throughput,simulate")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default="maskrcnn_tiny")
    parser.add_argument("--size", type=int, default=0, help="the model's min_size (0: its default)")
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--texture", action="store_true")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument("--test-images", type=int, default=20)
    parser.add_argument("--budget", type=int, default=150, help="steps per round")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw"])
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--throughput-model", default="maskrcnn_resnet50_fpn_v2")
    parser.add_argument("--throughput-steps", type=int, default=3)
    parser.add_argument("--sim-images", type=int, default=40)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    parts = {"learning": part_learning, "throughput": part_throughput, "simulate": part_simulate,
             "recipes": part_recipes}
    for name in args.parts.split(","):
        parts[name](args)


if __name__ == "__main__":
    main()
