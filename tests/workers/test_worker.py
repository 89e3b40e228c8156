"""The inference worker process with a tiny untrained model: it starts, serves the image on
screen first, survives a bad image, comes back after being killed, and what it writes
follows the project's rules."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from labeler.core import ImageStatus, InstanceStatus
from labeler.store import ProjectStore
from labeler.store.training import begin_version, finish_version, take_snapshot
from labeler.workers.client import WorkerClient
from labeler.workers.protocol import (
    Died, Failed, Fatal, Predict, Prelabel, Progress, Prompted, PromptBox, Ready, Suggested,
)

from .conftest import collect, tiny_config


def of(kind, answers):
    return [a for a in answers if isinstance(a, kind)]


@pytest.fixture
def client(model_project: Path):
    c = WorkerClient(tiny_config(model_project))
    yield c
    c.stop()


def test_worker_serves_the_screen_first_then_prelabels_everything(client, model_project):
    with ProjectStore.open(model_project) as store:
        images = store.images()
    last = images[-1].id
    client.start()
    client.send(Prelabel("unlabeled"))
    client.send(Predict((last,), urgent=True))
    answers = collect(client, lambda a: any(isinstance(x, Progress) and not x.running for x in a))
    ready = of(Ready, answers)[0]
    assert ready.weights_source == "none" and ready.model_version == 0 and "CPU" in ready.device
    suggested = of(Suggested, answers)
    assert suggested[0].image_id == last  # the image on screen came before the batch
    assert {s.image_id for s in suggested} == {i.id for i in images}
    assert of(Progress, answers)[-1].done == len(images) - 1  # the batch skipped the one already done
    with ProjectStore.open(model_project) as store:
        for image in store.images():
            found = store.instances(image.id)
            assert found, "score threshold 0: the tiny model always suggests something"
            assert {i.status for i in found} == {InstanceStatus.PROPOSED}
            assert {str(i.provenance) for i in found} == {"model v0"}
            assert image.status == ImageStatus.PROPOSED
    # Asking again for an image this version has seen is answered at once, from the store.
    client.send(Predict((last,), urgent=True))
    again = collect(client, lambda a: of(Suggested, a))
    assert of(Suggested, again)[0].skipped == "already suggested"


def test_a_bad_image_is_reported_and_the_worker_goes_on(client, model_project):
    with ProjectStore.open(model_project) as store:
        bad, good = store.images()[:2]
        store.image_path(bad).write_bytes(b"\xff\xd8\xff this is not a picture")
    client.start()
    client.send(Predict((bad.id, good.id), urgent=True))
    answers = collect(client, lambda a: of(Suggested, a))
    (failure,) = of(Failed, answers)
    assert failure.image_id == bad.id and Path(bad.path).name in failure.message
    assert of(Suggested, answers)[0].image_id == good.id
    assert client.alive


def test_a_killed_worker_is_restarted_and_answers_what_was_asked(client, model_project):
    with ProjectStore.open(model_project) as store:
        image = store.images()[0]
    client.start()
    collect(client, lambda a: of(Ready, a))
    os.kill(client.pid, signal.SIGKILL)
    client.send(Predict((image.id,), urgent=True))  # asked while it is dead: not lost
    answers = collect(client, lambda a: of(Suggested, a))
    (died,) = of(Died, answers)
    assert died.restarted and died.exitcode == -signal.SIGKILL
    assert of(Ready, answers)  # the new worker said hello
    assert of(Suggested, answers)[0].image_id == image.id


def test_results_of_a_replaced_model_version_are_not_stored(client, model_project):
    with ProjectStore.open(model_project) as store:
        image = store.images()[0]
        client.start()
        collect(client, lambda a: of(Ready, a))
        newer = begin_version(store, take_snapshot(store), "maskrcnn_tiny")
        finish_version(store, newer, "promoted")  # a newer model was promoted meanwhile
    client.send(Predict((image.id,), urgent=True))
    (answer,) = of(Suggested, collect(client, lambda a: of(Suggested, a)))
    assert answer.model_version == 0 and answer.skipped.startswith("stale")
    with ProjectStore.open(model_project) as store:
        assert store.instances(image.id) == []


def test_box_prompt_returns_a_shape_inside_the_box(client, model_project):
    from labeler import geometry
    from labeler.core import Polygons

    with ProjectStore.open(model_project) as store:
        image = store.images()[0]
    client.start()
    box = (30.0, 40.0, 110.0, 120.0)
    client.send(PromptBox(7, image.id, box))
    (answer,) = of(Prompted, collect(client, lambda a: of(Prompted, a)))
    assert answer.request_id == 7 and answer.image_id == image.id
    assert answer.category_id in (1, 2) and 0.0 <= answer.score <= 1.0
    x, y, w, h = geometry.bbox(Polygons.from_json(answer.shape_json))
    assert x >= box[0] - 1 and y >= box[1] - 1 and x + w <= box[2] + 1 and y + h <= box[3] + 1


def test_a_model_that_cannot_load_is_fatal_not_a_crash_loop(model_project, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    client = WorkerClient(tiny_config(model_project, weights=str(broken)))
    try:
        client.start()
        answers = collect(client, lambda a: of(Fatal, a))
        assert "broken.pt" in of(Fatal, answers)[0].message
        client._process.join(30)
        assert client.poll() == [] and client.fatal
    finally:
        client.stop()


def test_screen_busy_is_set_only_while_a_live_worker_owes_the_screen(model_project):
    with ProjectStore.open(model_project) as store:
        image_id = store.images()[0].id
    live = WorkerClient(tiny_config(model_project))
    live.start()
    try:
        live.send(Predict((image_id,), urgent=True))
        assert live.screen_busy.is_set()  # the trainer waits between its steps
        collect(live, lambda a: of(Suggested, a))
        assert not live.screen_busy.is_set()
    finally:
        live.stop()
    broken = WorkerClient(tiny_config(model_project, model_name="no_such_model"))
    broken.start()
    try:
        broken.send(Predict((image_id,), urgent=True))
        collect(broken, lambda a: of(Fatal, a))
        assert not broken.screen_busy.is_set()  # a worker that gave up must not hold the trainer
    finally:
        broken.stop()
