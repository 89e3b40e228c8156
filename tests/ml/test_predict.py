"""Predictor on the tiny model (no weights): box-local masks, batches, a 12-megapixel image,
box prompts; the mask paste against torch's grid_sample and torchvision's own paste; devices."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.models.detection.roi_heads import paste_masks_in_image

from labeler.core.entities import Polygons
from labeler.geometry.shapes import mask_to_polygons
from labeler.ml import Detection, Predictor, build_model, describe_device, pick_device
from labeler.ml import device as device_module
from labeler.ml.predict import paste_masks_in_boxes


def tiny(mask_logit: float | None = None, **config) -> torch.nn.Module:
    """The tiny model; with ``mask_logit`` every mask probability is sigmoid(mask_logit)."""
    torch.manual_seed(0)
    model = build_model("maskrcnn_tiny", 3, **config)
    if mask_logit is not None:
        logits = model.roi_heads.mask_predictor.mask_fcn_logits
        torch.nn.init.zeros_(logits.weight)
        torch.nn.init.constant_(logits.bias, mask_logit)
    return model


def image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def integer_box(d: Detection, height: int, width: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = d.box
    return (max(0, math.floor(x0)), max(0, math.floor(y0)),
            min(width, math.ceil(x1)), min(height, math.ceil(y1)))


def check_box_local(d: Detection, height: int, width: int) -> None:
    x0, y0, x1, y1 = integer_box(d, height, width)
    assert d.mask.dtype == bool
    assert d.origin == (x0, y0)
    assert d.mask.shape == (y1 - y0, x1 - x0)
    assert 0 <= d.box[0] <= d.box[2] <= width and 0 <= d.box[1] <= d.box[3] <= height


def test_predict_gives_box_local_masks_inside_the_image():
    height, width = 96, 128
    [dets] = Predictor(tiny(mask_logit=20.0), score_threshold=0.0).predict([image(height, width)])
    assert dets
    assert [d.score for d in dets] == sorted((d.score for d in dets), reverse=True)
    cores = 0
    for d in dets:
        check_box_local(d, height, width)
        assert d.label in (1, 2)
        # probability ~1 everywhere: nothing outside the box, and every pixel at least one
        # mask cell in from the box edges (where bilinear sampling meets no zero padding)
        xs = d.origin[0] + np.arange(d.mask.shape[1]) + 0.5
        ys = d.origin[1] + np.arange(d.mask.shape[0]) + 0.5
        cx, cy = (d.box[2] - d.box[0]) / 28, (d.box[3] - d.box[1]) / 28
        inside = (ys[:, None] > d.box[1]) & (ys[:, None] < d.box[3]) & (xs > d.box[0]) & (xs < d.box[2])
        core = ((ys[:, None] > d.box[1] + cy) & (ys[:, None] < d.box[3] - cy)
                & (xs > d.box[0] + cx) & (xs < d.box[2] - cx))
        assert not (d.mask & ~inside).any()
        assert d.mask[core].all()
        cores += int(core.any())
        full = d.full_mask(height, width)
        assert full.shape == (height, width) and full.sum() == d.mask.sum()
    assert cores > len(dets) // 2


def test_score_threshold_and_max_detections_are_applied():
    predictor = Predictor(tiny(), score_threshold=0.4, max_detections=5)
    [dets] = predictor.predict([image(128, 128)])
    assert len(dets) <= 5
    assert all(d.score >= 0.4 for d in dets)
    assert predictor.model.roi_heads.score_thresh == 0.4


def test_batch_of_two_sizes():
    sizes = [(128, 96), (90, 200)]
    results = Predictor(tiny(mask_logit=20.0), score_threshold=0.0).predict(
        [image(h, w, seed=i) for i, (h, w) in enumerate(sizes)])
    assert len(results) == 2
    for dets, (height, width) in zip(results, sizes):
        assert dets
        for d in dets:
            check_box_local(d, height, width)
    assert Predictor(tiny()).predict([]) == []


def test_large_image_masks_stay_box_sized():
    height, width = 3000, 4000
    predictor = Predictor(tiny(mask_logit=20.0, box_detections_per_img=300), score_threshold=0.0)
    [dets] = predictor.predict([image(height, width)])
    assert 100 < len(dets) <= 300
    for d in dets:
        x0, y0, x1, y1 = integer_box(d, height, width)
        assert d.mask.size <= (x1 - x0) * (y1 - y0)
        assert d.mask.shape == (y1 - y0, x1 - x0)
        assert d.mask.any()


def test_paste_equals_grid_sample_over_each_box():
    torch.manual_seed(1)
    height, width = 60, 80
    masks = torch.rand(6, 28, 28)
    xy = torch.rand(6, 2) * torch.tensor([width, height]) - 5
    wh = torch.rand(6, 2) * 50 + 0.3
    boxes = torch.cat([xy, xy + wh], dim=1)
    pasted = paste_masks_in_boxes(masks, boxes, (height, width), threshold=0.5, chunk_pixels=3000)
    for mask, box, ((ox, oy), got) in zip(masks, boxes, pasted):
        h, w = got.shape
        xs = (ox + torch.arange(w) + 0.5 - box[0]) / (box[2] - box[0]) * 2 - 1
        ys = (oy + torch.arange(h) + 0.5 - box[1]) / (box[3] - box[1]) * 2 - 1
        grid = torch.stack([xs.expand(h, w), ys[:, None].expand(h, w)], dim=2)[None]
        want = F.grid_sample(mask[None, None], grid, align_corners=False)[0, 0]
        clear = (want - 0.5).abs() > 1e-5
        assert np.array_equal(got[clear.numpy()], (want > 0.5)[clear].numpy())
        assert ox == max(0, math.floor(box[0])) and oy == max(0, math.floor(box[1]))


def test_paste_agrees_with_torchvision_paste():
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    disk = (((xx - 13.5) ** 2 + (yy - 13.5) ** 2) < 11 ** 2).float()[None]
    box = torch.tensor([[40.3, 30.7, 190.2, 130.1]])
    [((ox, oy), mask)] = paste_masks_in_boxes(disk, box, (200, 240))
    theirs = paste_masks_in_image(disk[:, None], box, (200, 240))[0, 0] > 0.5
    ours = np.zeros((200, 240), dtype=bool)
    ours[oy:oy + mask.shape[0], ox:ox + mask.shape[1]] = mask
    iou = (ours & theirs.numpy()).sum() / (ours | theirs.numpy()).sum()
    assert iou > 0.97


def test_predict_box_keeps_the_mask_in_the_box():
    img = image(128, 128)
    predictor = Predictor(tiny(mask_logit=20.0))
    d = predictor.predict_box(img, (10, 20, 70.5, 100))
    assert d is not None and d.label in (1, 2) and 0 < d.score <= 1
    assert d.origin == (10, 20) and d.mask.shape == (80, 61)
    assert d.mask.any()
    polygons = d.to_polygons()
    assert isinstance(polygons, Polygons)
    pts = np.array([p for part in polygons.parts for ring in part for p in ring])
    assert pts[:, 0].min() >= 10 and pts[:, 0].max() <= 70.5
    assert pts[:, 1].min() >= 20 and pts[:, 1].max() <= 100
    local = mask_to_polygons(d.mask)
    assert local is not None
    assert np.allclose(pts, np.array([p for part in local.parts for ring in part for p in ring]) + (10, 20))
    forced = predictor.predict_box(img, (70, 100, 10, 20), label=2)  # corners in any order
    assert forced is not None and forced.label == 2 and forced.origin == (10, 20)
    assert predictor.predict_box(img, (200, 200, 300, 300)) is None
    with pytest.raises(ValueError):
        predictor.predict_box(img, (0, 0, 10, 10), label=3)


def test_empty_mask_gives_no_polygons():
    d = Detection(1, 0.9, (2.0, 3.0, 6.0, 8.0), np.zeros((5, 4), dtype=bool), (2, 3))
    assert d.to_polygons() is None
    assert not d.full_mask(10, 10).any()


def test_amp_keeps_box_decoding_in_float32_and_removes_its_hooks():
    predictor = Predictor(tiny(mask_logit=20.0), amp=True, score_threshold=0.0)
    assert predictor.amp_dtype == torch.bfloat16
    seen = {}
    model = predictor.model

    def anchors(module, args, output) -> None:
        seen["anchors"] = output[0].dtype

    def proposals(module, args) -> None:
        seen["proposals"] = args[1][0].dtype

    model.rpn.anchor_generator.register_forward_hook(anchors)
    model.roi_heads.register_forward_pre_hook(proposals)
    [dets] = predictor.predict([image(96, 128)])
    # anchors and decoded proposals stay float32 (bfloat16 would round coordinates)
    assert seen == {"anchors": torch.float32, "proposals": torch.float32}
    assert dets
    for d in dets:
        check_box_local(d, 96, 128)
    assert not model.rpn.head._forward_hooks and not model.roi_heads.box_predictor._forward_hooks
    assert Predictor(tiny()).amp_dtype is None  # off by default on the CPU


def test_images_must_be_rgb_uint8():
    predictor = Predictor(tiny())
    with pytest.raises(ValueError):
        predictor.predict([np.zeros((32, 32, 3), dtype=np.float32)])
    with pytest.raises(ValueError):
        predictor.predict([np.zeros((32, 32, 2), dtype=np.uint8)])
    gray, rgba = np.full((40, 50), 128, np.uint8), np.full((40, 50, 4), 128, np.uint8)
    assert len(predictor.predict([gray, rgba])) == 2


def test_pick_device(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module, "_mps_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA is not available"):
        pick_device("cuda")
    with pytest.raises(ValueError, match="MPS is not available"):
        pick_device("mps")
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("tpu")
    monkeypatch.setattr(device_module, "_mps_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert pick_device("auto") == torch.device("cuda")
    assert pick_device("CUDA:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match="1 CUDA device"):
        pick_device("cuda:1")


def test_describe_device(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert describe_device(torch.device("cpu")) == "CPU (2 threads)"
    assert describe_device("mps") == "Apple MPS"
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    assert describe_device(torch.device("cuda")) == "CUDA: NVIDIA H100 80GB HBM3"
