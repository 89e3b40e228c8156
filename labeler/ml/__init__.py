"""Models for pre-labeling and learning from accepted labels: torch and torchvision, no Qt.

registry: which models exist and how to build them; weights: where their weights come from
and labeler's checkpoints; predict: images -> box-local instance masks; device: where to run;
decode: JPEGs decoded on the model's device (nvJPEG on CUDA) for pre-labeling.
"""

from .device import describe_device, pick_device
from .predict import Detection, Predictor
from .registry import DEFAULT_MODEL, MODELS, ModelSpec, build_model, get_spec
from .weights import (
    LoadedModel, WeightsError, coco_class_map, load_model, read_checkpoint, remap_heads,
    save_checkpoint,
)

__all__ = [
    "DEFAULT_MODEL", "MODELS", "Detection", "LoadedModel", "ModelSpec", "Predictor", "WeightsError",
    "build_model", "coco_class_map", "describe_device", "get_spec", "load_model", "pick_device",
    "read_checkpoint", "remap_heads", "save_checkpoint",
]
