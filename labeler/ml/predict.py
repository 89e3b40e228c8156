"""Run a Mask R-CNN on images and hand back box-local masks.

torchvision's MaskRCNN.forward pastes every mask into a full-size float image (300
detections on a 12-megapixel photo: 14 GB). Predictor runs the model's own stages instead
(transform, backbone, rpn, roi_heads) and pastes each 28x28 mask the way torchvision does,
but only over its own (padded) box, on the model's device; only small boolean masks come
back to the CPU. A box prompt reuses the same RoI heads on a box the user drew.

Images come as RGB numpy arrays, or as C x H x W uint8 tensors already on the device (JPEGs
decoded there: ml.decode). On CUDA the convolutions run under bfloat16 autocast unless told
not to; `channels_last` (off by default) runs them NHWC, which tensor cores prefer.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.roi_heads import expand_boxes, expand_masks, maskrcnn_inference
from torchvision.models.detection.transform import resize_boxes

from ..core.entities import Polygons
from ..geometry.shapes import mask_to_polygons
from ..geometry.vertices import translate

Box = tuple[float, float, float, float]


@dataclass(frozen=True, eq=False)
class Detection:
    """One instance: a 1-based model label, a score, a box in image pixels and a boolean
    mask covering the integer rectangle that starts at ``origin`` (x, y).

    That rectangle is where torchvision pastes the mask: the box grown by one mask cell on
    each side (a 28x28 mask is padded to 30x30), cut to whole pixels, clipped to the image.
    So the mask may reach past ``box`` (about a pixel at threshold 0.5, up to a mask cell at
    lower thresholds), never past the image. A box prompt's mask is cut to its box."""

    label: int
    score: float
    box: Box  # x0, y0, x1, y1
    mask: np.ndarray  # bool, local to the (padded) box
    origin: tuple[int, int]  # (x, y) of mask[0, 0] in the image

    def to_polygons(self, tolerance: float = 0.5) -> Polygons | None:
        """The mask traced into image-space polygons; None when the mask is empty."""
        if not self.mask.any():
            return None
        local = mask_to_polygons(self.mask, tolerance)
        if local is None:
            return None
        shape = translate(local, float(self.origin[0]), float(self.origin[1]))
        assert isinstance(shape, Polygons)
        return shape

    def full_mask(self, height: int, width: int) -> np.ndarray:
        """The mask in a full (height, width) image: for tests and evaluation only."""
        out = np.zeros((height, width), dtype=bool)
        x, y = self.origin
        h, w = self.mask.shape
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = self.mask[y0 - y:y1 - y, x0 - x:x1 - x]
        return out


