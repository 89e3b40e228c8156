"""Paired training augmentation: the image and its instance masks move together.

Built on torchvision.transforms.v2: the image is wrapped as tv_tensors.Image and the masks
as tv_tensors.Mask, so one call draws one set of random parameters for both, geometry
applies to both (masks with nearest-neighbour sampling) and colour to the image only.
Boxes are then derived again from the moved masks (data.drop_empty), and instances
pushed out of the frame are dropped with their labels: boxes and masks cannot disagree.

Scale jitter zooms the content about the centre on a canvas of the same size (an affine
scale). A plain resize would be undone: Mask R-CNN's own transform resizes every image to
its min_size before the backbone sees it.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2

from .data import drop_empty

PairedTransform = Callable[[Tensor, dict], tuple[Tensor, dict]]


class Paired:
    """Apply a v2 transform to (image, target) and re-derive the boxes from the masks."""

    def __init__(self, transform: Callable) -> None:
        self.transform = transform

    def __call__(self, image: Tensor, target: dict) -> tuple[Tensor, dict]:
        moved_image, masks = self.transform(tv_tensors.Image(image), tv_tensors.Mask(target["masks"]))
        return (moved_image.as_subclass(torch.Tensor),
                drop_empty({**target, "masks": masks.as_subclass(torch.Tensor)}))

    def __repr__(self) -> str:
        return f"Paired({self.transform!r})"


def train_transforms(flip: float = 0.5, scale: tuple[float, float] = (0.75, 1.25),
                     color: float = 0.2) -> PairedTransform:
    """Random horizontal flip (probability ``flip``), zoom by a factor drawn from
    ``scale``, and brightness/contrast/saturation jitter of strength ``color`` (image
    only). A setting of 0 (or a scale of (1, 1)) leaves that step out."""
    steps: list[Callable] = []
    if flip > 0:
        steps.append(v2.RandomHorizontalFlip(p=flip))
    if tuple(scale) != (1.0, 1.0):
        steps.append(v2.RandomAffine(degrees=0.0, scale=tuple(scale)))
    if color > 0:
        steps.append(v2.ColorJitter(brightness=color, contrast=color, saturation=color))
    return Paired(v2.Compose(steps) if steps else v2.Identity())
