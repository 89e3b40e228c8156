"""A promptable segmentation model: SAM 2.1 through Hugging Face transformers.

The predictor pattern of SAM: `embed(image)` runs the image encoder once (seconds on a CPU,
cacheable per image), then `segment(embedding, box, clicks)` answers each prompt from the
embedding with the prompt encoder and mask decoder alone (tens of milliseconds). No Qt.

Why this implementation (README, "Assisted masks"): transformers' `Sam2Model` is a
well-kept, pure-Python wheel on top of the torch labeler already has (about 20 MB with
its dependencies), its weights come from the Hugging Face hub into its usual cache with
progress, and a tiny random configuration runs the real forward pass in CI. Meta's `sam2`
package pulls hydra and iopath and compiles a CUDA extension; an ONNX runtime needs
exported files that Meta does not publish. Only SAM 2.1 checkpoints are offered: they are
Apache-2.0 (EdgeSAM is non-commercial, SAM 3 has its own licence). The default is the tiny
one: on a 2-core CPU its encoder takes about 3 s per image and a click about 50 ms
(benchmarks/prompt_latency.py).

Prompt coordinates are labeler's: image pixels, pixel i covering [i, i + 1). Masks come
back as assist.masks.CropMask (only the rectangle the mask covers, cheap for 12 MP photos),
made from the decoder's low-resolution logits by one affine warp, the same bilinear
sampling as the processor's `post_process_masks` but without upsampling the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch

from ..assist.masks import CropMask
from ..core.errors import OptionError
from ..prompt_weights import (  # noqa: F401 - where the weights are is torch-free, for the window
    DEFAULT_PROMPT_MODEL, MODELS, PROCESSOR_FILES, WeightsMissing, missing_hint, model_folder, resolve_weights,
)

RANDOM = "random:"  # "random:tiny" (tests) or "random:sam2.1-tiny"...: the architecture, random weights
TINY_RANDOM = RANDOM + "tiny"  # a 0.1 M-parameter SAM 2.1: every layer of the real forward pass, in milliseconds

Click = tuple[float, float, bool]  # x, y (image pixels), positive


@dataclass
class Embedding:
    """One image's encoder output, on the model's device."""

    features: list[torch.Tensor]
    image_size: tuple[int, int]  # the full image (height, width) that prompts refer to

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.features)

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """For the disk cache (safetensors): float16 on the CPU, half the size, no pickle."""
        out = {f"f{i}": t.detach().to("cpu", torch.float16).contiguous() for i, t in enumerate(self.features)}
        out["size"] = torch.tensor(self.image_size, dtype=torch.int64)
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], device: torch.device) -> Embedding:
        count = sum(1 for k in tensors if k.startswith("f"))
        features = [tensors[f"f{i}"].to(device, torch.float32) for i in range(count)]
        h, w = (int(v) for v in tensors["size"])
        return cls(features, (h, w))


@dataclass(frozen=True)
class Candidate:
    mask: CropMask
    score: float  # the model's own estimate of the mask's IoU


# The Hiera image encoders of the four SAM 2.1 sizes (Meta's sam2.1_hiera_*.yaml); the rest is shared.
_HIERA = {
    "sam2.1-tiny": dict(embed=96, heads=1, blocks=[1, 2, 7, 2], globals_=[5, 7, 9], windows=[8, 4, 14, 7], background=7),
    "sam2.1-small": dict(embed=96, heads=1, blocks=[1, 2, 11, 2], globals_=[7, 10, 13], windows=[8, 4, 14, 7],
                         background=7),
    "sam2.1-base-plus": dict(embed=112, heads=2, blocks=[2, 3, 16, 3], globals_=[12, 16, 20], windows=[8, 4, 14, 7],
                             background=14),
    "sam2.1-large": dict(embed=144, heads=2, blocks=[2, 6, 36, 4], globals_=[23, 33, 43], windows=[8, 4, 16, 8],
                         background=7),
}


def random_model(name: str, seed: int = 0):
    """A SAM 2.1 model of the named size ("tiny": a shrunk one for tests, 128-px input, an
    8-channel first stage), randomly initialised: the same work as the real weights, none of
    the skill. For tests and latency figures on machines without the weights."""
    from transformers import (Sam2Config, Sam2HieraDetConfig, Sam2MaskDecoderConfig, Sam2Model,
                              Sam2PromptEncoderConfig, Sam2VisionConfig)

    torch.manual_seed(seed)
    if name != "tiny":
        if name not in _HIERA:
            raise OptionError(f"unknown SAM 2.1 size {name!r} (known: tiny, {', '.join(_HIERA)})")
        h = _HIERA[name]
        dims = [h["embed"] * 2 ** i for i in range(4)]
        backbone = Sam2HieraDetConfig(
            hidden_size=h["embed"], embed_dim_per_stage=dims, blocks_per_stage=h["blocks"],
            num_attention_heads_per_stage=[h["heads"] * 2 ** i for i in range(4)],
            global_attention_blocks=h["globals_"], window_size_per_stage=h["windows"],
            window_positional_embedding_background_size=[h["background"]] * 2)
        return Sam2Model(Sam2Config(vision_config=Sam2VisionConfig(backbone_config=backbone,
                                                                   backbone_channel_list=dims[::-1])))
    size = 128
    backbone = Sam2HieraDetConfig(
        hidden_size=8, embed_dim_per_stage=[8, 16, 32, 64], blocks_per_stage=[1, 1, 2, 1],
        num_attention_heads_per_stage=[1, 1, 1, 1], global_attention_blocks=[3],
        window_size_per_stage=[4, 4, 2, 2], window_positional_embedding_background_size=[2, 2],
        image_size=[size, size])
    vision = Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[64, 32, 16, 8],
                              backbone_feature_sizes=[[size // s, size // s] for s in (4, 8, 16)],
                              fpn_hidden_size=32)
    config = Sam2Config(vision_config=vision,
                        prompt_encoder_config=Sam2PromptEncoderConfig(hidden_size=32, image_size=size, patch_size=16),
                        mask_decoder_config=Sam2MaskDecoderConfig(hidden_size=32, mlp_dim=64, num_attention_heads=2,
                                                                  iou_head_hidden_dim=32))
    return Sam2Model(config)


class PromptModel:
    def __init__(self, model, processor, device: torch.device, name: str) -> None:
        self.model = model.to(device).eval()
        self.processor = processor
        self.device = device
        self.name = name

    @classmethod
    def load(cls, source: str | None = None, *, device: torch.device | str = "cpu", allow_download: bool = True,
             tqdm_class=None) -> PromptModel:
        """The model named by `source` (see resolve_weights; RANDOM + a size for random weights)."""
        from transformers import Sam2ImageProcessor, Sam2Model, Sam2Processor

        device = torch.device(device)
        if source and source.startswith(RANDOM):
            model = random_model(source[len(RANDOM):])
            size = model.config.prompt_encoder_config.image_size
            processor = Sam2Processor(image_processor=Sam2ImageProcessor(
                size={"height": size, "width": size}, mask_size={"height": size // 4, "width": size // 4}))
            return cls(model, processor, device, source)
        name, folder = resolve_weights(source, allow_download, tqdm_class)
        model = Sam2Model.from_pretrained(folder)
        if any((folder / f).is_file() for f in PROCESSOR_FILES):
            processor = Sam2Processor.from_pretrained(folder)
        else:
            processor = Sam2Processor(image_processor=Sam2ImageProcessor())
        return cls(model, processor, device, name)

    @torch.inference_mode()
    def embed(self, rgb: np.ndarray, image_size: tuple[int, int] | None = None) -> Embedding:
        """Encode one RGB uint8 image. `image_size`: the full image's (height, width) when
        `rgb` was decoded smaller (the encoder sees 1024 px either way)."""
        inputs = self.processor(images=rgb, return_tensors="pt")
        features = self.model.get_image_embeddings(inputs["pixel_values"].to(self.device))
        return Embedding(list(features), tuple(image_size or rgb.shape[:2]))

    @torch.inference_mode()
    def segment(self, embedding: Embedding, box: Sequence[float] | None = None, clicks: Sequence[Click] = (),
                multimask: bool | None = None) -> list[Candidate]:
        """Masks for a box (x0, y0, x1, y1) and/or clicks, best first. `multimask` (default:
        when the prompt is ambiguous, a box or one click alone) asks for SAM's three
        candidates (whole, part, sub-part) instead of one."""
        if box is None and not clicks:
            raise ValueError("a prompt needs a box or at least one click")
        if multimask is None:
            multimask = len(clicks) <= 1 if box is None else not clicks
        h, w = embedding.image_size
        kwargs: dict = {"original_sizes": [[h, w]], "return_tensors": "pt"}
        if clicks:
            kwargs["input_points"] = [[[[x, y] for x, y, _ in clicks]]]
            kwargs["input_labels"] = [[[1 if positive else 0 for _, _, positive in clicks]]]
        if box is not None:
            kwargs["input_boxes"] = [[list(map(float, box))]]
        prompt = self.processor(**kwargs)
        out = self.model(image_embeddings=embedding.features, multimask_output=multimask,
                         **{k: prompt[k].to(self.device) for k in ("input_points", "input_labels", "input_boxes")
                            if k in prompt})
        logits = out.pred_masks[0, 0].float().cpu().numpy()  # (candidates, h', w')
        scores = out.iou_scores[0, 0].float().cpu().numpy()
        order = np.argsort(-scores, kind="stable")
        return [Candidate(logits_to_mask(logits[k], (h, w)), float(scores[k])) for k in order]


def logits_to_mask(logits: np.ndarray, image_size: tuple[int, int]) -> CropMask:
    """The decoder's low-resolution logits (covering the whole image, resized to a square) as
    the mask over the image: bilinear like F.interpolate(align_corners=False), logit > 0,
    computed only over the rectangle where the low-resolution mask is on."""
    h, w = image_size
    lh, lw = logits.shape
    on = np.argwhere(logits > 0)
    if not len(on):
        return CropMask(np.zeros((0, 0), np.uint8), 0, 0, image_size)
    sy, sx = h / lh, w / lw  # image pixels per logit cell
    (r0, c0), (r1, c1) = on.min(0), on.max(0)
    x0, y0 = max(0, int(np.floor((c0 - 0.5) * sx))), max(0, int(np.floor((r0 - 0.5) * sy)))
    x1, y1 = min(w, int(np.ceil((c1 + 1.5) * sx))), min(h, int(np.ceil((r1 + 1.5) * sy)))
    # output pixel (x, y) of the crop samples the logits at ((x0 + x + 0.5) / sx - 0.5, ...)
    warp = np.array([[1 / sx, 0, (x0 + 0.5) / sx - 0.5], [0, 1 / sy, (y0 + 0.5) / sy - 0.5]], np.float64)
    crop = cv2.warpAffine(logits.astype(np.float32), warp, (x1 - x0, y1 - y0),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return CropMask((crop > 0).astype(np.uint8), x0, y0, image_size)


class PromptSegmenter:
    """The assist model behind the box-then-clicks interface of assist.grabcut's segmenter
    (`start`, `add_click`, `undo_click`), for `labeler simulate --assist sam` and
    benchmarks/assist.py: the box and every click so far are one prompt, answered from the
    image's embedding (the last image's is kept, so every instance of an image shares it);
    the box alone takes SAM's best of three candidates, as the window shows first."""

    def __init__(self, model: PromptModel) -> None:
        self.model = model
        self._image_key: tuple | None = None
        self._embedding: Embedding | None = None
        self.box: tuple[float, float, float, float] | None = None
        self.clicks: list[Click] = []

    def start(self, image: np.ndarray, box) -> CropMask:
        """`image`: H x W x 3 BGR uint8 (as OpenCV decodes it)."""
        import hashlib

        key = (image.shape, hashlib.sha1(np.ascontiguousarray(image).data).hexdigest())
        if key != self._image_key:
            self._embedding = self.model.embed(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            self._image_key = key
        self.box, self.clicks = tuple(map(float, box)), []
        return self.mask

    def add_click(self, x: float, y: float, positive: bool) -> CropMask:
        self.clicks.append((float(x), float(y), bool(positive)))
        return self.mask

    def undo_click(self) -> CropMask:
        if self.clicks:
            self.clicks.pop()
        return self.mask

    @property
    def mask(self) -> CropMask:
        if self._embedding is None:
            raise RuntimeError("start() first")
        return self.model.segment(self._embedding, self.box, self.clicks)[0].mask


REFINE_MIN_SCORE = 0.8  # the assist model's own IoU estimate a refined mask needs...
REFINE_MIN_AGREEMENT = 0.5  # ...and its mask IoU with the detector's: the same object, better drawn


def refine_detections(model: PromptModel, rgb: np.ndarray, detections: list) -> tuple[list, int]:
    """Mask R-CNN's detections on one image (ml.predict.Detection, image pixels of `rgb`)
    with each mask replaced by the assist model's answer to its box, where that answer is the
    better mask: SAM's best candidate is kept when SAM itself rates it at REFINE_MIN_SCORE or
    more and it covers the same object (mask IoU with the detector's mask at least
    REFINE_MIN_AGREEMENT); otherwise the detector's mask stays. Returns the detections and
    how many were refined. Label, score and box are the detector's either way."""
    from dataclasses import replace

    if not detections:
        return detections, 0
    embedding = model.embed(rgb)
    h, w = embedding.image_size
    out, refined = [], 0
    for det in detections:
        best = model.segment(embedding, det.box, multimask=True)[0]
        theirs = det.full_mask(h, w)
        ours = best.mask.full().astype(bool)
        union = np.count_nonzero(theirs | ours)
        agreement = np.count_nonzero(theirs & ours) / union if union else 0.0
        if best.score >= REFINE_MIN_SCORE and agreement >= REFINE_MIN_AGREEMENT and best.mask.area:
            out.append(replace(det, mask=best.mask.mask.astype(bool), origin=(best.mask.x, best.mask.y)))
            refined += 1
        else:
            out.append(det)
    return out, refined
