"""The COCO category names, without torch, and the matching of project classes to them.

COCO_CATEGORIES is torchvision's list for its COCO detection weights (index = model label;
"__background__" and "N/A" are placeholders, not classes). A test checks that it equals
torchvision's, so the store can check a class map without importing torch.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from .errors import OptionError

COCO_CATEGORIES: tuple[str, ...] = (
    "__background__", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck",
    "boat", "traffic light", "fire hydrant", "N/A", "stop sign", "parking meter", "bench", "bird",
    "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "N/A", "backpack",
    "umbrella", "N/A", "N/A", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "N/A", "wine glass", "cup", "fork", "knife", "spoon", "bowl",
    "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut",
    "cake", "chair", "couch", "potted plant", "bed", "N/A", "dining table", "N/A", "N/A", "toilet",
    "N/A", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
    "toaster", "sink", "refrigerator", "N/A", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)

NOT_COCO = ("__background__", "N/A")


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").lower().split())


def match_coco_classes(class_names: Iterable[str], overrides: Mapping[str, str] | None = None, *,
                       categories: Sequence[str] | None = None) -> dict[str, str]:
    """Project class -> COCO category, by name (case, "_" and "-" ignored). An override wins;
    an override to "" leaves a class unmapped. Unmapped classes are not in the result. An
    override naming no project class, or no COCO class, is an OptionError naming it."""
    names = list(class_names)
    usable = [c for c in (categories if categories is not None else COCO_CATEGORIES) if c not in NOT_COCO]
    by_norm: dict[str, str] = {}
    for cat in usable:
        by_norm.setdefault(_norm(cat), cat)
    result = {n: by_norm[_norm(n)] for n in names if _norm(n) in by_norm}
    for name, target in (overrides or {}).items():
        if name not in names:
            raise OptionError(f"class map names {name!r}, which is not a project class "
                              f"(classes: {', '.join(names)})")
        if not target:
            result.pop(name, None)
            continue
        hit = target if target in usable else by_norm.get(_norm(target))
        if hit is None:
            raise OptionError(f"class map sends {name!r} to {target!r}, which is not a COCO class")
        result[name] = hit
    return {n: result[n] for n in names if n in result}
