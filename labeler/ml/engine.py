"""Training steps and COCO evaluation for torchvision Mask R-CNN, after torchvision's
references/detection/engine.py.

Differences from the reference: training runs for a budget of steps and/or seconds rather
than epochs (re-iterating the data as needed), the learning rate follows how far the round
is through that budget (`Budget`), it can be paused and stopped between steps,
and a non-finite or exploding loss raises Diverged instead of calling sys.exit, so the
caller abandons the round and keeps its last good model. Under DistributedDataParallel
the ranks agree on stopping and on divergence (one small all_reduce each), so no rank is
left waiting in a collective that the others never reach.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, Dataset

from .data import collate


class Diverged(RuntimeError):
    """The loss became NaN/inf or exceeded TrainConfig.max_loss; the round is worthless."""


@dataclass
class TrainConfig:
    steps: int | None = 200  # budget: optimizer steps (None: seconds only)...
    seconds: float | None = None  # ...and/or seconds, pauses not counted; whichever ends first
    batch_size: int = 2
    lr: float = 0.01
    optimizer: str = "sgd"  # sgd | adamw
    momentum: float = 0.9  # sgd only
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    warmup_factor: float = 0.001  # the first step's lr, as a fraction of lr
    final_lr_factor: float = 0.1  # cosine decay ends at this fraction of lr, when the budget is spent
    clip_norm: float | None = 10.0  # None or 0: no gradient clipping
    max_loss: float = 1e4  # a total loss above this is divergence
    amp: bool | None = None  # None: on CUDA only
    workers: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps is None and self.seconds is None:
            raise ValueError("a budget needs steps or seconds")
        if (self.steps is not None and self.steps < 1) or self.batch_size < 1 or self.warmup_steps < 0 \
                or self.workers < 0:
            raise ValueError("steps and batch_size must be at least 1; warmup_steps and workers at least 0")
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; use 'sgd' or 'adamw'")
        if self.seconds is not None and self.seconds <= 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


class Budget:
    """Where a round stands against its budget: cfg.steps optimizer steps and/or cfg.seconds
    seconds of training, pauses not counted. `clock` (seconds) can be swapped in tests."""

    def __init__(self, steps: int | None, seconds: float | None, clock: Callable[[], float] = time.monotonic):
        self.steps, self.seconds, self.clock = steps, seconds, clock
        self._started: float | None = None
        self._paused = 0.0

    def start(self) -> None:
        self._started, self._paused = self.clock(), 0.0

    @contextlib.contextmanager
    def pause(self) -> Iterator[None]:
        """Time spent inside does not count."""
        before = self.clock()
        try:
            yield
        finally:
            self._paused += self.clock() - before

    def elapsed(self) -> float:
        return 0.0 if self._started is None else self.clock() - self._started - self._paused

    def fraction(self, steps_done: int) -> float:
        """How much of the budget is spent, 0 to 1: steps done / steps or seconds elapsed /
        seconds, whichever is further (both set: the one that ends the round first)."""
        parts = [steps_done / self.steps if self.steps else 0.0,
                 self.elapsed() / self.seconds if self.seconds else 0.0]
        return min(1.0, max(parts))

    def seconds_left(self) -> float | None:
        return None if self.seconds is None else max(0.0, self.seconds - self.elapsed())

    def out_of_time(self) -> bool:
        return self.seconds is not None and self.elapsed() >= self.seconds


def lr_factor(cfg: TrainConfig, step: int, fraction: float, warm_end: float) -> float:
    """The learning rate at `step`, as a fraction of cfg.lr: a linear warm-up from
    warmup_factor over warmup_steps steps, then a cosine from 1 down to final_lr_factor as the
    budget's spent `fraction` goes from `warm_end` (where warm-up ended) to 1."""
    warm, final = cfg.warmup_steps, cfg.final_lr_factor
    if step < warm:
        return cfg.warmup_factor + (1.0 - cfg.warmup_factor) * step / warm
    t = 1.0 if warm_end >= 1.0 else min(1.0, max(0.0, (fraction - warm_end) / (1.0 - warm_end)))
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * t))


