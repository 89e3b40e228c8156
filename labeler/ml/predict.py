"""Run a Mask R-CNN on images and hand back box-local masks.

torchvision's MaskRCNN.forward pastes every mask into a full-size float image (300
detections on a 12-megapixel photo: 14 GB). Predictor runs the model's own stages instead
(transform, backbone, rpn, roi_heads) and pastes each 28x28 mask only over its own box,
on the model's device, a bounded number of pixels at a time; only small boolean masks come
back to the CPU. A box prompt reuses the same RoI heads on a box the user drew.
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.roi_heads import maskrcnn_inference
from torchvision.models.detection.transform import resize_boxes

from ..core.entities import Polygons
from ..geometry.shapes import mask_to_polygons
from ..geometry.vertices import translate

Box = tuple[float, float, float, float]

# Pixels pasted per step (float32: 64 MB of output), so memory stays flat however many
# detections there are and however large the image is.
PASTE_CHUNK_PIXELS = 1 << 24


@dataclass(frozen=True, eq=False)
class Detection:
    """One instance: a 1-based model label, a score, a box in image pixels and a boolean
    mask covering the integer rectangle that starts at ``origin`` (x, y)."""

    label: int
    score: float
    box: Box  # x0, y0, x1, y1
    mask: np.ndarray  # bool, box-local
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


def integer_boxes(boxes: Tensor, height: int, width: int) -> Tensor:
    """The pixel rectangles [x0, y0, x1, y1) that boxes touch, clipped to the image (int64)."""
    lo = boxes[:, :2].floor()
    hi = boxes[:, 2:].ceil()
    limit = boxes.new_tensor([width, height])
    return torch.cat([torch.minimum(lo.clamp(min=0), limit),
                      torch.minimum(hi.clamp(min=0), limit)], dim=1).long()


def _bilinear_weights(start: Tensor, lo: Tensor, size: Tensor, count: int, cells: int) -> Tensor:
    """(n, count, cells) weights that resample ``cells`` mask cells spanning [lo, lo + size)
    at the centres of the pixels start, start + 1, ...: the triangle kernel of bilinear
    interpolation, zero outside the mask (grid_sample's align_corners=False, zero padding)."""
    centres = start[:, None] + torch.arange(count, device=start.device, dtype=torch.float32) + 0.5
    u = (centres - lo[:, None]) / size.clamp(min=1e-6)[:, None] * cells - 0.5
    taps = torch.arange(cells, device=start.device, dtype=torch.float32)
    return (1 - (u[:, :, None] - taps).abs()).clamp_(min=0)


def _chunks(order: list[int], spans: list[list[int]], budget: int) -> Iterator[list[int]]:
    """Consecutive runs of ``order`` whose padded (count x max h x max w) size fits ``budget``."""
    chunk: list[int] = []
    max_h = max_w = 1
    for i in order:
        w, h = spans[i]
        grown_h, grown_w = max(max_h, h, 1), max(max_w, w, 1)
        if chunk and (len(chunk) + 1) * grown_h * grown_w > budget:
            yield chunk
            chunk, grown_h, grown_w = [], max(h, 1), max(w, 1)
        chunk.append(i)
        max_h, max_w = grown_h, grown_w
    if chunk:
        yield chunk


def paste_masks_in_boxes(masks: Tensor, boxes: Tensor, image_size: tuple[int, int],
                         threshold: float = 0.5, chunk_pixels: int = PASTE_CHUNK_PIXELS
                         ) -> list[tuple[tuple[int, int], np.ndarray]]:
    """Paste (N, M, M) mask probabilities into their boxes (image pixels) and threshold them,
    each only over its own integer box: [(origin (x, y), bool mask), ...] in input order.

    Bilinear resampling is separable, so each mask is resampled as two small matrix products
    (A_y @ mask @ A_x^T); this gives grid_sample's values (tests check it) at a fraction of
    its cost on the CPU, where building a sampling grid per output pixel dominates."""
    count = masks.shape[0]
    if count == 0:
        return []
    height, width = image_size
    boxes = boxes.float()
    ints = integer_boxes(boxes, height, width)
    ints_list = ints.tolist()
    spans = [[max(x1 - x0, 0), max(y1 - y0, 0)] for x0, y0, x1, y1 in ints_list]
    results = [((x0, y0), np.zeros((h, w), dtype=bool))
               for (x0, y0, _, _), (w, h) in zip(ints_list, spans)]
    # Bilinear values never exceed the largest cell: a mask with no cell above the threshold
    # pastes to nothing and costs nothing (untrained models give many of those).
    live = (masks.flatten(1).amax(dim=1) > threshold).tolist()
    order = sorted((j for j in range(count) if live[j]), key=lambda j: spans[j][0] * spans[j][1],
                   reverse=True)
    for chunk in _chunks(order, spans, chunk_pixels):
        max_w = max(spans[j][0] for j in chunk)
        max_h = max(spans[j][1] for j in chunk)
        if not (max_h and max_w):
            continue
        idx = torch.tensor(chunk, device=masks.device)
        b, start = boxes[idx], ints[idx, :2].float()
        cells = masks.shape[-1]
        ay = _bilinear_weights(start[:, 1], b[:, 1], b[:, 3] - b[:, 1], max_h, cells)
        ax = _bilinear_weights(start[:, 0], b[:, 0], b[:, 2] - b[:, 0], max_w, cells)
        binary = (torch.bmm(torch.bmm(ay, masks[idx].float()), ax.transpose(1, 2)) > threshold).cpu().numpy()
        for k, j in enumerate(chunk):
            w, h = spans[j]
            results[j] = (results[j][0], binary[k, :h, :w].copy())
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
                 max_detections: int | None = None) -> None:
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

    def _to_tensor(self, image: np.ndarray) -> Tensor:
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
        features = self.model.backbone(images)
        if isinstance(features, Tensor):
            features = OrderedDict([("0", features)])
        if self.amp_dtype is not None:  # anchors take the features' dtype: keep them float32
            features = OrderedDict((k, v.float()) for k, v in features.items())
        return features

    def predict(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections for each image (RGB uint8 H x W x 3, any sizes, one batch), best first."""
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
        the mask may be empty (to_polygons then gives None)."""
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
            (origin, mask), = paste_masks_in_boxes(mask_probs, clipped, (height, width), self.mask_threshold)
            return Detection(chosen, float(probs[chosen]), (x0, y0, x1, y1), mask, origin)
