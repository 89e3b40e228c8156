"""One round of the correction loop: snapshot -> fine-tune -> score -> keep the better model.

`run_round` is shared by the trainer process (training.py), `labeler train` and
`labeler simulate`. A round:

1. takes a snapshot of the accepted labels (one transaction; labels accepted meanwhile go
   into the next round) and its held-out split (store/training.py: about 20 %, pinned);
2. loads the project's current model (its checkpoint and optimizer state, or the starting
   weights when there is none yet) and scores it on the held-out images;
3. fine-tunes it on the training images within the budget (steps or seconds);
4. scores the result on the same held-out images (COCOeval mask AP and box AP) and
   promotes it if its mask AP is at least the current model's (the first round: if it
   trained without error; the rule is core.rounds.promotion). A promoted version's
   checkpoint is PROJECT/models/vN.pt.

A diverging loss abandons the round and keeps the current model; so does any error, with
the reason recorded in model_versions and shown to the person. Only one trainer works on
a project at a time (lock.py: a lock file under PROJECT/models that names its holder).
"""

from __future__ import annotations

import math
import time
import traceback
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from ..core.errors import OptionError
from ..core.rounds import RoundStatus, promotion
from ..store import ProjectStore
from ..store.training import any_promoted, begin_version, finish_version, take_snapshot
from .lock import TrainerBusy, TrainerLock  # noqa: F401 (lock.py; distributed.py imports them here)
from .protocol import RoundDone, RoundStarted, TrainerConfig, TrainProgress
from .suggest import MODELS_DIR, project_checkpoint, project_model_name


def engine_config(config: TrainerConfig):
    from ..ml.engine import TrainConfig

    settings = dict(config.engine)
    settings.update(steps=config.steps, seconds=config.seconds, batch_size=config.batch_size)
    if config.lr is not None:
        settings["lr"] = config.lr
    return TrainConfig(**settings)


def samples(store: ProjectStore, pairs, category_ids: tuple[int, ...]) -> tuple[list, list[str]]:
    """(training samples, paths of images whose file is gone): a moved or deleted image is
    left out of the round rather than failing it (and every round after it)."""
    from ..ml.data import Sample

    label = {cid: n + 1 for n, cid in enumerate(category_ids)}
    found, missing = [], []
    for image, instances in pairs:
        path = store.image_path(image)
        if not path.is_file():
            missing.append(image.path)
            continue
        found.append(Sample(image.id, path, image.width, image.height,
                            tuple(label[i.category_id] for i in instances), tuple(i.shape for i in instances)))
    return found, missing


@dataclass(frozen=True)
class RoundPlan:
    """Everything a round needs, picklable: rank 0 makes it and sends it to the other ranks."""

    version: int
    parent: int
    model_name: str
    class_names: tuple[str, ...]
    checkpoint: str | None  # the parent's checkpoint, None for the starting weights
    class_map: dict
    train: tuple
    heldout: tuple
    snapshot: str
    first: bool
    missing: tuple[str, ...] = ()  # accepted images left out because their file is gone


def plan_round(store: ProjectStore, config: TrainerConfig) -> RoundPlan | RoundDone:
    """Snapshot the accepted labels and open a candidate version (or say why not)."""
    from ..store.proposals import class_map

    snapshot = take_snapshot(store, config.holdout)
    train, gone = samples(store, snapshot.train, snapshot.category_ids)
    heldout, gone_heldout = samples(store, snapshot.heldout, snapshot.category_ids)
    missing = tuple(gone + gone_heldout)
    if not train or not heldout:
        why = (f"; {len(missing)} of them are missing on disk (e.g. {missing[0]})" if missing else "")
        return RoundDone(None, RoundStatus.SKIPPED, reason=(
            f"a round needs at least 2 accepted images (one to learn from, one to score on); "
            f"the project has {snapshot.accepted_images}{why}"))
    model_name = project_model_name(store.project_dir, snapshot.model_version, config.model_name)
    first = not any_promoted(store)
    version = begin_version(store, snapshot, model_name)
    checkpoint = project_checkpoint(store.project_dir, snapshot.model_version)
    return RoundPlan(version, snapshot.model_version, model_name, snapshot.class_names,
                     str(checkpoint) if checkpoint else None, config.class_map or class_map(store),
                     tuple(train), tuple(heldout), snapshot.id, first, missing)


