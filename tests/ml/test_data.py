"""Accepted labels -> torchvision targets, paired transforms and the holdout rule."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from labeler import geometry
from labeler.core.entities import Polygons
from labeler.ml.data import InstanceDataset, Sample, collate, mask_boxes
from labeler.ml.synthetic import shapes_samples, shapes_scene
from labeler.ml.transforms import train_transforms


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture
def rgb_image(tmp_path) -> Path:
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[..., 0] = 200  # red, so a BGR/RGB mix-up shows
    return write_rgb(tmp_path / "red.png", rgb)


def test_target_contract(rgb_image):
    mask = np.zeros((40, 60), np.uint8)
    mask[5:9, 50:52] = 1
    shapes = (Polygons.rectangle(10, 20, 30, 35), geometry.mask_to_rle(mask))
    image, target = InstanceDataset([Sample(7, rgb_image, 60, 40, (2, 1), shapes)])[0]
    assert image.dtype == torch.float32 and image.shape == (3, 40, 60)
    assert image[0].max() == pytest.approx(200 / 255) and image[2].max() == 0
    assert target["image_id"] == 7
    assert target["labels"].dtype == torch.int64 and target["labels"].tolist() == [2, 1]
    assert target["masks"].dtype == torch.uint8 and target["masks"].shape == (2, 40, 60)
    assert target["boxes"].dtype == torch.float32
    assert target["boxes"].tolist() == [[10, 20, 30, 35], [50, 5, 52, 9]]  # pixel edges
    assert np.array_equal(target["masks"][1].numpy(), mask)


def test_images_without_instances_and_empty_masks(rgb_image):
    dataset = InstanceDataset([
        Sample(1, rgb_image, 60, 40, (), ()),
        Sample(2, rgb_image, 60, 40, (1, 3), (Polygons.rectangle(70, 50, 90, 60),  # off the image
                                                Polygons.rectangle(1, 1, 5, 5))),
    ])
    for index, count in ((0, 0), (1, 1)):
        _, target = dataset[index]
        assert target["boxes"].shape == (count, 4) and target["boxes"].dtype == torch.float32
        assert target["masks"].shape == (count, 40, 60) and target["masks"].dtype == torch.uint8
        assert target["labels"].shape == (count,) and target["labels"].dtype == torch.int64
    assert dataset[1][1]["labels"].tolist() == [3]


def test_synthetic_samples_rasterise_to_the_drawn_image(tmp_path):
    samples = shapes_samples(tmp_path, 2, width=96, height=64, seed=4)
    image, target = InstanceDataset(samples)[1]
    rgb, truth = shapes_scene(96, 64, 5)
    assert torch.equal((image * 255).round().to(torch.uint8), torch.from_numpy(rgb).permute(2, 0, 1))
    assert len(target["masks"]) == len(truth)
    drawn = torch.from_numpy((rgb != rgb[0, 0]).any(axis=2))
    assert torch.equal(target["masks"].bool().any(dim=0), drawn)


def test_bad_samples_are_refused(rgb_image):
    with pytest.raises(ValueError, match="start at 1"):
        Sample(1, rgb_image, 60, 40, (0,), (Polygons.rectangle(0, 0, 2, 2),))
    with pytest.raises(ValueError, match="labels for"):
        Sample(1, rgb_image, 60, 40, (1, 2), (Polygons.rectangle(0, 0, 2, 2),))
    with pytest.raises(ValueError, match="was the image replaced"):
        InstanceDataset([Sample(1, rgb_image, 61, 40, (), ())])[0]


def test_collate_keeps_lists(rgb_image):
    dataset = InstanceDataset([Sample(1, rgb_image, 60, 40, (), ()), Sample(2, rgb_image, 60, 40, (), ())])
    images, targets = collate([dataset[0], dataset[1]])
    assert len(images) == 2 and [t["image_id"] for t in targets] == [1, 2]


# --- transforms ------------------------------------------------------------------------

def one_box_target(width: int = 12, height: int = 10) -> dict:
    masks = torch.zeros((1, height, width), dtype=torch.uint8)
    masks[0, 2:5, 1:4] = 1
    return {"boxes": mask_boxes(masks), "labels": torch.tensor([2]), "masks": masks, "image_id": 1}


def test_flip_moves_mask_and_box_together():
    target = one_box_target()
    image = torch.rand(3, 10, 12)
    flipped, out = train_transforms(flip=1.0, scale=(1.0, 1.0), color=0.0)(image, target)
    assert torch.equal(flipped, image.flip(-1))
    assert torch.equal(out["masks"], target["masks"].flip(-1))
    assert out["boxes"].tolist() == [[8.0, 2.0, 11.0, 5.0]]
    assert out["labels"].tolist() == [2] and out["image_id"] == 1


def test_random_transforms_keep_image_masks_and_boxes_aligned():
    torch.manual_seed(0)
    masks = torch.zeros((2, 64, 80), dtype=torch.uint8)
    masks[0, 10:30, 5:25] = 1
    masks[1, 40:60, 50:78] = 1
    image = masks.any(dim=0).float().expand(3, -1, -1).clone()  # the objects are white
    target = {"boxes": mask_boxes(masks), "labels": torch.tensor([1, 3]), "masks": masks, "image_id": 5}
    transform = train_transforms(flip=0.5, scale=(0.6, 1.4), color=0.0)
    for _ in range(20):
        moved, out = transform(image, target)
        assert moved.shape == (3, 64, 80) and out["masks"].shape[1:] == (64, 80)
        assert len(out["masks"]) == len(out["boxes"]) == len(out["labels"]) >= 1
        assert torch.equal(out["boxes"], mask_boxes(out["masks"]))
        union = out["masks"].bool().any(dim=0)
        white = moved[0] > 0.5
        iou = (union & white).sum() / (union | white).sum()
        assert iou > 0.9  # nearest (masks) and bilinear (image) sampling differ at edges only


def test_colour_jitter_changes_the_image_only():
    torch.manual_seed(1)
    target = one_box_target()
    image = torch.rand(3, 10, 12)
    moved, out = train_transforms(flip=0.0, scale=(1.0, 1.0), color=0.5)(image, target)
    assert not torch.equal(moved, image) and moved.min() >= 0 and moved.max() <= 1
    assert torch.equal(out["masks"], target["masks"]) and torch.equal(out["boxes"], target["boxes"])


def test_transforms_accept_empty_targets():
    empty = {"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64),
             "masks": torch.zeros((0, 10, 12), dtype=torch.uint8), "image_id": 3}
    for _ in range(5):
        _, out = train_transforms(flip=0.5, scale=(0.5, 1.5))(torch.rand(3, 10, 12), empty)
        assert out["boxes"].shape == (0, 4) and out["masks"].shape == (0, 10, 12)
        assert out["labels"].shape == (0,)


def test_objects_zoomed_out_of_the_frame_are_dropped():
    masks = torch.zeros((1, 100, 100), dtype=torch.uint8)
    masks[0, 0:3, 0:3] = 1  # in the corner: a 2x zoom about the centre pushes it out
    target = {"boxes": mask_boxes(masks), "labels": torch.tensor([1]), "masks": masks, "image_id": 1}
    _, out = train_transforms(flip=0.0, scale=(2.0, 2.0), color=0.0)(torch.rand(3, 100, 100), target)
    assert len(out["masks"]) == len(out["labels"]) == len(out["boxes"]) == 0

