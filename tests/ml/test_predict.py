"""Predictor on the tiny model (no weights): box-local masks, batches, a 12-megapixel image,
box prompts; the mask paste against torchvision's own paste_masks_in_image; devices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.models.detection.roi_heads import expand_boxes, paste_masks_in_image

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


def paste_rect(box, height: int, width: int) -> tuple[int, int, int, int]:
    """Where torchvision pastes a 28x28 mask for ``box``: the box grown by one cell a side,
    cut to integers, pixels [x0, x1] x [y0, y1]; as [x0, y0, x1, y1) clipped to the image."""
    x0, y0, x1, y1 = expand_boxes(torch.tensor([box], dtype=torch.float32), 30 / 28).long()[0].tolist()
    left, top = min(max(x0, 0), width), min(max(y0, 0), height)
    return left, top, max(min(x1 + 1, width), left), max(min(y1 + 1, height), top)


def check_box_local(d: Detection, height: int, width: int) -> None:
    x0, y0, x1, y1 = paste_rect(d.box, height, width)
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
        # probability ~1 everywhere: the zero padding cell cuts the mask at the box edges,
        # give or take the pixel torchvision's integer paste rectangle may shift them by
        xs = d.origin[0] + np.arange(d.mask.shape[1]) + 0.5
        ys = d.origin[1] + np.arange(d.mask.shape[0]) + 0.5
        slack = 1.5
        inside = ((ys[:, None] > d.box[1] - slack) & (ys[:, None] < d.box[3] + slack)
                  & (xs > d.box[0] - slack) & (xs < d.box[2] + slack))
        core = ((ys[:, None] > d.box[1] + slack) & (ys[:, None] < d.box[3] - slack)
                & (xs > d.box[0] + slack) & (xs < d.box[2] - slack))
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
        x0, y0, x1, y1 = paste_rect(d.box, height, width)
        assert d.mask.shape == (y1 - y0, x1 - x0)
        # bounded by the box grown by one 28th a side and a pixel for rounding, never the image
        bw, bh = (d.box[2] - d.box[0]) * 30 / 28 + 2, (d.box[3] - d.box[1]) * 30 / 28 + 2
        assert d.mask.size <= bw * bh
        assert d.mask.any()


def full_image(pasted, height: int, width: int) -> np.ndarray:
    out = np.zeros((len(pasted), height, width), dtype=bool)
    for k, ((ox, oy), mask) in enumerate(pasted):
        assert mask.dtype == bool
        assert 0 <= ox <= width and 0 <= oy <= height
        assert ox + mask.shape[1] <= width and oy + mask.shape[0] <= height  # clipped to the image
        out[k, oy:oy + mask.shape[0], ox:ox + mask.shape[1]] = mask
    return out


@pytest.mark.parametrize("seed", range(4))
def test_paste_equals_torchvision_paste_masks_in_image(seed):
    torch.manual_seed(seed)
    height, width, count = 60, 80, 40
    masks = torch.rand(count, 28, 28)
    masks[::5] *= 0.25  # no cell above the threshold: skipped, must still paste to nothing
    xy = torch.rand(count, 2) * torch.tensor([width + 40.0, height + 40.0]) - 20  # some poke out
    wh = torch.rand(count, 2) * 70 + 0.2
    boxes = torch.cat([xy, xy + wh], dim=1)
    boxes[-1] = torch.tensor([-30.0, -25.0, -5.0, -2.0])  # wholly outside
    boxes[-2] = torch.tensor([10.0, 200.0, 50.0, 260.0])
    # torchvision's own paste slices a box wholly outside the image with a negative index
    # (which wraps around): compare with it where the box meets the image, expect nothing else
    rects = expand_boxes(boxes, 30 / 28).long()
    sane = ((rects[:, :2] < torch.tensor([width, height])) & (rects[:, 2:] >= 0)).all(dim=1)
    assert not sane.all()
    for threshold in (0.5, 0.3):
        pasted = paste_masks_in_boxes(masks, boxes, (height, width), threshold=threshold)
        assert len(pasted) == count
        theirs = paste_masks_in_image(masks[sane, None], boxes[sane], (height, width))[:, 0] > threshold
        ours = full_image(pasted, height, width)
        assert np.array_equal(ours[sane.numpy()], theirs.numpy())
        assert not ours[~sane.numpy()].any()
        for box, ((ox, oy), mask) in zip(boxes.tolist(), pasted):
            x0, y0, x1, y1 = paste_rect(box, height, width)
            assert (ox, oy) == (x0, y0) and mask.shape == (y1 - y0, x1 - x0)
        assert not any(mask.any() for _, mask in pasted[::5])
    assert paste_masks_in_boxes(masks[:0], boxes[:0], (height, width)) == []


def test_paste_agrees_with_torchvision_paste_on_a_large_image():
    torch.manual_seed(7)
    height, width = 300, 400
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    disk = (((xx - 13.5) ** 2 + (yy - 13.5) ** 2) < 11 ** 2).float()[None]
    masks = torch.cat([disk, torch.rand(5, 28, 28)])
    boxes = torch.tensor([[40.3, 30.7, 190.2, 130.1], [-50.5, -20.2, 120.9, 80.4],
                          [350.1, 250.7, 460.3, 330.0], [0.0, 0.0, 400.0, 300.0],
                          [100.2, 100.9, 101.1, 101.3], [-3.7, 280.2, 12.6, 299.9]])
    pasted = paste_masks_in_boxes(masks, boxes, (height, width))
    theirs = (paste_masks_in_image(masks[:, None], boxes, (height, width))[:, 0] > 0.5).numpy()
    ours = full_image(pasted, height, width)
    for a, b in zip(ours, theirs):
        union = (a | b).sum()
        assert union == 0 or (a & b).sum() / union > 0.99
    assert np.array_equal(ours, theirs)


def test_predict_box_keeps_the_mask_in_the_box():
    img = image(128, 128)
    predictor = Predictor(tiny(mask_logit=20.0))
    d = predictor.predict_box(img, (10, 20, 70.5, 100))
    assert d is not None and d.label in (1, 2) and 0 < d.score <= 1
    # pasted over torchvision's padded rectangle, then cut to the pixels the box touches
    assert d.box == (10, 20, 70.5, 100) and d.origin == (10, 20) and d.mask.shape == (80, 61)
    assert d.mask.any()
    polygons = d.to_polygons()
    assert isinstance(polygons, Polygons)
    pts = np.array([p for part in polygons.parts for ring in part for p in ring])
    assert pts[:, 0].min() >= 10 and pts[:, 0].max() <= 71
    assert pts[:, 1].min() >= 20 and pts[:, 1].max() <= 100
    local = mask_to_polygons(d.mask)
    assert local is not None
    assert np.allclose(pts, np.array([p for part in local.parts for ring in part for p in ring]) + d.origin)
    forced = predictor.predict_box(img, (70, 100, 10, 20), label=2)  # corners in any order
    assert forced is not None and forced.label == 2 and forced.origin == d.origin
    assert predictor.predict_box(img, (200, 200, 300, 300)) is None
    # threshold 0: every pixel the padded paste reaches is in, but only the box's are kept
    loose = Predictor(tiny(mask_logit=0.0), mask_threshold=0.0).predict_box(img, (10.2, 20.7, 70.5, 100))
    assert loose is not None and loose.origin == (10, 20) and loose.mask.shape == (80, 61)
    assert loose.mask.all()
    edge = Predictor(tiny(mask_logit=20.0)).predict_box(img, (-5, 100, 40, 200))  # clipped to the image
    assert edge is not None and edge.box == (0, 100, 40, 128) and edge.origin == (0, 100)
    assert edge.mask.shape == (28, 40) and edge.mask.any()
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