def run_round(store: ProjectStore | None, config: TrainerConfig, *,
              report: Callable[[object], None] = lambda message: None,
              should_stop: Callable[[], bool] = lambda: False,
              pause: Callable[[], None] | None = None, dist=None) -> RoundDone:
    """One round, start to finish; `report` gets RoundStarted and TrainProgress messages.
    With `dist` (distributed.py) every rank calls this: rank 0 (the only one with a store)
    plans, scores and records the round, every rank trains, and all return rank 0's outcome."""
    lead = dist is None or dist.rank == 0
    plan = plan_round(store, config) if lead else None
    if dist is not None:
        plan = dist.broadcast(plan)
    if isinstance(plan, RoundDone):
        return plan
    if lead:
        report(RoundStarted(plan.version, len(plan.train), len(plan.heldout), config.steps, config.seconds))
    with (abandon_on_error(store, plan.version) if lead else nullcontext([])) as outcome:
        trained = train_plan(plan, config, report=report if lead else (lambda message: None),
                             should_stop=should_stop, pause=pause, dist=dist)
        if lead:
            outcome.append(finish_round(store, plan, trained, report=report))
    done = outcome[-1] if lead else None
    return dist.broadcast(done) if dist is not None else done


@contextmanager
def abandon_on_error(store: ProjectStore, version: int) -> Iterator[list]:
    """Record a round that raised as failed (the current model stays) and turn the error
    into a RoundDone; an interrupt is recorded as such and passed on."""
    from ..ml.engine import Diverged

    outcome: list = []
    try:
        yield outcome
    except Diverged as exc:
        reason = f"training diverged ({exc}); the current model stays"
    except Exception as exc:
        traceback.print_exc()
        reason = f"the round failed ({type(exc).__name__}: {exc}); the current model stays"
    except BaseException:  # KeyboardInterrupt, SystemExit
        finish_version(store, version, RoundStatus.INTERRUPTED, reason="the round was interrupted")
        raise
    else:
        return
    finish_version(store, version, RoundStatus.FAILED, reason=reason)
    outcome.append(RoundDone(version, RoundStatus.FAILED, reason=reason))


@dataclass
class Trained:
    model: object  # the model as trained (unwrapped from DDP), on its device
    optimizer: object
    scheduler: object
    stats: object  # ml.engine.RoundStats
    previous: dict | None  # held-out scores of the parent model (rank 0 only)
    device: object
    seconds: float


def train_plan(plan: RoundPlan, config: TrainerConfig, *, report=lambda message: None,
               should_stop=lambda: False, pause=None, dist=None) -> Trained:
    """Load the parent model, score it (rank 0), fine-tune it on the plan's training images.
    With `dist` (distributed.py) every rank runs this; DDP keeps the replicas in step."""
    from ..ml.data import InstanceDataset
    from ..ml.device import pick_device
    from ..ml.engine import evaluate, make_optimizer, make_scheduler, train_steps
    from ..ml.transforms import train_transforms
    from ..ml.weights import load_model

    started = time.perf_counter()
    device = dist.device if dist is not None else pick_device(config.device)
    loaded = load_model(plan.model_name, plan.class_names,
                        checkpoint=Path(plan.checkpoint) if plan.checkpoint else None,
                        weights=Path(config.weights) if config.weights else None,
                        class_map=plan.class_map or None, allow_download=config.allow_download,
                        **config.model_overrides)
    model = loaded.model.to(device)
    previous = None
    if dist is None or dist.rank == 0:
        previous = evaluate(model, InstanceDataset(plan.heldout), device,
                            progress=lambda step, total: report(TrainProgress(plan.version, "scoring", step, total)))
    cfg = engine_config(config)
    optimizer = make_optimizer(model, cfg)
    if loaded.source == "checkpoint" and "optimizer" in loaded.extra:
        resume_optimizer(optimizer, loaded.extra["optimizer"], cfg.lr)
    scheduler = make_scheduler(optimizer, cfg)
    train = InstanceDataset(plan.train, train_transforms())
    net, sampler = model, None
    if dist is not None:
        net, sampler = dist.wrap(model), dist.sampler(train, cfg.seed)
    stats = train_steps(net, train, optimizer, scheduler, cfg, device, should_stop=should_stop, pause=pause,
                        sampler=sampler, progress=lambda step, total, loss, left: report(
                            TrainProgress(plan.version, "training", step, total, loss, seconds_left=left)))
    return Trained(model, optimizer, scheduler, stats, previous, device, time.perf_counter() - started)


