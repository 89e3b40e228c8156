"""The commands that run models, headless (for GPU servers as much as laptops): prelabel,
train and simulate. The window runs the same code through its workers."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..core.errors import OptionError, UserError
from ..store import ProjectStore
from .console import Progress
from .options import add_assist_options, add_model_options, worker_config


def _save_class_map(store: ProjectStore, text: str) -> None:
    from ..store.proposals import parse_class_map, save_class_map

    used = save_class_map(store, parse_class_map(text))
    names = [c.name for c in store.categories()]
    print("class map (saved in the project): " + ", ".join(f"{n} -> {used.get(n, '(none)')}" for n in names))


def _prelabel_suggester(args: argparse.Namespace, store: ProjectStore, config):
    """The model for `labeler prelabel`, after saving --class-map; says which model and
    weights, and refuses to write noise without --untrained."""
    from ..workers.suggest import Suggester

    if args.class_map is not None:
        _save_class_map(store, args.class_map)
    suggester = Suggester(store, config)  # weights, device or class problems are UserErrors
    print(f"model: {suggester.loaded.model_name} v{suggester.version} on {suggester.device_text}")
    print(f"weights: {suggester.loaded.message}")
    if suggester.loaded.source == "none" and not args.untrained:
        raise UserError("no trained weights, so the suggestions would be noise. Give COCO "
                          "weights (--weights PATH, or put them in torchvision's cache), train "
                          "on accepted labels first ('labeler train'), or pass --untrained")
    return suggester


def _report_prelabel(suggester, answers, total: int) -> int:
    """Show the answers' progress on stderr, then a summary line; Ctrl+C stops cleanly."""
    import time

    from ..workers.protocol import Failed

    progress, start = Progress("pre-labeling"), time.perf_counter()
    done = suggestions = failed = 0
    try:
        for answer in answers:
            done += 1
            if isinstance(answer, Failed):
                failed += 1
                print(f"\nskipped: {answer.message}", file=sys.stderr)
            else:
                suggestions += answer.added
            progress(done, total)
    except KeyboardInterrupt:
        print(f"\nstopped after {done} of {total} images; run the same command again "
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


def cmd_prelabel(args: argparse.Namespace) -> int:
    from ..store.proposals import images_needing_suggestions

    if args.batch < 1:
        raise OptionError(f"--batch must be at least 1, got {args.batch}")
    config = worker_config(args, args.project, batch_size=args.batch, score_threshold=args.score_threshold,
                           refine_masks=args.refine_masks)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return _prelabel_under_torchrun(args, config)
    with ProjectStore.open(args.project) as store:
        suggester = _prelabel_suggester(args, store, config)
        images = images_needing_suggestions(store, suggester.version, args.images)
        already = len(store.images()) - len(images)
        print(f"{len(images)} images to pre-label ({already} done before or not eligible)")
        return _report_prelabel(suggester, suggester.run(images), len(images))


def _prelabel_under_torchrun(args: argparse.Namespace, config) -> int:
    """Rank 0 runs `labeler prelabel` as one process does, the images shared with the other
    ranks (workers/distributed_prelabel.py); they print nothing, not even rank 0's errors."""
    from ..store.proposals import images_needing_suggestions
    from ..workers.distributed import from_environment
    from ..workers.distributed_prelabel import receive_work, send_work, sharded_run

    dist = from_environment(config.device)
    assert dist is not None
    try:
        if dist.rank != 0:
            given = receive_work(dist, config)
            if given is None:
                return 2  # rank 0 stopped before there was work, and said why
            suggester, work = given
            try:
                for _ in sharded_run(dist, suggester, work.images):
                    pass
            except KeyboardInterrupt:
                return 130
            finally:
                suggester.close()
            return 0
        store = None
        try:
            store = ProjectStore.open(args.project)
            suggester = _prelabel_suggester(args, store, config)
            images = images_needing_suggestions(store, suggester.version, args.images)
        except BaseException:
            send_work(dist, None)
            if store is not None:
                store.close()
            raise
        with store:
            send_work(dist, suggester, images)
            already = len(store.images()) - len(images)
            print(f"{len(images)} images to pre-label ({already} done before or not eligible), "
                  f"shared by {dist.world} processes")
            return _report_prelabel(suggester, sharded_run(dist, suggester, images), len(images))
    finally:
        dist.close()


def _trainer_config(args: argparse.Namespace):
    from ..workers.protocol import TrainerConfig
    from ..workers.trainer import with_budget

    if args.batch < 1:
        raise OptionError(f"--batch must be at least 1, got {args.batch}")
    config = TrainerConfig(str(args.project), model_name=args.model,
                           weights=str(args.weights) if args.weights else None, device=args.device,
                           batch_size=args.batch, lr=args.lr, allow_download=not args.offline)
    return with_budget(config, args.budget)


class RoundPrinter:
    """Prints a training round's progress on stderr (rank 0 only under torchrun)."""

    def __init__(self) -> None:
        self.progress: Progress | None = None

    def __call__(self, message) -> None:
        from ..workers.protocol import RoundStarted, TrainProgress

        if isinstance(message, RoundStarted):
            print(f"round v{message.version}: {message.train_images} training images, "
                  f"{message.heldout_images} held-out images", file=sys.stderr)
        elif isinstance(message, TrainProgress) and message.phase == "training":
            if self.progress is None or message.step == 1:
                self.progress = Progress(f"training v{message.version}")
            if message.total is None:  # a time budget: no step count to show
                if message.step % 10 == 0:
                    print(f"training v{message.version}: step {message.step}, loss {message.loss:.3f}, "
                          f"{message.seconds_left:.0f} s left", file=sys.stderr, flush=True)
            elif message.step == message.total or message.step % 10 == 0:
                self.progress(message.step, message.total)


def cmd_train(args: argparse.Namespace) -> int:
    from ..core.rounds import RoundStatus
    from ..workers.distributed import train_rounds

    if args.rounds < 1:
        raise OptionError(f"--rounds must be at least 1, got {args.rounds}")
    config = _trainer_config(args)
    ProjectStore.open(args.project).close()  # a clear error for a wrong path, before torch loads
    failed = 0
    lead = os.environ.get("RANK", "0") == "0"  # under torchrun, only rank 0 speaks
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
        failed += done.status == RoundStatus.FAILED
    return 1 if failed else 0


# simulate's model and training options: None in the parser, so that --no-model can tell one given
SIMULATE_MODEL_DEFAULTS = {"start_with": 10, "retrain_every": 10, "batch": 2, "score_threshold": 0.5}


def _simulate_checks(args: argparse.Namespace) -> None:
    if args.no_model:
        given = [name for name in ("model", "weights", "budget", "lr", *SIMULATE_MODEL_DEFAULTS)
                 if getattr(args, name) is not None] + (["device"] if args.device != "auto" else [])
        if given:
            raise OptionError(f"--no-model runs no model and no training, so --{given[0].replace('_', '-')} "
                              f"has nothing to set; leave it out or drop --no-model")
    for name, default in SIMULATE_MODEL_DEFAULTS.items():
        setattr(args, name, default if getattr(args, name) is None else getattr(args, name))
        if name in ("start_with", "retrain_every") and getattr(args, name) < 0:
            raise OptionError(f"--{name.replace('_', '-')} must be 0 or more")
    if args.limit is not None and args.limit < 1:
        raise OptionError(f"--limit must be at least 1, got {args.limit}")
    if not Path(args.ground_truth).is_file():
        raise OptionError(f"{args.ground_truth}: no such file")


def _load_assist_model(args: argparse.Namespace) -> None:
    """The assist model for --assist sam, loaded once; missing weights are one line."""
    from ..ml.device import pick_device
    from ..ml.promptable import PromptModel, WeightsMissing
    from ..workers.assist_sim import use_prompt_model

    try:
        model = PromptModel.load(args.assist_model, device=pick_device("auto"), allow_download=not args.offline)
    except WeightsMissing as exc:
        raise OptionError(f"--assist sam: {exc}") from None
    print(f"assist model: {model.name} on {model.device}", file=sys.stderr)
    use_prompt_model(model)


def cmd_simulate(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from ..workers.simulate import build_projects, noc_lines, overall_ratio, simulate, table

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
        worker = worker_config(args, args.project, batch_size=1, score_threshold=args.score_threshold)
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


def add_commands(sub: argparse._SubParsersAction) -> None:
    from ..workers.assist_sim import ASSIST_TOOLS  # OpenCV only, as the formats already are

    p = sub.add_parser("prelabel", help="let the model suggest instances (headless)",
                       description="Run the model on the images it has not seen yet and store its "
                                   "suggestions for review. Stopped runs resume where they stopped. "
                                   "Several GPUs: torchrun --nproc-per-node N $(which labeler) prelabel "
                                   "PROJECT_DIR (the images are shared out; rank 0 alone writes the project)")
    p.add_argument("project", metavar="PROJECT_DIR")
    add_model_options(p)
    p.add_argument("--batch", type=int, default=2, metavar="N", help="images per model call")
    p.add_argument("--images", default="unlabeled", choices=["unlabeled", "all"],
                   help="unlabeled: images nobody has started; all: every image not yet accepted")
    p.add_argument("--score-threshold", type=float, default=0.2, metavar="S",
                   help="suggestions below this score are not stored")
    p.add_argument("--offline", action="store_true", help="never try to download COCO weights")
    p.add_argument("--class-map", metavar="A=B,...", help="which COCO class each project class "
                   "takes from COCO weights, e.g. 'coin=clock,mug=cup,bird=' (empty: none); "
                   "classes with a COCO name match by themselves. Saved in the project")
    p.add_argument("--untrained", action="store_true",
                   help="run even without trained weights (for testing the set-up)")
    p.add_argument("--refine-masks", nargs="?", const="sam2.1-tiny", default=None, metavar="ASSIST_MODEL",
                   help="also put each suggestion's box to the assist model (default sam2.1-tiny, or a name or "
                   "folder as for --assist-model) and keep its mask where it rates it well (predicted IoU >= 0.8) "
                   "and it covers the same object (mask IoU >= 0.5 with the detector's)")
    p.set_defaults(func=cmd_prelabel)

    p = sub.add_parser("train", help="fine-tune the model on the accepted labels (headless)",
                       description="Run training rounds on the accepted images: each round fine-tunes "
                                   "the current model, scores it on held-out accepted images (mask AP) "
                                   "and keeps it only if it is at least as good. Several GPUs: "
                                   "torchrun --nproc-per-node N $(which labeler) train PROJECT_DIR")
    p.add_argument("project", metavar="PROJECT_DIR")
    add_model_options(p)
    p.add_argument("--rounds", type=int, default=1, metavar="K")
    p.add_argument("--budget", metavar="STEPS|90s|5m", help="per round: optimizer steps (default 200) "
                   "or a time limit")
    p.add_argument("--batch", type=int, default=2, metavar="N", help="images per step (per GPU)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the optimizer's)")
    p.add_argument("--offline", action="store_true", help="never try to download COCO weights")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("simulate", help="replay labeling a dataset with ground truth: how much does "
                       "the model save?",
                       description="Label the images in path order as a person would with the model's "
                                   "help, retraining as configured, and count the actions against "
                                   "drawing everything by hand. Prints a table, with --assist the lines "
                                   "'NoC@85: X' and 'NoC@90: Y', and last 'ratio: R'.")
    p.add_argument("ground_truth", metavar="GROUND_TRUTH_COCO.json")
    p.add_argument("--images", required=True, metavar="DIR", help="the folder the COCO file's images are in")
    p.add_argument("--assist", default="none", choices=["none", *ASSIST_TOOLS], help="for an instance the "
                   "model did not give: none (its polygon, by hand), grabcut (its true box, then the standard "
                   "clicker's clicks until mask IoU >= 0.85, at most 20 actions, the box being action 1; if never "
                   "reached, the polygon too). Prints NoC@85 and NoC@90: the mean actions until IoU >= 0.85 / "
                   "0.90, the box counting as action 1, 20 when never. sam: the same with the assist model "
                   "(--assist-model)")
    add_assist_options(p)
    p.add_argument("--no-model", action="store_true", help="no model and no training: every instance "
                   "by hand, or with --assist")
    p.add_argument("--start-with", type=int, metavar="K", help="images labeled by hand first (default 10)")
    p.add_argument("--retrain-every", type=int, metavar="N", help="a round after every N images (default 10)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N images")
    p.add_argument("--project", default=None, metavar="DIR", help="keep the simulated projects here "
                   "(default: a temporary folder, removed afterwards)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    add_model_options(p)
    p.add_argument("--budget", metavar="STEPS|90s|5m", help="per round (default 200 steps)")
    p.add_argument("--batch", type=int, metavar="N", help="images per training step (default 2)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--score-threshold", type=float, metavar="S", help="suggestions shown to the simulated "
                   "person (default 0.5)")
    p.add_argument("--offline", action="store_true", help="never try to download COCO weights")
    p.set_defaults(func=cmd_simulate)
