"""The model registry: every model builds offline with the project's class count, config
reaches the model, and the light model keeps the layout its torchvision COCO weights need."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torchvision.models.detection import MaskRCNN

from labeler.ml import DEFAULT_MODEL, MODELS, build_model, get_spec
from labeler.ml.registry import model_config


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_builds_with_three_classes(name):
    model = build_model(name, 3)
    assert isinstance(model, MaskRCNN)
    assert model.roi_heads.box_predictor.cls_score.out_features == 3
    assert model.roi_heads.box_predictor.bbox_pred.out_features == 12
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 3
    assert model_config(model) == MODELS[name].defaults
    assert all(p.requires_grad for p in model.parameters())  # nothing frozen without weights
    spec = get_spec(name)
    if spec.coco_weights is not None:
        assert len(spec.coco_weights.meta["categories"]) == 91


def test_tiny_model_runs_a_forward_pass():
    model = build_model("maskrcnn_tiny", 3).eval()
    assert model.roi_heads.box_head.fc7.out_features == 256
    assert [m.out_channels for m in model.roi_heads.mask_head.modules()
            if isinstance(m, torch.nn.Conv2d)] == [64, 64]
    assert model.roi_heads.fg_bg_sampler.batch_size_per_image == 64
    with torch.inference_mode():
        [out] = model([torch.rand(3, 128, 128)])
    assert set(out) == {"boxes", "labels", "scores", "masks"}
    assert out["masks"].shape[1:] == (1, 128, 128)


def test_config_overrides_reach_the_model():
    model = build_model("maskrcnn_tiny", 4, min_size=96, box_detections_per_img=7)
    assert model.transform.min_size == (96,)
    assert model.roi_heads.detections_per_img == 7
    assert model_config(model)["min_size"] == 96


def test_bad_names_and_configs_are_explained():
    assert DEFAULT_MODEL in MODELS
    with pytest.raises(ValueError) as info:
        get_spec("yolo")
    assert all(name in str(info.value) for name in MODELS)
    with pytest.raises(ValueError, match="min_sise"):
        build_model("maskrcnn_tiny", 3, min_sise=100)
    with pytest.raises(ValueError, match="at least one class"):
        build_model("maskrcnn_tiny", 1)


def test_light_model_has_the_layout_of_torchvisions_coco_detector():
    ours = build_model("maskrcnn_mobilenet_v3_large_fpn", 91).state_dict()
    theirs = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_fpn(
        weights=None, weights_backbone=None, num_classes=91).state_dict()
    assert {k: v.shape for k, v in theirs.items()} == {
        k: v.shape for k, v in ours.items() if not k.startswith(("roi_heads.mask_", ))}
    assert any(k.startswith("roi_heads.mask_predictor.") for k in ours)
    assert get_spec("maskrcnn_mobilenet_v3_large_fpn").coco_has_mask_head is False


def test_the_torch_free_coco_names_are_torchvisions():
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    from labeler.core.coco_classes import COCO_CATEGORIES

    assert list(COCO_CATEGORIES) == MaskRCNN_ResNet50_FPN_Weights.DEFAULT.meta["categories"]
    for spec in MODELS.values():  # what each model's COCO weights know, or the standard list
        assert spec.coco_categories == COCO_CATEGORIES
        assert spec.coco_url == (spec.coco_weights.url if spec.coco_weights is not None else None)