def resume_optimizer(optimizer, state: dict, lr: float) -> bool:
    """Go on with the previous round's optimizer state (momentum, Adam moments) where it
    fits: a parameter whose shape changed (a class was added or removed, so the heads were
    remapped) starts afresh. False when the state does not fit this optimizer at all."""
    import torch

    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError):
        return False
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] = lr
        for param in group["params"]:
            saved = optimizer.state.get(param, {})
            if any(torch.is_tensor(v) and v.dim() > 0 and v.shape != param.shape for v in saved.values()):
                del optimizer.state[param]
    return True


def finish_round(store: ProjectStore, plan: RoundPlan, trained: Trained, *,
                 report=lambda message: None) -> RoundDone:
    """Score the trained model on the held-out images and keep it if it is at least as good
    (core.rounds.promotion); an error while scoring fails the round."""
    from ..ml.data import InstanceDataset
    from ..ml.engine import evaluate
    from ..ml.weights import save_checkpoint

    started = time.perf_counter()
    scores, error = {}, None
    try:
        scores = evaluate(trained.model, InstanceDataset(plan.heldout), trained.device,
                          progress=lambda step, total: report(TrainProgress(plan.version, "scoring", step, total)))
    except Exception as exc:
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
    previous, stats = trained.previous or {}, trained.stats
    metrics = {**scores, "previous_mask_ap": previous.get("mask_ap"), "previous_box_ap": previous.get("box_ap"),
               "loss": stats.mean_loss, "last_loss": stats.last_loss, "steps": stats.steps,
               "train_images_seen": stats.images, "train_seconds": round(stats.seconds, 3),
               "seconds": round(trained.seconds + time.perf_counter() - started, 3),
               "device": str(trained.device)}
    status, reason = promotion(scores.get("mask_ap", math.nan), previous.get("mask_ap"), first_round=plan.first,
                               parent=plan.parent, scoring_error=error)
    if plan.missing:
        metrics["missing_images"] = len(plan.missing)
        reason += f"; {len(plan.missing)} accepted images are missing on disk and were left out (e.g. {plan.missing[0]})"
    checkpoint = None
    if status is RoundStatus.PROMOTED:
        checkpoint = f"v{plan.version}.pt"
        save_checkpoint(store.project_dir / MODELS_DIR / checkpoint, trained.model, plan.model_name,
                        plan.class_names, optimizer=trained.optimizer.state_dict(),
                        scheduler=trained.scheduler.state_dict(), round=plan.version, parent=plan.parent,
                        snapshot=plan.snapshot, metrics=metrics,
                        class_map=dict(plan.class_map))
    finish_version(store, plan.version, status, metrics=metrics, reason=reason, checkpoint=checkpoint)
    return RoundDone(plan.version, status, metrics, reason)


def with_budget(config: TrainerConfig, budget: str | None) -> TrainerConfig:
    """`--budget 300` (steps) or `--budget 90s` / `--budget 5m` (time) applied to a config:
    the one given replaces both limits (the other becomes None)."""
    if not budget:
        return config
    text = budget.strip().lower()
    scale = {"s": 1, "m": 60}.get(text[-1:], 0)
    try:
        value = float(text[:-1]) * scale if scale else int(text)
    except ValueError:
        raise OptionError(f"budget {budget!r} is not a step count (300) or a time (90s, 5m)") from None
    if value <= 0:
        raise OptionError(f"budget {budget!r}: it must be more than nothing")
    return replace(config, seconds=value, steps=None) if scale else replace(config, steps=int(value), seconds=None)
