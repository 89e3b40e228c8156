"""The assist model (SAM 2.1 through transformers) with a tiny random configuration: the
real forward pass, the weights' resolution, and mask placement."""

from __future__ import annotations

import huggingface_hub.constants
import numpy as np
import pytest
import torch

from labeler.ml.promptable import (
    TINY_RANDOM, Embedding, PromptModel, WeightsMissing, logits_to_mask, random_model, resolve_weights,
)


@pytest.fixture(scope="module")
def model() -> PromptModel:
    return PromptModel.load(TINY_RANDOM)


def picture(h=90, w=120, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_a_box_gives_three_candidates_best_first_and_clicks_one(model):
    embedding = model.embed(picture())
    assert embedding.image_size == (90, 120)
    boxed = model.segment(embedding, box=(10, 10, 80, 60))
    assert len(boxed) == 3
    assert [c.score for c in boxed] == sorted((c.score for c in boxed), reverse=True)
    clicked = model.segment(embedding, box=(10, 10, 80, 60), clicks=[(40, 30, True), (12, 12, False)])
    assert len(clicked) == 1
    for candidate in boxed + clicked:
        assert candidate.mask.image_size == (90, 120)
        assert candidate.mask.mask.dtype == np.uint8 and set(np.unique(candidate.mask.mask)) <= {0, 1}
    assert model.segment(embedding, clicks=[(40, 30, True)], multimask=False)[0].mask.area >= 0
    with pytest.raises(ValueError, match="box or at least one click"):
        model.segment(embedding)


def test_prompts_refer_to_the_full_image_when_it_was_decoded_smaller(model):
    small = model.embed(picture(45, 60), image_size=(90, 120))
    assert small.image_size == (90, 120)
    assert model.segment(small, box=(10, 10, 80, 60))[0].mask.image_size == (90, 120)


@pytest.mark.parametrize("size", [(60, 80), (600, 800), (1000, 333), (17, 400)])
def test_masks_are_placed_exactly_as_the_processor_would_upsample_them(model, size):
    torch.manual_seed(1)
    logits = torch.nn.functional.interpolate(torch.randn(1, 1, 8, 8), size=(32, 32), mode="bilinear")[0, 0]
    expected = model.processor.post_process_masks([logits[None, None]], [list(size)], binarize=False)[0][0, 0] > 0
    ours = logits_to_mask(logits.numpy(), size)
    assert np.array_equal(ours.full().astype(bool), expected.numpy())
    assert ours.mask.size < size[0] * size[1] or expected.all()  # only the covered rectangle travels


def test_an_empty_mask_is_an_empty_crop():
    empty = logits_to_mask(np.full((32, 32), -1.0, np.float32), (50, 50))
    assert empty.area == 0 and empty.full().shape == (50, 50)


def test_an_embedding_survives_the_disk_format(model):
    embedding = model.embed(picture())
    back = Embedding.from_tensors(embedding.to_tensors(), torch.device("cpu"))
    assert back.image_size == embedding.image_size
    a = model.segment(embedding, box=(10, 10, 80, 60))[0].mask.full()
    b = model.segment(back, box=(10, 10, 80, 60))[0].mask.full()
    assert (a & b).sum() >= 0.98 * max(1, (a | b).sum())  # float16 on disk


def test_a_saved_model_folder_loads_through_from_pretrained(tmp_path, model):
    folder = tmp_path / "my-sam"
    model.model.save_pretrained(folder)
    model.processor.save_pretrained(folder)
    loaded = PromptModel.load(str(folder / "model.safetensors"))  # a file in the folder names the folder
    assert loaded.name == "my-sam"
    image = picture()
    ours = model.segment(model.embed(image), box=(10, 10, 80, 60))
    theirs = loaded.segment(loaded.embed(image), box=(10, 10, 80, 60))
    assert [round(c.score, 5) for c in ours] == [round(c.score, 5) for c in theirs]


def test_a_folder_without_the_weights_says_which_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(WeightsMissing, match="model.safetensors"):
        resolve_weights(str(tmp_path), allow_download=False)
    with pytest.raises(WeightsMissing, match="no such folder"):
        resolve_weights(str(tmp_path / "nowhere"), allow_download=True)  # a path, never a repository name


def test_offline_without_the_weights_says_what_to_get_and_where(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(WeightsMissing) as info:
        PromptModel.load(None, allow_download=False)
    text = str(info.value)
    assert "https://huggingface.co/facebook/sam2.1-hiera-tiny" in text
    assert "model.safetensors" in text and str(tmp_path / "hub") in text
    with pytest.raises(WeightsMissing, match="unknown assist model"):
        resolve_weights("no-such-model", allow_download=False)


def test_the_default_size_is_sam2_1_hiera_tiny():
    """Random weights of the real default: what the latency figures measure (no forward here)."""
    config = random_model("sam2.1-tiny").config.vision_config.backbone_config
    assert (config.embed_dim_per_stage, config.blocks_per_stage, config.global_attention_blocks) == (
        [96, 192, 384, 768], [1, 2, 7, 2], [5, 7, 9])
