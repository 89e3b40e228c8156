"""The correction loop's mechanics on CPU with a tiny untrained model: a round trains,
scores, writes a version and promotes it; the inference worker picks it up; reviewed labels
stay untouched; a NaN loss keeps the old model; a killed trainer leaves the project usable.
(Whether the model *learns* is measured by benchmarks/correction_loop.py, not here.)"""

from __future__ import annotations

import os
import signal
from dataclasses import replace
import sqlite3
from pathlib import Path

import pytest
import torch
from torchvision.models.detection import roi_heads

from labeler.core import ImageStatus, Instance, Polygons
from labeler.ml.synthetic import make_shapes_project
from labeler.ml.weights import read_checkpoint
from labeler.store import DB_NAME, ProjectStore
from labeler.store.proposals import current_model_version
from labeler.store.training import get_version, versions
from labeler.workers.client import TrainerClient, WorkerClient
from labeler.workers.protocol import (
    Predict, Ready, Reload, RoundDone, Suggested, Train, TrainerConfig, TrainProgress,
)
from labeler.workers.trainer import TrainerBusy, TrainerLock, engine_config, run_round, with_budget

from .conftest import collect, tiny_config

TINY = {"box_score_thresh": 0.0, "box_detections_per_img": 5}


def trainer_config(project: Path, **changes) -> TrainerConfig:
    settings = dict(model_name="maskrcnn_tiny", device="cpu", allow_download=False, steps=2, batch_size=1,
                    model_overrides=TINY, threads=1)
    settings.update(changes)
    return TrainerConfig(str(project), **settings)


@pytest.fixture
def shapes_project(tmp_path: Path) -> Path:
    return make_shapes_project(tmp_path, count=6, accepted=3)


def test_a_round_trains_scores_writes_a_version_and_promotes_it(shapes_project):
    messages = []
    with ProjectStore.open(shapes_project) as store:
        done = run_round(store, trainer_config(shapes_project), report=messages.append)
        assert done.status == "promoted" and done.version == 1, done.reason
        assert current_model_version(store) == 1
        row = get_version(store, 1)
        assert (row.train_images, row.heldout_images, row.accepted_images) == (2, 1, 3)
        assert row.checkpoint == "v1.pt" and 0.0 <= row.mask_ap <= 1.0
        assert {"mask_ap", "box_ap", "previous_mask_ap", "loss", "steps"} <= set(row.metrics)
        assert row.metrics["steps"] == 2
    checkpoint = read_checkpoint(shapes_project / "models" / "v1.pt")
    assert checkpoint["model_name"] == "maskrcnn_tiny" and checkpoint["round"] == 1
    assert {"optimizer", "scheduler", "metrics", "snapshot", "class_map", "parent"} <= set(checkpoint)
    steps = [m.step for m in messages if isinstance(m, TrainProgress) and m.phase == "training"]
    assert steps == [1, 2]


def test_a_round_with_a_time_cap_says_the_seconds_left(shapes_project):
    messages = []
    with ProjectStore.open(shapes_project) as store:
        done = run_round(store, trainer_config(shapes_project, seconds=600.0), report=messages.append)
    assert done.status == "promoted", done.reason
    training = [m for m in messages if isinstance(m, TrainProgress) and m.phase == "training"]
    assert [m.total for m in training] == [2, 2]
    assert all(0 < m.seconds_left <= 600 for m in training)
    assert training[0].seconds_left >= training[1].seconds_left


def test_a_time_budget_reaches_the_engine_without_a_step_count():
    config = with_budget(trainer_config(Path("."), engine={"warmup_steps": 5}), "90s")
    cfg = engine_config(config)
    assert (cfg.steps, cfg.seconds, cfg.warmup_steps) == (None, 90.0, 5)


def test_a_class_added_between_rounds_keeps_training(shapes_project):
    with ProjectStore.open(shapes_project) as store:
        assert run_round(store, trainer_config(shapes_project)).status == "promoted"
        store.add_category("star")  # the heads grow a row; the old optimizer state no longer fits them
        done = run_round(store, trainer_config(shapes_project))
        assert done.status in ("promoted", "kept_previous"), done.reason


def test_missing_image_files_are_left_out_and_said(shapes_project):
    with ProjectStore.open(shapes_project) as store:
        gone = store.images(ImageStatus.ACCEPTED)[0]
        store.image_path(gone).unlink()
        done = run_round(store, trainer_config(shapes_project))
        assert done.status == "promoted" and done.metrics["missing_images"] == 1
        assert f"missing on disk and were left out (e.g. {gone.path})" in done.reason
        for image in store.images(ImageStatus.ACCEPTED)[1:]:
            store.image_path(image).unlink()
        done = run_round(store, trainer_config(shapes_project))
        assert done.status == "skipped" and "3 of them are missing on disk" in done.reason


def test_a_round_needs_two_accepted_images(tmp_path):
    project = make_shapes_project(tmp_path, count=3, accepted=1)
    with ProjectStore.open(project) as store:
        done = run_round(store, trainer_config(project))
        assert done.status == "skipped" and "at least 2 accepted images" in done.reason
        assert versions(store) == []


