"""The standard simulated clicker of interactive segmentation, and the NoC metric.

The protocol is RITM's evaluation clicker (SamsungLabs/ritm_interactive_segmentation,
`isegm/inference/clicker.py`, with `utils.get_iou` and `utils.compute_noc_metric`):

- the missed region (true object, not predicted) and the extra region (predicted, not the
  object) each get an exact Euclidean distance transform (OpenCV `DIST_L2` with
  `DIST_MASK_PRECISE`), computed on the masks padded by one background pixel so that the
  image border counts as a border;
- pixels already clicked are taken out (a pixel is never clicked twice);
- the click goes to the deepest pixel of whichever region reaches deeper (the first such
  pixel in row-major order), positive when that is the missed region; a tie goes to the
  extra region, as in RITM (`is_positive = fn_max > fp_max`);
- pixels marked `ignore` (the GrabCut benchmark's grey boundary band) belong to neither
  region and count for neither side of the IoU.

NoC@t is the number of actions until IoU >= t, `max_actions` when never reached.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Click:
    x: int
    y: int
    positive: bool


def next_click(gt: np.ndarray, pred: np.ndarray, previous: Iterable[Click] = (),
               ignore: np.ndarray | None = None) -> Click | None:
    """Where the standard person clicks next; None when there is nothing left to fix.

    `gt` and `pred` are (H, W) masks (non-zero = object); `previous` the clicks made so
    far (never repeated); `ignore` an optional (H, W) mask of pixels that count for neither.
    """
    gt = np.asarray(gt).astype(bool, copy=False)
    pred = np.asarray(pred).astype(bool, copy=False)
    if gt.shape != pred.shape:
        raise ValueError(f"gt {gt.shape} and prediction {pred.shape} differ in shape")
    missed = gt & ~pred
    extra = pred & ~gt
    if ignore is not None:
        keep = ~np.asarray(ignore).astype(bool, copy=False)
        missed &= keep
        extra &= keep
    fn_depth = _depth(missed)
    fp_depth = _depth(extra)
    for c in previous:
        if 0 <= c.y < gt.shape[0] and 0 <= c.x < gt.shape[1]:
            fn_depth[c.y, c.x] = 0.0
            fp_depth[c.y, c.x] = 0.0
    fn_max, fp_max = float(fn_depth.max(initial=0.0)), float(fp_depth.max(initial=0.0))
    if fn_max <= 0.0 and fp_max <= 0.0:
        return None
    positive = fn_max > fp_max
    depth = fn_depth if positive else fp_depth
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return Click(int(x), int(y), positive)


def _depth(region: np.ndarray) -> np.ndarray:
    """Exact L2 distance of each region pixel to the nearest non-region pixel, the image
    border counting as non-region (one pixel of padding)."""
    padded = np.pad(region.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return dist[1:-1, 1:-1]


def iou(gt: np.ndarray, pred: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """Mask IoU with `ignore` pixels left out of both intersection and union (RITM's
    `get_iou`); 1.0 when both masks are empty."""
    gt = np.asarray(gt).astype(bool, copy=False)
    pred = np.asarray(pred).astype(bool, copy=False)
    inter, union = gt & pred, gt | pred
    if ignore is not None:
        keep = ~np.asarray(ignore).astype(bool, copy=False)
        inter, union = inter & keep, union & keep
    u = int(union.sum())
    return 1.0 if u == 0 else int(inter.sum()) / u


def noc(ious: Sequence[float], threshold: float, max_actions: int = 20) -> int:
    """Actions until `ious[i] >= threshold` (the i-th IoU comes after action i + 1);
    `max_actions` when not reached within `max_actions` actions (RITM's definition)."""
    for i, value in enumerate(ious[:max_actions]):
        if value >= threshold:
            return i + 1
    return max_actions


def box_of(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """The tight box of a mask's pixels as (x0, y0, x1, y1) pixel edges (COCO convention:
    pixel (i, j) covers [i, i + 1) x [j, j + 1)); None for an empty mask."""
    x, y, w, h = cv2.boundingRect(np.asarray(mask).astype(np.uint8))
    if w == 0 or h == 0:
        return None
    return (float(x), float(y), float(x + w), float(y + h))
