"""The commands that run models, headless (for GPU servers as much as laptops): prelabel,
train and simulate. `labeler.cli` parses their options; the window runs the same code
through its workers."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .console import Progress
from .store import ProjectError, ProjectStore


def _save_class_map(store: ProjectStore, text: str) -> None:
    from .ml.registry import coco_class_map
    from .store.proposals import parse_class_map, set_class_map

    mapping = parse_class_map(text)
    try:
        used = coco_class_map([c.name for c in store.categories()], mapping)
    except ValueError as exc:
        raise ProjectError(str(exc)) from None
    set_class_map(store, mapping)
    names = [c.name for c in store.categories()]
    print("class map (saved in the project): " + ", ".join(f"{n} -> {used.get(n, '(none)')}" for n in names))


def cmd_prelabel(args: argparse.Namespace) -> int:
    import time

    from .store.proposals import images_needing_suggestions
    from .workers.protocol import Failed, WorkerConfig
    from .workers.suggest import Suggester

    if args.batch < 1:
        raise ProjectError(f"--batch must be at least 1, got {args.batch}")
    config = WorkerConfig(str(args.project), model_name=args.model,
                          weights=str(args.weights) if args.weights else None, device=args.device,
                          batch_size=args.batch, score_threshold=args.score_threshold,
                          allow_download=not args.offline, refine_masks=args.refine_masks)
    with ProjectStore.open(args.project) as store:
        if args.class_map is not None:
            _save_class_map(store, args.class_map)
        try:
            suggester = Suggester(store, config)
        except Exception as exc:  # weights, device or class problems: say which, plainly
            raise ProjectError(str(exc)) from None
        print(f"model: {suggester.loaded.model_name} v{suggester.version} on {suggester.device_text}")
        print(f"weights: {suggester.loaded.message}")
        if suggester.loaded.source == "none" and not args.untrained:
            raise ProjectError("no trained weights, so the suggestions would be noise. Give COCO "
                               "weights (--weights PATH, or put them in torchvision's cache), train "
                               "on accepted labels first ('labeler train'), or pass --untrained")
        images = images_needing_suggestions(store, suggester.version, args.images)
        already = len(store.images()) - len(images)
        print(f"{len(images)} images to pre-label ({already} done before or not eligible)")
        progress, start = Progress("pre-labeling"), time.perf_counter()
        done = suggestions = failed = 0
        try:
            for answer in suggester.run(images):
                done += 1
                if isinstance(answer, Failed):
                    failed += 1
                    print(f"\nskipped: {answer.message}", file=sys.stderr)
                else:
                    suggestions += answer.added
                progress(done, len(images))
        except KeyboardInterrupt:
            print(f"\nstopped after {done} of {len(images)} images; run the same command again "
                  f"to go on from there", file=sys.stderr)
            return 130
        finally:
            suggester.close()
        seconds = time.perf_counter() - start
        rate = f", {done / seconds:.2f} images/s" if done and seconds > 0 else ""
        refined = f" ({suggester.refined} masks redrawn by {suggester.refiner.name})" if suggester.refiner else ""
        print(f"pre-labeled {done - failed} images: {suggestions} suggestions{refined}"
              + (f", {failed} unreadable images skipped" if failed else "") + rate)
    return 0


def _trainer_config(args: argparse.Namespace):
    from .workers.protocol import TrainerConfig
    from .workers.trainer import with_budget

    if args.batch < 1:
        raise ProjectError(f"--batch must be at least 1, got {args.batch}")
    config = TrainerConfig(str(args.project), model_name=args.model,
                           weights=str(args.weights) if args.weights else None, device=args.device,
                           batch_size=args.batch, lr=args.lr, allow_download=not args.offline)
    try:
        return with_budget(config, args.budget)
    except ValueError as exc:
        raise ProjectError(str(exc)) from None


class RoundPrinter:
    """Prints a training round's progress on stderr (rank 0 only under torchrun)."""

    def __init__(self) -> None:
        self.progress: Progress | None = None

    def __call__(self, message) -> None:
        from .workers.protocol import RoundStarted, TrainProgress

        if isinstance(message, RoundStarted):
            print(f"round v{message.version}: {message.train_images} training images, "
                  f"{message.heldout_images} held-out images", file=sys.stderr)
        elif isinstance(message, TrainProgress) and message.phase == "training":
            if self.progress is None or message.step == 1:
                self.progress = Progress(f"training v{message.version}")
            if message.total >= 10**9:  # a time budget: no step count to show
                if message.step % 10 == 0:
                    print(f"training v{message.version}: step {message.step}, loss {message.loss:.3f}",
                          file=sys.stderr, flush=True)
            elif message.step == message.total or message.step % 10 == 0:
                self.progress(message.step, message.total)


