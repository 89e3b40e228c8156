"""Box, then clicks: OpenCV GrabCut for one object, weight-free.

`start(image, box)` segments the object in a box; `add_click(x, y, positive)` refines it
(positive: add what is missing there; negative: remove what is extra); `undo_click()`
drops the last click. The mask comes back as a CropMask (the crop and its offset), so a
huge photo costs only its crop. One segmenter per object; no global state. OpenCV
releases the GIL, so a worker thread keeps the window free while GrabCut works; its
k-means uses OpenCV's per-thread RNG, seeded before each call so the same clicks always
give the same mask.

How it works. The crop is the box plus a margin; it is downscaled (INTER_AREA) to at most
`max_pixels`, converted to CIE Lab and segmented there; the result is upsampled bilinearly
(threshold 0.5) to the crop. Outside the box is definite background. Each click draws a
disk of definite foreground/background, and first gives its soft label to the region of
similar colour around it that the mask has wrong (floodFill from the click, within the
wrongly labelled pixels, `soft_tol` per Lab channel of the click's colour), so that the
colour models are re-learnt from that region and the graph cut may still disagree; then
GrabCut re-learns both colour models from the labels (k-means, GC_INIT_WITH_MASK) and runs
`click_iters` iterations. Holes smaller than 0.2 % of the object are filled (never where a
negative click drew its disk).

Every choice was measured with `benchmarks/assist.py` on the 50-image GrabCut benchmark
(../shared/data/grabcut-benchmark): the true box (action 1), then the standard clicker
(labeler/assist/clicker.py), at most 20 actions, the grey boundary band ignored. Figures
are NoC@85 / NoC@90 counting the box as action 1; each alternative changes one parameter
from the chosen ones (`--set NAME=V1,V2` reruns any row); refinement times are one process
on this 2-core AMD EPYC.

| parameter | chosen: 1.84 / 2.42, box-only IoU 0.865 | alternatives |
| --- | --- | --- |
| all at once | | the naive start of issue 12 (full resolution, BGR, 5-px disks, no soft region, no hole filling): 2.84 / 3.42, box IoU 0.865, 1 image never at 90 %; carrying the colour models on (GC_EVAL) in it: 3.12 / 3.80 |
| max_pixels | 60,000: refinement median 72-104 ms, p95 150-240 ms (five runs) | full resolution 1.74 / 2.26 but p95 525 ms, max 2.0 s on these crops of 0.1-0.3 MP; 90,000 1.84 / 2.40; 30,000 2.32 / 3.26 |
| color | Lab | BGR 2.00 / 2.60 (box IoU 0.848) |
| soft | floodFill, soft_tol 20 | none 2.20 / 2.74; tolerance 10: 1.92 / 2.48, 15: 1.92 / 2.48, 25: 1.94 / 2.46, 30: 1.98 / 2.48; a disk of soft_frac x the click's depth: 0.5: 1.96 / 2.50, 0.75: 1.96 / 2.50, 1.0: 1.82 / 2.32, 1.25: 1.88 / 2.46, 1.5: 1.86 / 2.48 (a lone spike at 1.0, where the floodFill is flat from 10 to 30; the two together: 1.84 / 2.38) |
| margin | 10 % of the box's longer side, at least 8 px | 5 %: 1.86 / 2.46; 20 %: 1.92 / 2.44; 50 %: 2.02 / 2.58; at least 4 or 16 px: unchanged |
| radius | 5 working px | 3: 2.08 / 2.70; 4: 1.98 / 2.60; 6: 1.80 / 2.58; 8: 1.74 / 2.62 with one image never at 90 %; growing with the click's depth (0.5 x depth, 5 to 12 px): 1.78 / 2.40 |
| models | re-learnt at each click (GC_INIT_WITH_MASK) | carried on (GC_EVAL): 1.98 / 2.50 |
| click_iters | 2 | 1: 1.94 / 2.54 (median 58 ms); 3: 1.90 / 2.46 |
| box_iters | 5 | 3: 1.94 / 2.46; 10: 1.92 / 2.42 |
| fill_holes | holes up to 0.2 % of the area: 39 of the 50 final masks are polygons | none: 1.86 / 2.40, 31 polygons; 1 %: 1.88 / 2.42, 45 polygons, but true holes of 0.7-1 % exist (grave, 227092) |
| keep, local | off | only components touching positive clicks 2.04 / 2.60; a click changing only the region it touches 1.98 / 2.66 |

A two-fold check (`--subset even|odd`, 25 images each): the chosen parameters give 1.76 /
2.48 and 1.92 / 2.36; full resolution, BGR and no soft region 3.04 / 3.64 and 2.80 / 3.32.
The soft region helps on both halves in either colour space, Lab helps NoC@90 on both. On crops scaled to one megapixel (`--parts crop1mp`) the chosen
parameters give 1.86 / 2.34 with refinements of median 104-107 ms and p95 217-248 ms over
three runs (the slowest single one 420-446 ms; the machine was shared with other work).

Why downscaling helps beyond speed: GrabCut's smoothness term is paid per pixel of
boundary and its colour term per pixel of area, so at a coarser scale the same object is
segmented more smoothly; with the naive start, full resolution is too ragged (the naive
start at 60,000 px: 2.32 / 3.04). With the soft region and Lab, full resolution is a
little better on NoC (above) but far too slow for big crops: 60,000 px is a time budget. The price is that
the outline is only as fine as the working resolution (for a one-megapixel crop, about 4
crop pixels per working pixel), which the benchmark's ignored boundary band does not see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .masks import CropMask
from .wand import flood_region

_GMM_COMPONENTS = 5  # OpenCV's GrabCut models each side with 5 Gaussians (k-means needs 5 samples)

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixel edges (COCO convention)
Rect = tuple[int, int, int, int]         # x0, y0, x1, y1 in whole pixels, end exclusive


@dataclass(frozen=True)
class GrabCutParams:
    margin: float = 0.1          # crop margin, fraction of the box's longer side ...
    min_margin: int = 8          # ... and at least this many pixels
    max_pixels: int = 60_000     # working resolution: larger crops are downscaled to it
    box_iters: int = 5           # GrabCut iterations for the box
    click_iters: int = 2         # ... and for each click
    radius: float = 5.0          # click disk radius, working pixels
    radius_frac: float = 0.0     # > 0: radius = clip(radius_frac * depth, radius, radius_max),
    radius_max: float = 12.0     #      depth = the click's distance from the mask's edge
    models: str = "init"         # "init": re-learn the colour models; "eval": carry them on
    color: str = "lab"           # "lab" | "bgr": the space the colour models live in
    soft: str = "wand"           # "wand" | "disk" | "none": region given the click's soft label
    soft_tol: float = 20.0       #   "wand": floodFill tolerance from the click's colour
    soft_frac: float = 0.5       #   "disk": radius = soft_frac * depth
    keep: str = "none"           # "none" | "clicked": only components touching positive seeds
    fill_holes: float = 0.002    # fill holes up to this fraction of the object's area
    local: bool = False          # a click changes only the connected region it touches


def crop_rects(box: Box, image_size: tuple[int, int], params: GrabCutParams) -> tuple[Rect, Rect]:
    """The box's pixels and the crop around them, both clipped to the image."""
    h, w = image_size
    x0, y0, x1, y1 = box
    bx0, by0 = max(0, math.floor(min(x0, x1))), max(0, math.floor(min(y0, y1)))
    bx1, by1 = min(w, math.ceil(max(x0, x1))), min(h, math.ceil(max(y0, y1)))
    if bx1 - bx0 < 2 or by1 - by0 < 2:
        raise ValueError(f"box {box} is too small or outside the image")
    m = max(params.min_margin, round(params.margin * max(bx1 - bx0, by1 - by0)))
    return (bx0, by0, bx1, by1), (max(0, bx0 - m), max(0, by0 - m), min(w, bx1 + m), min(h, by1 + m))


