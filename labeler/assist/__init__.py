"""Weight-free assisted masks, with no Qt and no torch: box-then-clicks GrabCut, the magic
wand, intelligent scissors, the standard simulated clicker, and mask -> instance shape.

Everything here is plain OpenCV on numpy arrays, so the GUI runs it on a worker thread
(OpenCV releases the GIL) and `labeler simulate` can run it headless.
"""

from .clicker import Click, box_of, iou, next_click, noc
from .grabcut import GrabCutParams, GrabCutSegmenter
from .masks import POLYGON_TOLERANCE, CropMask, mask_to_shape
from .scissors import Scissors
from .wand import combine, flood_region, magic_wand

__all__ = [
    "POLYGON_TOLERANCE",
    "Click",
    "CropMask",
    "GrabCutParams",
    "GrabCutSegmenter",
    "Scissors",
    "box_of",
    "combine",
    "flood_region",
    "iou",
    "magic_wand",
    "mask_to_shape",
    "next_click",
    "noc",
]