class BudgetSchedule(LambdaLR):
    """LambdaLR with `lr_factor`, following its own `budget` (which train_steps starts and
    pauses). With a step budget the cosine reaches final_lr_factor at step cfg.steps; with
    a time budget, when cfg.seconds have passed. The budget is not part of state_dict."""

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: TrainConfig, budget: Budget) -> None:
        self.budget = budget
        self._warm_end: float | None = None

        def factor(step: int) -> float:
            fraction = budget.fraction(step)
            if step >= cfg.warmup_steps and self._warm_end is None:
                self._warm_end = fraction
            return lr_factor(cfg, step, fraction, self._warm_end if self._warm_end is not None else 0.0)

        super().__init__(optimizer, factor)

    def state_dict(self) -> dict:
        state = super().state_dict()
        state.pop("budget", None)
        return state


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig,
                   clock: Callable[[], float] = time.monotonic) -> BudgetSchedule:
    """Warm-up, then a cosine over the round's budget (steps or seconds): see lr_factor."""
    return BudgetSchedule(optimizer, cfg, Budget(cfg.steps, cfg.seconds, clock))


@dataclass
class RoundStats:
    steps: int
    images: int  # images seen (by this process)
    seconds: float  # training time, pauses not counted
    losses: list[float] = field(default_factory=list)  # total loss per step

    @property
    def mean_loss(self) -> float:
        return sum(self.losses) / len(self.losses) if self.losses else math.nan

    @property
    def last_loss(self) -> float:
        return self.losses[-1] if self.losses else math.nan