def cmd_train(args: argparse.Namespace) -> int:
    from .workers.distributed import train_rounds
    from .workers.trainer import TrainerBusy

    if args.rounds < 1:
        raise ProjectError(f"--rounds must be at least 1, got {args.rounds}")
    config = _trainer_config(args)
    ProjectStore.open(args.project).close()  # a clear error for a wrong path, before torch loads
    failed = 0
    lead = os.environ.get("RANK", "0") == "0"  # under torchrun, only rank 0 speaks
    try:
        for done in train_rounds(config, args.rounds, RoundPrinter()):
            if not lead:
                continue
            if done.version is None:
                print(f"no round: {done.reason}")
                return 1
            m = done.metrics
            figures = (f"held-out mask AP {m['mask_ap']:.3f} (was {m['previous_mask_ap']:.3f}), box AP "
                       f"{m['box_ap']:.3f}, loss {m['loss']:.3f}, {m['steps']} steps in {m['train_seconds']:.0f} s"
                       if "mask_ap" in m else "")
            print(f"v{done.version}: {done.status}" + (f" - {figures}" if figures else "") + f"; {done.reason}")
            failed += done.status == "failed"
    except TrainerBusy as exc:
        raise ProjectError(str(exc)) from None
    return 1 if failed else 0


# simulate's model and training options: None in the parser, so that --no-model can tell one given
SIMULATE_MODEL_DEFAULTS = {"start_with": 10, "retrain_every": 10, "batch": 2, "score_threshold": 0.5}


def _simulate_checks(args: argparse.Namespace) -> None:
    if args.no_model:
        given = [name for name in ("model", "weights", "budget", "lr", *SIMULATE_MODEL_DEFAULTS)
                 if getattr(args, name) is not None] + (["device"] if args.device != "auto" else [])
        if given:
            raise ProjectError(f"--no-model runs no model and no training, so --{given[0].replace('_', '-')} "
                               f"has nothing to set; leave it out or drop --no-model")
    for name, default in SIMULATE_MODEL_DEFAULTS.items():
        setattr(args, name, default if getattr(args, name) is None else getattr(args, name))
        if name in ("start_with", "retrain_every") and getattr(args, name) < 0:
            raise ProjectError(f"--{name.replace('_', '-')} must be 0 or more")
    if args.limit is not None and args.limit < 1:
        raise ProjectError(f"--limit must be at least 1, got {args.limit}")
    if not Path(args.ground_truth).is_file():
        raise ProjectError(f"{args.ground_truth}: no such file")


def _load_assist_model(args: argparse.Namespace) -> None:
    """The assist model for --assist sam, loaded once; missing weights are one line."""
    from .ml.device import pick_device
    from .ml.promptable import PromptModel, WeightsMissing
    from .workers.assist_sim import use_prompt_model

    try:
        model = PromptModel.load(args.assist_model, device=pick_device("auto"), allow_download=not args.offline)
    except WeightsMissing as exc:
        raise ProjectError(f"--assist sam: {exc}") from None
    print(f"assist model: {model.name} on {model.device}", file=sys.stderr)
    use_prompt_model(model)


def cmd_simulate(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from .workers.protocol import WorkerConfig
    from .workers.simulate import build_projects, noc_lines, overall_ratio, simulate, table

    _simulate_checks(args)
    assist = None if args.assist == "none" else args.assist
    if assist == "sam":
        _load_assist_model(args)
    keep = args.keep or args.project is not None
    workdir = Path(args.project) if args.project else Path(tempfile.mkdtemp(prefix="labeler-simulate-"))
    args.project = workdir / "simulation"
    trainer = worker = None
    if not args.no_model:
        trainer = _trainer_config(args)
        worker = WorkerConfig(str(args.project), model_name=args.model, weights=trainer.weights,
                              device=args.device, batch_size=1, score_threshold=args.score_threshold,
                              allow_download=not args.offline)
    try:
        truth, sim = build_projects(Path(args.ground_truth), Path(args.images), workdir,
                                    warn=lambda line: print(f"warning: {line}", file=sys.stderr))
        blocks = []
        with truth, sim:
            plan = (f"no model, every instance {'with ' + assist if assist else 'by hand'}" if args.no_model else
                    f"first {args.start_with} by hand, a round after every {args.retrain_every}"
                    + (f"; what the model misses with {assist}" if assist else ""))
            print(f"simulating {len(sim.images())} images, {len(sim.categories())} classes; {plan}", file=sys.stderr)

            def said(done) -> None:
                m = done.metrics
                ap = f", held-out mask AP {m['mask_ap']:.3f}" if "mask_ap" in m else ""
                print(f"round v{done.version}: {done.status}{ap}; {done.reason}", file=sys.stderr)

            for block in simulate(truth, sim, worker, trainer, start_with=args.start_with,
                                  retrain_every=args.retrain_every, limit=args.limit, assist=assist, on_round=said):
                blocks.append(block)
                print(f"images {block.first}-{block.last} done with model v{block.model_version}", file=sys.stderr)
        print(table(blocks, assist=assist is not None))
        if assist is not None:
            print("\n".join(noc_lines(blocks)))
        ratio = overall_ratio(blocks)
        print(f"ratio: {ratio:.2f}" if ratio is not None else "ratio: - (no ground-truth instance)")
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if keep:
        print(f"the simulated project: {args.project}", file=sys.stderr)
    return 0
