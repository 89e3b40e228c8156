"""Accepted labels -> torchvision detection samples.

The target follows torchvision's detection contract: boxes float32 xyxy [N, 4], labels
int64 [N] (1-based, 0 is the background), masks uint8 [N, H, W], plus the image id.
Boxes are derived from the rasterised masks, so the two always agree; they run along
pixel edges (a mask over pixel columns 10..20 has x0 = 10, x1 = 21, as COCO's xywh box
10 + 11), which also keeps a one-pixel object from having a zero-width box that
torchvision's Mask R-CNN would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from torchvision.ops import masks_to_boxes

from ..core.entities import Shape
from ..imaging import decode_image
from ..geometry import to_mask


@dataclass(frozen=True)
class Sample:
    """One labeled image: where it is, its size, and its instances (model labels and
    shapes in full-image pixels, in the same order)."""

    image_id: int
    path: Path
    width: int
    height: int
    labels: tuple[int, ...]  # 1-based model labels
    shapes: tuple[Shape, ...]  # Polygons | MaskRLE, full-image pixels

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.shapes):
            raise ValueError(f"image {self.image_id}: {len(self.labels)} labels for {len(self.shapes)} shapes")
        if any(label < 1 for label in self.labels):
            raise ValueError(f"image {self.image_id}: model labels start at 1 (0 is the background)")


def mask_boxes(masks: Tensor) -> Tensor:
    """float32 xyxy boxes [N, 4] along the pixel edges of non-empty masks [N, H, W]."""
    if masks.shape[0] == 0:
        return torch.zeros((0, 4), dtype=torch.float32)
    boxes = masks_to_boxes(masks).float()
    boxes[:, 2:] += 1  # masks_to_boxes gives the last pixel's index; the box ends past it
    return boxes


def drop_empty(target: dict) -> dict:
    """The target without instances whose mask has no pixel, boxes recomputed from masks."""
    masks = target["masks"]
    keep = (masks.flatten(1) != 0).any(dim=1)
    masks = masks[keep]
    return {**target, "boxes": mask_boxes(masks), "labels": target["labels"][keep], "masks": masks}


class InstanceDataset(torch.utils.data.Dataset):
    """(image float32 [3, H, W] in 0..1, target) for each sample; an image without
    instances gives an empty target (torchvision's Mask R-CNN trains on negatives)."""

    def __init__(self, samples: Sequence[Sample],
                 transform: Callable[[Tensor, dict], tuple[Tensor, dict]] | None = None) -> None:
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, dict]:
        sample = self.samples[index]
        pixels = decode_image(sample.path)
        height, width = pixels.shape[:2]
        if (width, height) != (sample.width, sample.height):
            raise ValueError(f"{sample.path}: the file is {width}x{height}, the project says "
                             f"{sample.width}x{sample.height} (was the image replaced?)")
        rgb = np.ascontiguousarray(pixels[:, :, ::-1])
        image = torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255)
        masks = np.zeros((len(sample.shapes), height, width), np.uint8)
        for k, shape in enumerate(sample.shapes):
            masks[k] = to_mask(shape, height, width)
        target = drop_empty({
            "masks": torch.from_numpy(masks),
            "labels": torch.tensor(sample.labels, dtype=torch.int64),
            "image_id": sample.image_id,
        })
        if self.transform is not None:
            image, target = self.transform(image, target)
        return image, target


def collate(batch: Sequence[tuple[Tensor, dict]]) -> tuple:
    """Lists of images and targets (sizes differ; the model batches them itself)."""
    return tuple(zip(*batch))