def paste_masks_in_boxes(masks: Tensor, boxes: Tensor, image_size: tuple[int, int],
                         threshold: float = 0.5) -> list[tuple[tuple[int, int], np.ndarray]]:
    """Paste (N, M, M) mask probabilities into their boxes (image pixels) and threshold them:
    [(origin (x, y), bool mask), ...] in input order, each mask covering only its own paste
    rectangle clipped to the image, with origin its top-left pixel.

    This is torchvision's paste (roi_heads.paste_masks_in_image): the mask padded by one
    zero cell (expand_masks), its box grown to match (expand_boxes) and cut to integers,
    then F.interpolate (bilinear, align_corners=False) to that integer rectangle, whose
    pixels [x0, x1] x [y0, y1] are kept where they fall in the image. Only it never builds
    the (N, H, W) image stack; it works on the masks' device and moves only the thresholded
    bool masks to the CPU."""
    count = masks.shape[0]
    if count == 0:
        return []
    height, width = image_size
    masks = masks.float()
    if boxes.dtype != torch.float64:
        boxes = boxes.float()
    padded, scale = expand_masks(masks, padding=1)
    rects = expand_boxes(boxes, scale).to(dtype=torch.int64).tolist()
    # Bilinear values never exceed the largest cell (the padding only adds zeros): a mask
    # with no cell above the threshold pastes to nothing (untrained models give many).
    live = (masks.flatten(1).amax(dim=1) > threshold).tolist()
    results = []
    for j, (x0, y0, x1, y1) in enumerate(rects):
        # the part of [x0, x1] x [y0, y1] inside the image, as paste_mask_in_image keeps it
        left, top = min(max(x0, 0), width), min(max(y0, 0), height)
        right, bottom = max(min(x1 + 1, width), left), max(min(y1 + 1, height), top)
        if not (live[j] and right > left and bottom > top):
            results.append(((left, top), np.zeros((bottom - top, right - left), dtype=bool)))
            continue
        size = (max(y1 - y0 + 1, 1), max(x1 - x0 + 1, 1))
        probs = F.interpolate(padded[j][None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
        local = probs[top - y0:bottom - y0, left - x0:right - x0] > threshold
        results.append(((left, top), local.cpu().numpy()))
    return results


def _to_float(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.float()
    if isinstance(value, (list, tuple)):
        return type(value)(_to_float(v) for v in value)
    return value


def _float_output_hook(module: torch.nn.Module, inputs: Any, output: Any) -> Any:
    return _to_float(output)


class Predictor:
    """A model on a device, ready for batches of images and for box prompts.

    The Predictor's thresholds become the model's own (roi_heads.score_thresh and, if
    given, roi_heads.detections_per_img), so there is one score filter, not two."""

    def __init__(self, model: MaskRCNN, device: torch.device | str = "cpu", *, amp: bool | None = None,
                 score_threshold: float = 0.2, mask_threshold: float = 0.5,
                 max_detections: int | None = None, channels_last: bool = False) -> None:
        if not 0.0 <= score_threshold <= 1.0 or not 0.0 <= mask_threshold <= 1.0:
            raise ValueError("score_threshold and mask_threshold must lie in [0, 1]")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.score_threshold = float(score_threshold)
        self.mask_threshold = float(mask_threshold)
        self.model.roi_heads.score_thresh = self.score_threshold
        if max_detections is not None:
            if max_detections < 1:
                raise ValueError("max_detections must be at least 1")
            self.model.roi_heads.detections_per_img = int(max_detections)
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)  # the 4-d conv weights
        self.amp_dtype: torch.dtype | None = None
        if amp if amp is not None else self.device.type == "cuda":
            self.amp_dtype = self._amp_dtype()

    def _amp_dtype(self) -> torch.dtype:
        if self.device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if self.device.type == "mps" else torch.bfloat16

    @contextmanager
    def _precision(self) -> Iterator[None]:
        """Autocast for the convolutions, but float32 out of the heads that predict box
        deltas: decoding boxes in bfloat16 rounds a 1000 px coordinate to 8 px steps."""
        if self.amp_dtype is None:
            yield
            return
        heads = (self.model.rpn.head, self.model.roi_heads.box_predictor, self.model.roi_heads.mask_predictor)
        handles = [m.register_forward_hook(_float_output_hook) for m in heads]
        try:
            with torch.autocast(self.device.type, dtype=self.amp_dtype):
                yield
        finally:
            for handle in handles:
                handle.remove()

    def _to_tensor(self, image: np.ndarray | Tensor) -> Tensor:
        if isinstance(image, Tensor):  # decoded on the device (ml.decode): C x H x W, RGB
            if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3 or image.numel() == 0:
                raise ValueError(f"image tensors must be 3 x H x W uint8 (RGB), got {image.dtype} {tuple(image.shape)}")
            return image.to(self.device).float().div_(255)
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise ValueError("images must be uint8 numpy arrays (H x W x 3, RGB)")
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        elif image.ndim == 3 and image.shape[2] == 4:
            image = image[:, :, :3]  # RGBA: the model sees colour only
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"images must be H x W x 3 RGB arrays, got shape {image.shape}")
        if not (image.flags.c_contiguous and image.flags.writeable):
            image = np.ascontiguousarray(image).copy()
        # uint8 crosses to the device (a quarter of the bytes of float), converted there
        return torch.from_numpy(image).to(self.device).permute(2, 0, 1).float().div_(255)

    def _features(self, images: Tensor) -> "OrderedDict[str, Tensor]":
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        features = self.model.backbone(images)
        if isinstance(features, Tensor):
            features = OrderedDict([("0", features)])
        if self.amp_dtype is not None:  # anchors take the features' dtype: keep them float32
            features = OrderedDict((k, v.float()) for k, v in features.items())
        return features

    def predict(self, images: Sequence[np.ndarray | Tensor]) -> list[list[Detection]]:
        """Detections for each image (RGB uint8 H x W x 3 arrays or 3 x H x W tensors, any
        sizes, one batch), best first."""
        if len(images) == 0:
            return []
        with torch.inference_mode():
            tensors = [self._to_tensor(image) for image in images]
            original = [(int(t.shape[-2]), int(t.shape[-1])) for t in tensors]
            with self._precision():
                batch, _ = self.model.transform(tensors)
                features = self._features(batch.tensors)
                proposals, _ = self.model.rpn(batch, features)
                outputs, _ = self.model.roi_heads(features, proposals, batch.image_sizes)
            resized_sizes = batch.image_sizes
            del features, proposals, batch  # the padded float batch is no longer needed
            results = []
            for out, resized, size in zip(outputs, resized_sizes, original):
                boxes = resize_boxes(out["boxes"].float(), list(resized), list(size))
                pasted = paste_masks_in_boxes(out["masks"][:, 0], boxes, size, self.mask_threshold)
                labels = out["labels"].tolist()
                scores = out["scores"].float().tolist()
                results.append([
                    Detection(int(label), float(score), tuple(box), mask, origin)  # type: ignore[arg-type]
                    for label, score, box, (origin, mask) in zip(labels, scores, boxes.tolist(), pasted)
                ])
            return results

    def predict_box(self, image: np.ndarray, box: Sequence[float], label: int | None = None
                    ) -> Detection | None:
        """Segment the object in a box the user drew: the RoI box head picks the class (best
        non-background one, unless ``label`` is given), the mask head draws its mask inside
        the box. Score: that class's probability. None when the box holds no image pixel;
        the mask may be empty (to_polygons then gives None).

        The mask is pasted as for detections, then cut to the pixels the box touches: the
        user asked for this box, and a low mask threshold would otherwise let the mask
        bleed up to a mask cell into torchvision's padding around it."""
        classes = int(self.model.roi_heads.box_predictor.cls_score.out_features)
        if label is not None and not 1 <= int(label) < classes:
            raise ValueError(f"label must lie in 1..{classes - 1}, got {label}")
        with torch.inference_mode():
            tensor = self._to_tensor(image)
            height, width = int(tensor.shape[-2]), int(tensor.shape[-1])
            x0, x1 = (min(max(v, 0.0), width) for v in sorted((float(box[0]), float(box[2]))))
            y0, y1 = (min(max(v, 0.0), height) for v in sorted((float(box[1]), float(box[3]))))
            if x1 <= x0 or y1 <= y0:
                return None
            clipped = torch.tensor([[x0, y0, x1, y1]], device=self.device)
            heads = self.model.roi_heads
            with self._precision():
                batch, _ = self.model.transform([tensor])
                features = self._features(batch.tensors)
                rois = [resize_boxes(clipped, [height, width], list(batch.image_sizes[0]))]
                pooled = heads.box_roi_pool(features, rois, batch.image_sizes)
                logits, _ = heads.box_predictor(heads.box_head(pooled))
                probs = torch.softmax(logits.float(), dim=-1)[0]
                chosen = int(label) if label is not None else int(probs[1:].argmax()) + 1
                pooled = heads.mask_roi_pool(features, rois, batch.image_sizes)
                mask_logits = heads.mask_predictor(heads.mask_head(pooled))
                labels = [torch.tensor([chosen], device=self.device)]
                mask_probs = maskrcnn_inference(mask_logits.float(), labels)[0][:, 0]
            ((ox, oy), mask), = paste_masks_in_boxes(mask_probs, clipped, (height, width), self.mask_threshold)
            left, top = max(math.floor(x0), ox), max(math.floor(y0), oy)
            right = max(min(math.ceil(x1), ox + mask.shape[1]), left)
            bottom = max(min(math.ceil(y1), oy + mask.shape[0]), top)
            mask = mask[top - oy:bottom - oy, left - ox:right - ox].copy()
            return Detection(chosen, float(probs[chosen]), (x0, y0, x1, y1), mask, (left, top))