def test_a_nan_loss_abandons_the_round_and_keeps_the_current_model(shapes_project, monkeypatch):
    with ProjectStore.open(shapes_project) as store:
        assert run_round(store, trainer_config(shapes_project)).status == "promoted"
        monkeypatch.setattr(roi_heads, "maskrcnn_loss", lambda *args: torch.tensor(float("nan")))
        done = run_round(store, trainer_config(shapes_project))
        assert done.status == "failed" and "diverged" in done.reason
        assert current_model_version(store) == 1  # the old model stays
        assert get_version(store, 2).status == "failed" and "diverged" in get_version(store, 2).reason
    assert not (shapes_project / "models" / "v2.pt").exists()


def test_an_error_scoring_the_new_model_fails_the_round(shapes_project, monkeypatch):
    from labeler.ml import engine

    evaluate, calls = engine.evaluate, []

    def second_call_fails(*args, **kwargs):  # the parent is scored first, then the new model
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(engine, "evaluate", second_call_fails)
    with ProjectStore.open(shapes_project) as store:
        done = run_round(store, trainer_config(shapes_project))
        assert done.status == "failed" and len(calls) == 2
        assert "scoring the new model failed (RuntimeError: out of memory)" in done.reason
        assert current_model_version(store) == 0 and get_version(store, 1).status == "failed"
    assert not (shapes_project / "models" / "v1.pt").exists()


def test_promoted_version_is_picked_up_and_reviewed_labels_stay(shapes_project):
    with ProjectStore.open(shapes_project) as store:
        accepted = {i.id: store.instances(i.id) for i in store.images(ImageStatus.ACCEPTED)}
        in_review = store.images(ImageStatus.UNLABELED)[0]
        manual = store.put_instance(Instance(None, in_review.id, 1, Polygons.rectangle(5, 5, 30, 30)))
        store.set_image_status(in_review.id, ImageStatus.IN_REVIEW)
        untouched = store.images(ImageStatus.UNLABELED)[0]
    client = WorkerClient(tiny_config(shapes_project))
    client.start()
    try:
        answers = collect(client, lambda a: any(isinstance(x, Ready) for x in a))
        assert next(x for x in answers if isinstance(x, Ready)).model_version == 0
        with ProjectStore.open(shapes_project) as store:
            assert run_round(store, trainer_config(shapes_project)).status == "promoted"
        client.send(Reload())
        answers = collect(client, lambda a: any(isinstance(x, Ready) for x in a))
        assert next(x for x in answers if isinstance(x, Ready)).model_version == 1
        client.send(Predict((untouched.id, in_review.id), urgent=True))
        answers = collect(client, lambda a: len([x for x in a if isinstance(x, Suggested)]) == 2)
        assert {x.model_version for x in answers if isinstance(x, Suggested)} == {1}
    finally:
        client.stop()
    with ProjectStore.open(shapes_project) as store:
        for image_id, before in accepted.items():
            assert store.instances(image_id) == before  # accepted labels: never touched
        assert store.get_instance(manual.id) == manual
        assert store.get_image(in_review.id).status == ImageStatus.IN_REVIEW
        fresh = store.instances(untouched.id)
        assert fresh and {str(i.provenance) for i in fresh} == {"model v1"}


def test_killing_the_trainer_mid_round_leaves_the_project_usable(shapes_project):
    client = TrainerClient(trainer_config(shapes_project, steps=10**6))
    client.start()
    try:
        client.send(Train())
        collect(client, lambda a: any(isinstance(x, TrainProgress) and x.phase == "training" for x in a))
        os.kill(client.pid, signal.SIGKILL)
        client._process.join()
    finally:
        client.stop()
    db = sqlite3.connect(shapes_project / DB_NAME)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    with ProjectStore.open(shapes_project) as store:
        assert current_model_version(store) == 0
        assert [v.status for v in versions(store)] == ["training"]
        done = run_round(store, trainer_config(shapes_project))  # the lock died with the process
        assert done.status == "promoted"
    assert not list((shapes_project / "models").glob("*.tmp"))


def test_the_trainer_process_runs_rounds_and_marks_a_dead_round_interrupted(shapes_project):
    with ProjectStore.open(shapes_project) as store:
        from labeler.store.training import begin_version, take_snapshot

        begin_version(store, take_snapshot(store), "maskrcnn_tiny")  # as if a trainer had died
    client = TrainerClient(trainer_config(shapes_project))
    client.start()
    try:
        client.send(Train(rounds=2))
        answers = collect(client, lambda a: len([x for x in a if isinstance(x, RoundDone)]) == 2)
        assert not client.busy
    finally:
        client.stop()
    done = [x for x in answers if isinstance(x, RoundDone)]
    assert [d.version for d in done] == [2, 3] and done[0].status == "promoted"
    with ProjectStore.open(shapes_project) as store:
        assert versions(store)[0].status == "interrupted"


def test_only_one_trainer_per_project(shapes_project):
    with TrainerLock(shapes_project):
        me = rf"labeler train \(pid {os.getpid()}, since .*\) is training this project"
        with pytest.raises(TrainerBusy, match=me):
            TrainerLock(shapes_project).acquire()
    TrainerLock(shapes_project).acquire().release()  # released: free again


def test_budget_text():
    config = trainer_config(Path("."))
    assert with_budget(config, "300").steps == 300
    assert with_budget(replace(config, seconds=600), "300").seconds is None  # steps asked for: no time cap
    assert with_budget(config, "90s").seconds == 90 and with_budget(config, "2m").seconds == 120
    assert with_budget(config, "90s").steps is None  # a time budget: no step count
    for bad in ("ten", "0", "-5s"):
        with pytest.raises(ValueError):
            with_budget(config, bad)