@dataclass
class _State:
    labels: np.ndarray           # GrabCut's labels (GC_BGD ... GC_PR_FGD), working size
    bgd: np.ndarray              # the colour models GrabCut left
    fgd: np.ndarray
    result: np.ndarray           # 0/1, working size
    click: tuple[int, int, bool] | None = None  # working pixel, positive
    upsampled: CropMask | None = None


class GrabCutSegmenter:
    def __init__(self, params: GrabCutParams | None = None):
        self.params = params or GrabCutParams()
        self._states: list[_State] = []

    def start(self, image: np.ndarray, box: Box) -> CropMask:
        """Segment the object in `box` of `image` (BGR uint8, the whole image)."""
        p = self.params
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError("GrabCut needs an 8-bit, 3-channel (BGR) image")
        self._image_size = image.shape[:2]
        (bx0, by0, bx1, by1), (cx0, cy0, cx1, cy1) = crop_rects(box, self._image_size, p)
        self._crop = (cx0, cy0, cx1 - cx0, cy1 - cy0)
        crop = image[cy0:cy1, cx0:cx1]
        self._scale = min(1.0, math.sqrt(p.max_pixels / crop.shape[0] / crop.shape[1]))
        if self._scale < 1.0:
            size = (max(2, round(crop.shape[1] * self._scale)), max(2, round(crop.shape[0] * self._scale)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        if p.color == "lab":
            crop = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)
        self._work = np.ascontiguousarray(crop)
        h, w = self._work.shape[:2]
        sx, sy = w / (cx1 - cx0), h / (cy1 - cy0)
        rx0, ry0 = math.floor((bx0 - cx0) * sx), math.floor((by0 - cy0) * sy)
        rx1, ry1 = min(w, math.ceil((bx1 - cx0) * sx)), min(h, math.ceil((by1 - cy0) * sy))
        labels = np.full((h, w), cv2.GC_BGD, np.uint8)
        labels[ry0:ry1, rx0:rx1] = cv2.GC_PR_FGD
        if np.count_nonzero(labels == cv2.GC_BGD) < 64:  # the box is the whole image:
            labels[[0, -1], :] = cv2.GC_PR_BGD           # its rim gives the background model
            labels[:, [0, -1]] = cv2.GC_PR_BGD           # something to start from
        self._box_centre = ((rx0 + rx1) // 2, (ry0 + ry1) // 2)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        self._states = []
        self._grabcut(labels, bgd, fgd, p.box_iters, cv2.GC_INIT_WITH_MASK)
        self._states = [_State(labels, bgd, fgd, self._post(labels, None, None))]
        return self.mask

    def add_click(self, x: float, y: float, positive: bool) -> CropMask:
        """A click at image coordinates (x, y) (pixel (i, j) covers [i, i+1) x [j, j+1)).
        A click outside the crop changes nothing (it is still one step for undo_click)."""
        p = self.params
        prev = self._current()
        cx0, cy0, cw, ch = self._crop
        h, w = prev.labels.shape
        px, py = math.floor((x - cx0) * w / cw), math.floor((y - cy0) * h / ch)
        click = (px, py, bool(positive))
        if not (0 <= px < w and 0 <= py < h):
            self._states.append(_State(prev.labels, prev.bgd, prev.fgd, prev.result, click, prev.upsampled))
            return self.mask
        labels = prev.labels.copy()
        soft = (labels == cv2.GC_PR_FGD) | (labels == cv2.GC_PR_BGD)
        labels[soft] = np.where(prev.result[soft] > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
        self._soften(labels, prev.result, click)
        cv2.circle(labels, (px, py), self._radius(prev.result, click), cv2.GC_FGD if positive else cv2.GC_BGD, -1)
        bgd, fgd = prev.bgd.copy(), prev.fgd.copy()
        self._grabcut(labels, bgd, fgd, p.click_iters,
                      cv2.GC_EVAL if p.models == "eval" else cv2.GC_INIT_WITH_MASK)
        seeds = [s.click for s in self._states[1:]] + [click]
        result = self._post(labels, prev.result if p.local else None, seeds)
        self._states.append(_State(labels, bgd, fgd, result, click))
        return self.mask

    def undo_click(self) -> CropMask:
        """Drop the last click; the box stays."""
        self._current()
        if len(self._states) > 1:
            self._states.pop()
        return self.mask

    @property
    def clicks(self) -> int:
        return max(0, len(self._states) - 1)

    @property
    def work_pixels(self) -> int:
        """The pixels GrabCut works on: the crop, downscaled when it is large."""
        return int(self._work.shape[0] * self._work.shape[1])

    @property
    def mask(self) -> CropMask:
        """The current mask: the crop (uint8 0/1) and its place in the image."""
        state = self._current()
        if state.upsampled is None:
            result = state.result
            cx0, cy0, cw, ch = self._crop
            if result.shape != (ch, cw):
                up = cv2.resize(result.astype(np.float32), (cw, ch), interpolation=cv2.INTER_LINEAR)
                result = (up >= 0.5).astype(np.uint8)
            state.upsampled = CropMask(result, cx0, cy0, self._image_size)
        return state.upsampled

    # --- inside ------------------------------------------------------------------------

    def _current(self) -> _State:
        if not self._states:
            raise RuntimeError("start() first")
        return self._states[-1]

    def _grabcut(self, labels, bgd, fgd, iters: int, mode: int) -> None:
        n_fg = np.count_nonzero((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD))
        if min(n_fg, labels.size - n_fg) < _GMM_COMPONENTS:
            return  # one side has too few pixels for a colour model: the labels stand
        cv2.setRNGSeed(0)  # k-means: the same answer every time (the RNG is per thread)
        try:
            cv2.grabCut(self._work, labels, None, bgd, fgd, iters, mode)
        except cv2.error:
            if mode == cv2.GC_INIT_WITH_MASK:
                raise
            cv2.setRNGSeed(0)  # a carried-on model lost its samples: learn both afresh
            cv2.grabCut(self._work, labels, None, bgd, fgd, iters, cv2.GC_INIT_WITH_MASK)

    def _radius(self, result: np.ndarray, click: tuple[int, int, bool]) -> int:
        p = self.params
        if p.radius_frac <= 0:
            return round(p.radius)
        px, py, positive = click
        depth = _depth_at((result == 0) if positive else (result > 0), px, py)
        return round(min(p.radius_max, max(p.radius, p.radius_frac * depth)))

    def _soften(self, labels: np.ndarray, result: np.ndarray, click: tuple[int, int, bool]) -> None:
        """Give the click's soft label to the region around it that the mask has wrong."""
        p = self.params
        px, py, positive = click
        wrong = ((result == 0) if positive else (result > 0)) & \
            ((labels == cv2.GC_PR_FGD) | (labels == cv2.GC_PR_BGD))
        if p.soft == "none" or not wrong[py, px]:
            return
        if p.soft == "disk":
            region = np.zeros(labels.shape, np.uint8)
            cv2.circle(region, (px, py), round(p.soft_frac * _depth_at(wrong, px, py)), 1, -1)
            region = region.astype(bool) & wrong
        else:
            region = flood_region(self._work, px, py, p.soft_tol, 4, True, wrong).full().astype(bool)
        labels[region] = cv2.GC_PR_FGD if positive else cv2.GC_PR_BGD

    def _post(self, labels: np.ndarray, before: np.ndarray | None, seeds) -> np.ndarray:
        p = self.params
        result = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8)
        if before is not None and seeds:
            result = _local_change(before, result, seeds[-1])
        if p.keep == "clicked":
            positive = labels == cv2.GC_FGD
            if not positive.any():
                positive = np.zeros_like(positive)
                positive[self._box_centre[1], self._box_centre[0]] = True
            result = _components_touching(result, positive)
        if p.fill_holes > 0:
            result = _fill_holes(result, p.fill_holes * max(1, int(result.sum())))
            result[labels == cv2.GC_BGD] = 0  # a negative click's disk stays a hole
        return result


def _depth_at(region: np.ndarray, px: int, py: int) -> float:
    """Distance from (px, py) to the nearest pixel outside `region` (the crop's edges are
    not edges of the region)."""
    dist = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return float(min(dist[py, px], math.hypot(*region.shape)))


def _components_touching(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    n, comp = cv2.connectedComponents(mask, connectivity=8)
    if n <= 2:
        return mask
    hit = np.unique(comp[seeds & (mask > 0)])
    hit = hit[hit > 0]
    if hit.size == 0:  # no seed inside the mask: keep the largest component
        hit = np.array([1 + int(np.argmax(np.bincount(comp.ravel())[1:]))])
    return np.isin(comp, hit).astype(np.uint8)


def _fill_holes(mask: np.ndarray, max_area: float) -> np.ndarray:
    """Fill background components that do not touch the crop's edge and are small."""
    _, comp, stats, _ = cv2.connectedComponentsWithStats((mask == 0).astype(np.uint8), connectivity=4)
    h, w = mask.shape
    x, y, cw, ch, area = (stats[:, i] for i in range(5))
    hole = (x > 0) & (y > 0) & (x + cw < w) & (y + ch < h) & (area <= max_area)
    hole[0] = False  # label 0 is the mask itself
    return (mask.astype(bool) | hole[comp]).astype(np.uint8)


def _local_change(before: np.ndarray, after: np.ndarray, click: tuple[int, int, bool]) -> np.ndarray:
    """Keep only the change connected to the click (an addition for a positive click, a
    removal for a negative one)."""
    px, py, positive = click
    changed = (after > before) if positive else (after < before)
    _, comp = cv2.connectedComponents(changed.astype(np.uint8), connectivity=8)
    out = before.copy()
    if comp[py, px]:
        out[comp == comp[py, px]] = 1 if positive else 0
    return out