def _amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    if not (cfg.amp if cfg.amp is not None else device.type == "cuda"):
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16 if device.type == "mps" else torch.bfloat16


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def _epochs(loader: DataLoader, sampler) -> Iterator:
    """The loader's batches, pass after pass, telling a DistributedSampler each new epoch."""
    epoch = 0
    while True:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _all_agree(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is true on any (a no-op outside DDP)."""
    if not _distributed():
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def _check_losses(losses: dict[str, torch.Tensor], step: int, cfg: TrainConfig, device: torch.device) -> float:
    """The total loss (averaged over ranks under DDP); Diverged if it is not finite or too big."""
    values = torch.stack([v.detach().float() for v in losses.values()]).to(device)
    if _distributed():
        dist.all_reduce(values)
        values /= dist.get_world_size()
    parts = dict(zip(losses, values.tolist()))
    total = sum(parts.values())
    for name, value in parts.items():
        if not math.isfinite(value):
            raise Diverged(f"{name} is {value} at step {step}")
    if not math.isfinite(total) or total > cfg.max_loss:
        raise Diverged(f"total loss is {total:.4g} at step {step} (limit {cfg.max_loss:g})")
    return total


def train_steps(model: nn.Module, dataset: Dataset, optimizer: torch.optim.Optimizer,
                scheduler: BudgetSchedule, cfg: TrainConfig, device: torch.device, *,
                progress: Callable[[int, int | None, float, float | None], None] | None = None,
                should_stop: Callable[[], bool] = lambda: False,
                pause: Callable[[], None] | None = None, sampler=None) -> RoundStats:
    """Train for cfg.steps steps or cfg.seconds seconds, whichever ends first, or until
    should_stop(); the time is kept by scheduler.budget. pause() runs before each step, its
    time not counted; progress(step, cfg.steps, loss, seconds left or None) after each.
    With a sampler (DistributedSampler under DDP) the data is not shuffled here; its epoch
    is set on every pass."""
    if len(dataset) == 0:
        raise ValueError("nothing to train on: the dataset has no images")
    device = torch.device(device)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                        generator=torch.Generator().manual_seed(cfg.seed) if sampler is None else None,
                        collate_fn=collate, num_workers=cfg.workers, pin_memory=device.type == "cuda",
                        persistent_workers=cfg.workers > 0)
    amp_dtype = _amp_dtype(cfg, device)
    scaler = torch.amp.GradScaler(device.type) if amp_dtype == torch.float16 else None
    params = [p for group in optimizer.param_groups for p in group["params"]]
    model.train()
    stats = RoundStats(0, 0, 0.0)
    budget = scheduler.budget
    budget.start()
    for images, targets in _epochs(loader, sampler):
        if pause is not None:
            with budget.pause():
                pause()
        if _all_agree(budget.out_of_time() or should_stop(), device):
            break
        images = [image.to(device, non_blocking=True) for image in images]
        targets = [{k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v
                    for k, v in t.items()} for t in targets]
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, amp_dtype):
            losses = model(images, targets)
        loss = _check_losses(losses, stats.steps + 1, cfg, device)
        total = sum(losses.values())
        if scaler is not None:
            scaler.scale(total).backward()
            scaler.unscale_(optimizer)
        else:
            total.backward()
        if cfg.clip_norm:
            torch.nn.utils.clip_grad_norm_(params, cfg.clip_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        stats.steps += 1
        stats.images += len(images)
        stats.losses.append(loss)
        if progress is not None:
            progress(stats.steps, cfg.steps, loss, budget.seconds_left())
        if cfg.steps is not None and stats.steps >= cfg.steps:
            break
    stats.seconds = budget.elapsed()
    return stats


# --- evaluation ------------------------------------------------------------------------

def _rles(masks: np.ndarray) -> list[dict]:
    """Compressed RLEs (utf-8 counts) of a bool/uint8 [N, H, W] stack."""
    if len(masks) == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    for rle in rles:
        rle["counts"] = rle["counts"].decode("utf-8")
    return rles


def _coco_ap(gt: COCO, detections: list[dict], iou_type: str) -> tuple[float, float]:
    """(AP@[.5:.95], AP@.5). No detections: 0. No ground truth (COCOeval's -1): 0."""
    if not detections or not gt.getAnnIds():
        return 0.0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(gt, gt.loadRes(detections), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return tuple(max(0.0, float(s)) for s in evaluator.stats[:2])  # type: ignore[return-value]


def evaluate(model: nn.Module, dataset: Dataset, device: torch.device, batch_size: int = 2,
             progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """COCO mask and box AP of the model on the dataset's targets: {"mask_ap", "mask_ap50",
    "box_ap", "box_ap50", "images", "instances"}. Predicted masks are thresholded at 0.5.

    Where AP is undefined it is reported as 0.0, never COCOeval's -1 or NaN: with no
    detections, and also with no ground-truth instance at all (then "instances" is 0 and
    the figure means nothing). A policy comparing rounds can thus compare plain numbers."""
    if len(dataset) == 0:
        raise ValueError("cannot evaluate on an empty dataset (no held-out images yet)")
    device = torch.device(device)
    net = getattr(model, "module", model)  # DDP: evaluate the wrapped model, no collectives
    net.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    images: list[dict] = []
    truth: list[dict] = []
    boxes: list[dict] = []
    segms: list[dict] = []
    with torch.inference_mode():
        for batch, targets in loader:
            outputs = net([image.to(device) for image in batch])
            for image, target, out in zip(batch, targets, outputs):
                image_id = len(images) + 1
                images.append({"id": image_id, "height": int(image.shape[-2]), "width": int(image.shape[-1])})
                for rle, label in zip(_rles(target["masks"].cpu().numpy()), target["labels"].tolist()):
                    truth.append({"id": len(truth) + 1, "image_id": image_id, "category_id": int(label),
                                  "segmentation": rle, "area": float(mask_utils.area(rle)),
                                  "bbox": mask_utils.toBbox(rle).tolist(), "iscrowd": 0})
                labels, scores = out["labels"].tolist(), out["scores"].float().tolist()
                xyxy = out["boxes"].float().cpu()
                xywh = torch.cat([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], dim=1).tolist()
                rles = _rles((out["masks"][:, 0] > 0.5).cpu().numpy())
                for label, score, box, rle in zip(labels, scores, xywh, rles):
                    common = {"image_id": image_id, "category_id": int(label), "score": float(score)}
                    boxes.append({**common, "bbox": box})
                    segms.append({**common, "segmentation": rle})
            if progress is not None:
                progress(len(images), len(dataset))
    categories = sorted({a["category_id"] for a in truth} | {d["category_id"] for d in boxes})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": truth, "categories": [{"id": c} for c in categories]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    mask_ap, mask_ap50 = _coco_ap(gt, segms, "segm")
    box_ap, box_ap50 = _coco_ap(gt, boxes, "bbox")
    return {"mask_ap": mask_ap, "mask_ap50": mask_ap50, "box_ap": box_ap, "box_ap50": box_ap50,
            "images": len(images), "instances": len(truth)}
