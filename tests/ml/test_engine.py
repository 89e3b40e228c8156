"""Training steps (budget, progress, stop, pause, divergence), the schedule, and COCO
evaluation against a model that answers with the ground truth."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from labeler.ml.data import InstanceDataset
from labeler.ml.engine import (
    Diverged, TrainConfig, evaluate, make_optimizer, make_scheduler, train_steps,
)
from labeler.ml.registry import build_model
from labeler.ml.synthetic import shapes_samples
from labeler.ml.transforms import train_transforms

CPU = torch.device("cpu")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy machine OpenMP's
    spinning threads can make a step 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return shapes_samples(tmp_path_factory.mktemp("shapes"), 3, width=128, height=96)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("maskrcnn_tiny", 4)


def run(model, dataset, cfg, **kwargs):
    optimizer = make_optimizer(model, cfg)
    return train_steps(model, dataset, optimizer, make_scheduler(optimizer, cfg), cfg, CPU, **kwargs)


def test_trains_the_step_budget_over_several_epochs(model, samples):
    cfg = TrainConfig(steps=3, batch_size=2, warmup_steps=1)
    calls, pauses = [], []
    before = [p.detach().clone() for p in model.parameters()]
    stats = run(model, InstanceDataset(samples, train_transforms()), cfg,
                progress=lambda *a: calls.append(a), pause=lambda: pauses.append(1))
    assert stats.steps == 3 and len(stats.losses) == 3 and stats.images == 5  # 3 images: batches of 2, 1, 2
    assert all(math.isfinite(x) and x > 0 for x in stats.losses)
    assert [(step, total, left) for step, total, _, left in calls] == [(1, 3, None), (2, 3, None), (3, 3, None)]
    assert [loss for _, _, loss, _ in calls] == stats.losses
    assert len(pauses) == 3
    assert stats.last_loss == stats.losses[-1] and stats.mean_loss == pytest.approx(sum(stats.losses) / 3)
    assert model.training
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_stops_when_asked(model, samples):
    calls = []
    stats = run(model, InstanceDataset(samples), TrainConfig(steps=50, batch_size=1),
                progress=lambda *a: calls.append(a), should_stop=lambda: len(calls) >= 2)
    assert stats.steps == 2 and len(calls) == 2


def test_a_time_budget_stops_training_and_says_the_seconds_left(model, samples):
    now = [100.0]  # a clock that moves 1 s per step, in the progress callback
    calls = []

    def progress(*args):
        calls.append(args)
        now[0] += 1.0

    cfg = TrainConfig(steps=None, seconds=3, batch_size=1, warmup_steps=0)
    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg, clock=lambda: now[0])
    stats = train_steps(model, InstanceDataset(samples), optimizer, scheduler, cfg, CPU, progress=progress)
    assert stats.steps == 3 and stats.seconds == 3.0
    assert [(step, total, left) for step, total, _, left in calls] == [(1, None, 3.0), (2, None, 2.0), (3, None, 1.0)]
    # the schedule's last step came at 2 of the 3 s: cos(2/3 pi) = -1/2, a quarter of the way above the floor
    assert optimizer.param_groups[0]["lr"] == pytest.approx(cfg.lr * (cfg.final_lr_factor + (1 - cfg.final_lr_factor) / 4))
    assert "budget" not in scheduler.state_dict()


def test_a_budget_needs_steps_or_seconds():
    with pytest.raises(ValueError, match="steps or seconds"):
        TrainConfig(steps=None)
    assert TrainConfig(steps=None, seconds=5).steps is None


def test_a_spent_time_budget_trains_nothing(model, samples):
    stats = run(model, InstanceDataset(samples), TrainConfig(steps=50, seconds=1e-9))
    assert stats.steps == 0 and stats.losses == [] and math.isnan(stats.mean_loss)


def test_nan_weights_raise_diverged(model, samples):
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.weight.fill_(float("nan"))
    with pytest.raises(Diverged, match=r"loss_classifier is nan at step 1"):
        run(model, InstanceDataset(samples), TrainConfig(steps=3, batch_size=1))


def test_a_loss_over_the_bound_raises_diverged(model, samples):
    with pytest.raises(Diverged, match=r"total loss .* at step 1 \(limit"):
        run(model, InstanceDataset(samples), TrainConfig(steps=3, batch_size=1, max_loss=1e-3))


def test_empty_training_set_is_refused(model):
    with pytest.raises(ValueError, match="no images"):
        run(model, InstanceDataset([]), TrainConfig(steps=1))


# --- optimizer and schedule ------------------------------------------------------------

def test_optimizer_takes_trainable_parameters_only(model):
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    for name in ("sgd", "adamw"):
        optimizer = make_optimizer(model, TrainConfig(optimizer=name, lr=0.02))
        assert sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == trainable
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lion")


def test_schedule_warms_up_then_decays():
    cfg = TrainConfig(steps=100, lr=0.1, warmup_steps=10)
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    scheduler = make_scheduler(optimizer, cfg)
    lrs = []
    for _ in range(cfg.steps + 1):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(1e-4)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11]))
    assert lrs[10] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[100] == pytest.approx(0.01)


def lr_after(scheduler, optimizer) -> float:
    optimizer.step()
    scheduler.step()
    return optimizer.param_groups[0]["lr"]


def test_a_time_budget_decays_the_learning_rate_with_the_time_spent():
    cfg = TrainConfig(steps=None, seconds=100, lr=0.1, warmup_steps=0, final_lr_factor=0.0)
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    now = [0.0]
    scheduler = make_scheduler(optimizer, cfg, clock=lambda: now[0])
    scheduler.budget.start()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
    now[0] = 50.0  # half the time: half-way down the cosine
    assert lr_after(scheduler, optimizer) == pytest.approx(0.05)
    now[0] = 99.0  # near the end: near zero
    assert lr_after(scheduler, optimizer) < 0.001
    now[0] = 150.0  # past the end: held at the final factor
    assert lr_after(scheduler, optimizer) == pytest.approx(0.0)


def test_with_steps_and_seconds_the_nearer_end_leads_the_schedule():
    cfg = TrainConfig(steps=1000, seconds=100, lr=0.1, warmup_steps=2, warmup_factor=0.5, final_lr_factor=0.0)
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    now = [0.0]
    scheduler = make_scheduler(optimizer, cfg, clock=lambda: now[0])
    scheduler.budget.start()
    assert lr_after(scheduler, optimizer) == pytest.approx(0.075)  # warming up, by steps
    now[0] = 20.0  # warm-up ends at a fifth of the time (steps: 2 of 1000)
    assert lr_after(scheduler, optimizer) == pytest.approx(0.1)
    now[0] = 60.0  # half-way from there to the end of the time
    assert lr_after(scheduler, optimizer) == pytest.approx(0.05)
    now[0] = 100.0
    assert lr_after(scheduler, optimizer) == pytest.approx(0.0)


# --- evaluation ------------------------------------------------------------------------

class Oracle(nn.Module):
    """Answers with the targets it was given, in dataset order, or with nothing."""

    def __init__(self, targets, empty: bool = False) -> None:
        super().__init__()
        self.targets = list(targets)
        self.empty = empty

    def forward(self, images):
        outputs = []
        for image in images:
            target = self.targets.pop(0)
            n = 0 if self.empty else len(target["labels"])
            outputs.append({"boxes": target["boxes"][:n], "labels": target["labels"][:n],
                            "scores": torch.ones(n), "masks": target["masks"][:n, None].float()})
        return outputs


def test_evaluate_scores_the_ground_truth_as_perfect(samples):
    dataset = InstanceDataset(samples)
    result = evaluate(Oracle(dataset[i][1] for i in range(len(dataset))), dataset, CPU, batch_size=2)
    assert result["images"] == 3 and result["instances"] == sum(len(s.labels) for s in samples)
    for key in ("mask_ap", "mask_ap50", "box_ap", "box_ap50"):
        assert result[key] == pytest.approx(1.0)


def test_evaluate_scores_no_detections_as_zero(samples):
    dataset = InstanceDataset(samples)
    seen = []
    result = evaluate(Oracle((dataset[i][1] for i in range(len(dataset))), empty=True), dataset, CPU,
                      progress=lambda done, total: seen.append((done, total)))
    assert result == {"mask_ap": 0.0, "mask_ap50": 0.0, "box_ap": 0.0, "box_ap50": 0.0,
                      "images": 3, "instances": result["instances"]}
    assert seen == [(2, 3), (3, 3)]


def test_evaluate_half_right_is_between(samples):
    dataset = InstanceDataset(samples)
    targets = [dataset[i][1] for i in range(len(dataset))]
    targets[0] = {**targets[0], "masks": targets[0]["masks"].roll(40, dims=2)}  # misplaced masks
    result = evaluate(Oracle(targets), dataset, CPU)
    assert 0.0 < result["mask_ap"] < 1.0 and result["box_ap"] == pytest.approx(1.0)


def test_evaluate_real_model_and_refuses_empty(model, samples):
    result = evaluate(model, InstanceDataset(samples), CPU)
    assert set(result) == {"mask_ap", "mask_ap50", "box_ap", "box_ap50", "images", "instances"}
    assert all(0.0 <= result[k] <= 1.0 for k in ("mask_ap", "mask_ap50", "box_ap", "box_ap50"))
    assert not model.training
    with pytest.raises(ValueError, match="empty dataset"):
        evaluate(model, InstanceDataset([]), CPU)
