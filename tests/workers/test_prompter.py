"""The assist model's worker process and its embedding cache, with the tiny random SAM 2.1
(the real forward pass, no weights)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from labeler.ml.promptable import TINY_RANDOM
from labeler.workers.client import AssistClient
from labeler.workers.embeddings import EmbeddingCache
from labeler.workers.protocol import (
    AssistConfig, AssistMissing, AssistReady, Died, Embed, Embedded, Failed, Segment, Segmented,
)

from .conftest import collect


def tensors(mb: float) -> dict:
    return {"f0": torch.zeros(int(mb * 2**20 / 2), dtype=torch.float16), "size": torch.tensor([4, 4])}


# --- the cache -----------------------------------------------------------------------------

def test_the_cache_keeps_what_fits_and_drops_the_least_recently_used(tmp_path):
    cache = EmbeddingCache(tmp_path, cap_bytes=int(2.5 * 2**20))
    for key in "abc":
        cache.put(key, tensors(1))
        time.sleep(0.02)  # distinct modification times
        if key == "b":
            os.utime(tmp_path / "a.safetensors", (time.time() + 5, time.time() + 5))  # "a" used last
    assert cache.get("b") is None  # the least recently used went
    assert cache.get("a") is not None and cache.get("c") is not None
    assert cache.total <= cache.cap
    again = EmbeddingCache(tmp_path, cap_bytes=int(2.5 * 2**20))  # a new process sees the same files
    assert again.total == cache.total and again.get("c")["size"].tolist() == [4, 4]


def test_a_cap_below_one_embedding_keeps_none_and_a_broken_file_is_a_miss(tmp_path):
    tiny = EmbeddingCache(tmp_path / "tiny", cap_bytes=1000)
    tiny.put("a", tensors(1))
    assert tiny.get("a") is None and tiny.total == 0
    cache = EmbeddingCache(tmp_path / "c", cap_bytes=2**30)
    (tmp_path / "c" / "bad.safetensors").write_bytes(b"not tensors")
    assert cache.get("bad") is None
    assert not (tmp_path / "c" / "bad.safetensors").exists()  # deleted, encoded again next time
    assert not list((tmp_path / "c").glob("*.part"))


# --- the worker -----------------------------------------------------------------------------

def assist_config(project: Path, tmp_path: Path, **changes) -> AssistConfig:
    settings = dict(model=TINY_RANDOM, device="cpu", allow_download=False, cache_dir=str(tmp_path / "cache"))
    settings.update(changes)
    return AssistConfig(str(project), **settings)


def of(kind, answers) -> list:
    return [a for a in answers if isinstance(a, kind)]


def test_prompts_come_first_and_each_image_is_encoded_once(model_project, tmp_path):
    client = AssistClient(assist_config(model_project, tmp_path))
    client.start()
    try:
        client.send(Embed((1, 2, 3)))
        client.send(Segment(1, 3, (20, 20, 120, 100)))
        client.send(Segment(2, 3, (20, 20, 120, 100), ((60, 60, True), (25, 25, False))))
        client.send(Segment(3, 99, (0, 0, 10, 10)))
        answers = collect(client, lambda a: len(of(Segmented, a)) == 3 and len(of(Embedded, a)) == 3)
        assert isinstance(answers[0], AssistReady)
        first, second, bad = of(Segmented, answers)
        assert (first.request_id, second.request_id, bad.request_id) == (1, 2, 3)
        assert len(first.candidates) == 3 and len(second.candidates) == 1
        mask, score = first.candidates[0]
        assert mask.image_size == (160, 192 + 16 * 2) and 0 <= score <= 1
        assert first.waited_for_encoder and not second.waited_for_encoder  # the second used its embedding
        assert "no image with id 99" in bad.error and not bad.candidates
        assert sorted(e.image_id for e in of(Embedded, answers)) == [1, 2, 3]  # image 3 once, not twice
        assert not any(e.cached for e in of(Embedded, answers))
    finally:
        client.stop()
    again = AssistClient(assist_config(model_project, tmp_path))  # a new window, the same images
    again.start()
    try:
        again.send(Embed((2,)))
        answers = collect(again, lambda a: bool(of(Embedded, a)))
        assert of(Embedded, answers)[0].cached
    finally:
        again.stop()


def test_an_unreadable_image_is_reported_and_the_worker_goes_on(model_project, tmp_path):
    from labeler.store import ProjectStore

    with ProjectStore.open(model_project) as store:
        broken = store.image_path(store.get_image(1))
    broken.write_bytes(b"not an image")
    client = AssistClient(assist_config(model_project, tmp_path))
    client.start()
    try:
        client.send(Embed((1, 2)))
        answers = collect(client, lambda a: bool(of(Embedded, a)) and bool(of(Failed, a)))
        assert of(Failed, answers)[0].image_id == 1 and "cannot decode" in of(Failed, answers)[0].message
        assert of(Embedded, answers)[0].image_id == 2 and client.alive
    finally:
        client.stop()


def test_without_weights_it_says_what_to_get_and_is_not_restarted(model_project, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))  # read by the spawned process
    client = AssistClient(assist_config(model_project, tmp_path, model=None))
    client.start()
    try:
        answers = collect(client, lambda a: bool(of(AssistMissing, a)))
        assert "sam2.1-hiera-tiny" in of(AssistMissing, answers)[0].message
        assert client.fatal is not None
        deadline = time.monotonic() + 60
        while client.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not of(Died, client.poll())  # ended on purpose: no restart
    finally:
        client.stop()


def test_prompts_owed_by_a_worker_that_died_are_answered(model_project, tmp_path):
    client = AssistClient(assist_config(model_project, tmp_path))
    client.start()
    try:
        collect(client, lambda a: bool(of(AssistReady, a)))
        client.send(Segment(7, 1, (0, 0, 50, 50)))
        client._process.kill()  # a crash before it answered
        answers = collect(client, lambda a: bool(of(Segmented, a)))
        assert of(Died, answers)[0].restarted
        assert of(Segmented, answers)[0].request_id == 7 and "click again" in of(Segmented, answers)[0].error
    finally:
        client.stop()
