"""The models labeler can train and run: what each one is (name, default config, the COCO
weights that fit it and the categories they know) and how to build it (name, config,
class count -> a MaskRCNN without weights).

Every model is a torchvision MaskRCNN, so training, prediction and checkpoints handle them
all the same way; a model differs only in how it is built. Builders never load weights
(weights.py decides where weights come from), so building is offline and deterministic.

All backbones use ordinary BatchNorm2d and are fully trainable: a model that starts from
no weights at all needs its normalisation layers. A trainer fine-tuning COCO weights with
small batches may want to put the backbone's BatchNorm layers in eval mode.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn
from torchvision.models.detection import (
    FasterRCNN_MobileNet_V3_Large_FPN_Weights,
    MaskRCNN,
    MaskRCNN_ResNet50_FPN_V2_Weights,
    maskrcnn_resnet50_fpn_v2,
)
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import mobilenet_backbone
from torchvision.models.detection.faster_rcnn import FasterRCNN, FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from ..core.coco_classes import COCO_CATEGORIES
from ..core.coco_classes import match_coco_classes as coco_class_map  # noqa: F401 - part of this module's API
from ..core.errors import OptionError


@dataclass(frozen=True)
class ModelSpec:
    """What the app needs to know about one model; see MODELS."""

    name: str
    description: str
    build: Callable[..., MaskRCNN]  # build(num_classes, **config), no weights at all
    defaults: dict[str, Any] = field(default_factory=dict)
    coco_weights: object | None = None  # torchvision WeightsEnum member fitting this architecture
    coco_has_mask_head: bool = True  # False: those weights are box-only, the mask head stays fresh

    def create(self, num_classes: int, **overrides: Any) -> MaskRCNN:
        """A fresh model (no weights loaded, nothing downloaded) with ``num_classes`` outputs,
        background included, built with the defaults and ``overrides``. The config used is
        kept on the model as ``labeler_config`` so that a checkpoint can record it."""
        if num_classes < 2:
            raise OptionError(f"a model needs at least one class besides the background (num_classes={num_classes})")
        config = {**self.defaults, **overrides}
        unknown = sorted(set(config) - CONFIG_KEYS)
        if unknown:
            raise OptionError(f"unknown config for model {self.name!r}: {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(CONFIG_KEYS))})")
        try:
            model = self.build(num_classes, **config)
        except TypeError as exc:  # an unknown config key surfaces as an unexpected keyword
            raise OptionError(f"bad config for model {self.name!r}: {exc}") from exc
        model.labeler_config = dict(config)
        return model

    @property
    def coco_url(self) -> str | None:
        """Where torchvision downloads its COCO weights from; None when it has none."""
        return self.coco_weights.url if self.coco_weights is not None else None  # type: ignore[attr-defined]

    @property
    def coco_categories(self) -> tuple[str, ...]:
        """The categories of its COCO weights (index = model label), from their meta; COCO's
        standard list for a model without COCO weights (a COCO file the user names has it)."""
        if self.coco_weights is None:
            return COCO_CATEGORIES
        return tuple(self.coco_weights.meta["categories"])  # type: ignore[attr-defined]


def _build_resnet50_fpn_v2(num_classes: int, **config: Any) -> MaskRCNN:
    return maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=num_classes,
                                    **config)


# The anchors of torchvision's fasterrcnn_mobilenet_v3_large_fpn: every size on every level,
# so its COCO RPN weights (15 anchors per location) fit.
_MOBILENET_ANCHOR_SIZES = ((32, 64, 128, 256, 512),) * 3
_TINY_ANCHOR_SIZES = ((16, 32, 64, 128),) * 3  # smaller images (128 px), smaller objects


def _anchors(sizes: tuple[tuple[int, ...], ...]) -> AnchorGenerator:
    return AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))


def _build_mobilenet_v3_large_fpn(num_classes: int, **config: Any) -> MaskRCNN:
    # Same backbone, RPN and box head as torchvision's fasterrcnn_mobilenet_v3_large_fpn
    # (so its COCO weights load), plus MaskRCNN's standard mask branch.
    backbone = mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True,
                                  norm_layer=nn.BatchNorm2d, trainable_layers=6)
    return MaskRCNN(backbone, num_classes, rpn_anchor_generator=_anchors(_MOBILENET_ANCHOR_SIZES),
                    **config)


def _build_tiny(num_classes: int, **config: Any) -> MaskRCNN:
    # Small enough that a forward pass on a 128 px image takes milliseconds on a CPU: for
    # tests and quick experiments, not for real labeling.
    backbone = mobilenet_backbone(backbone_name="mobilenet_v3_small", weights=None, fpn=True,
                                  norm_layer=nn.BatchNorm2d, trainable_layers=6)
    channels = backbone.out_channels
    representation = 256
    mask_layers = (64, 64)
    return MaskRCNN(
        backbone,
        num_classes=None,  # the predictors below carry the class count
        rpn_anchor_generator=_anchors(_TINY_ANCHOR_SIZES),
        box_head=TwoMLPHead(channels * 7 * 7, representation),
        box_predictor=FastRCNNPredictor(representation, num_classes),
        mask_head=MaskRCNNHeads(channels, mask_layers, 1),
        mask_predictor=MaskRCNNPredictor(mask_layers[-1], mask_layers[-1], num_classes),
        **config,
    )


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="maskrcnn_resnet50_fpn_v2",
            description="Mask R-CNN ResNet-50 FPN v2 (torchvision): the accurate one; wants a GPU",
            build=_build_resnet50_fpn_v2,
            defaults={"min_size": 800, "max_size": 1333, "box_detections_per_img": 100},
            coco_weights=MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1,
            coco_has_mask_head=True,
        ),
        ModelSpec(
            name="maskrcnn_mobilenet_v3_large_fpn",
            description="Mask R-CNN on MobileNetV3-Large FPN: light enough for a CPU",
            build=_build_mobilenet_v3_large_fpn,
            defaults={"min_size": 512, "max_size": 853, "box_detections_per_img": 100,
                      "rpn_score_thresh": 0.05},
            coco_weights=FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1,
            coco_has_mask_head=False,
        ),
        ModelSpec(
            name="maskrcnn_tiny",
            description="Tiny Mask R-CNN on MobileNetV3-Small FPN, for tests and CPU experiments",
            build=_build_tiny,
            defaults={"min_size": 128, "max_size": 192, "box_detections_per_img": 100,
                      "box_batch_size_per_image": 64, "rpn_pre_nms_top_n_train": 600,
                      "rpn_post_nms_top_n_train": 300, "rpn_pre_nms_top_n_test": 300,
                      "rpn_post_nms_top_n_test": 300},
            coco_weights=None,
            coco_has_mask_head=False,
        ),
    )
}

DEFAULT_MODEL = "maskrcnn_resnet50_fpn_v2"

# The plain settings MaskRCNN takes (sizes, thresholds, sample counts). Checked by name,
# because GeneralizedRCNNTransform swallows unknown keywords: a typo would pass silently.
CONFIG_KEYS = frozenset(
    name for cls in (MaskRCNN, FasterRCNN, GeneralizedRCNNTransform)
    for name, p in inspect.signature(cls.__init__).parameters.items()
    if p.kind is p.POSITIONAL_OR_KEYWORD and not name.startswith("_")
) - {"self", "backbone", "num_classes", "rpn_anchor_generator", "rpn_head", "box_roi_pool",
     "box_head", "box_predictor", "mask_roi_pool", "mask_head", "mask_predictor"}


def get_spec(name: str) -> ModelSpec:
    """The spec of a registered model; a clear error for a name nobody registered."""
    try:
        return MODELS[name]
    except KeyError:
        raise OptionError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}") from None


def build_model(name: str, num_classes: int, **overrides: Any) -> MaskRCNN:
    """The registered model ``name``, fresh: get_spec(name).create(num_classes, **overrides)."""
    return get_spec(name).create(num_classes, **overrides)


def model_config(model: nn.Module) -> dict[str, Any]:
    """The config a model was built with by build_model ({} for a model built elsewhere)."""
    return dict(getattr(model, "labeler_config", {}) or {})


# --- COCO class names ------------------------------------------------------------------
# The matching itself (coco_class_map) is core/coco_classes.match_coco_classes, torch-free,
# so that the store can check a class map before saving it.

def coco_categories(weights: object | None = None) -> tuple[str, ...]:
    """The category list of torchvision COCO weights (index = model label), from their meta."""
    weights = weights if weights is not None else MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1
    return tuple(weights.meta["categories"])  # type: ignore[attr-defined]
