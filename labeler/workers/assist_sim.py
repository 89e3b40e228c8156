"""The simulated person with an assist tool (`labeler simulate --assist`): box, then clicks.

For one ground-truth instance the person drags the instance's true box (the tight box of
its mask, `assist.clicker.box_of`): action 1. Then they click where the standard clicker
says (`assist.clicker.next_click`: RITM's protocol, exact L2 distance transforms of the
missed and the extra region, the image border counting as border, never the same pixel
twice), one action per click, until the mask IoU reaches `accept_iou`, at most
`max_actions` actions in all. The mask at that moment is the one they keep.

NoC@t is the papers' definition (RITM's `compute_noc_metric`): the actions until IoU >= t,
the box counting as action 1, `max_actions` when never reached. To measure a higher t
than the one the person stops at, the clicking goes on past `accept_iou` up to `measure_iou`;
those clicks are measured only (`Attempt.charged` leaves them out) and the mask kept is
still the one that first reached `accept_iou`.

The segmenter is driven as the window's assist tool drives it (gui/canvas/assist_tool.py):
the image's 8-bit BGR pixels and the box to `start`, then `add_click` at the clicked pixel's
centre. (The window first cuts the image to the box plus one box size all round; GrabCut
crops again, to a 10 % margin, inside that, so its mask is the same and the whole image is
handed over here.) The clicker and the IoU run on the segmenter's crop plus one pixel all
round, clipped to the image, which gives exactly the clicks and IoUs of the whole image: the
truth lies inside its box and the box inside the crop, so both masks are empty outside it,
and the one-pixel ring of background (or the image border, which the clicker counts as
border) bounds every distance as the whole image would; row-major order, which breaks ties,
is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..assist import clicker
from ..assist.grabcut import GrabCutSegmenter
from ..assist.masks import CropMask

ASSIST_TOOLS = ("grabcut", "sam")  # tools a simulated person can drive by box and clicks
_PROMPT_MODELS: dict = {}  # "sam": the PromptModel set by use_prompt_model (loaded once per process)


def use_prompt_model(model) -> None:
    """The assist model (ml.promptable.PromptModel) that the "sam" tool drives."""
    _PROMPT_MODELS["sam"] = model
    _PROMPT_MODELS.pop("sam-segmenter", None)


def make_segmenter(tool: str):
    """A segmenter with start(image, box), add_click(x, y, positive), undo_click()."""
    if tool == "grabcut":
        return GrabCutSegmenter()
    if tool == "sam":
        if "sam" not in _PROMPT_MODELS:
            raise ValueError("the sam tool needs the assist model: use_prompt_model() first")
        from ..ml.promptable import PromptSegmenter

        segmenter = _PROMPT_MODELS.setdefault("sam-segmenter", PromptSegmenter(_PROMPT_MODELS["sam"]))
        return segmenter  # one for every instance: it keeps the image's embedding
    raise ValueError(f"unknown assist tool {tool!r} (known: {', '.join(ASSIST_TOOLS)})")


@dataclass(frozen=True)
class Attempt:
    """One instance made with the assist: the IoU after the box and after each click."""

    ious: tuple[float, ...]
    kept: CropMask | None  # the mask that first reached accept_iou; None if none did
    accept_iou: float
    max_actions: int

    def noc(self, threshold: float) -> int:
        """Actions until IoU >= threshold, the box being action 1; max_actions when never."""
        return clicker.noc(self.ious, threshold, self.max_actions)

    @property
    def reached(self) -> bool:
        return self.kept is not None

    @property
    def charged(self) -> int:
        """The actions the person paid: up to the mask kept, or every action made before
        giving up (max_actions, fewer only if the clicker found nothing left to click)."""
        if self.reached:
            return self.noc(self.accept_iou)
        return min(len(self.ious), self.max_actions)


def attempt(tool: str, image: np.ndarray, truth: np.ndarray, *, accept_iou: float, measure_iou: float,
            max_actions: int) -> Attempt:
    """Box, then clicks, on `image` (H, W, 3 BGR uint8) for the object `truth` (H, W mask,
    not empty). Stops at IoU >= max(accept_iou, measure_iou), after max_actions actions, or
    when the clicker has nothing left to click."""
    box = clicker.box_of(truth)
    if box is None:
        raise ValueError("the instance's mask is empty: there is no box to drag")
    segmenter = make_segmenter(tool)
    try:
        mask = segmenter.start(image, box)
    except ValueError:  # a box under 2 px across: the tool cannot start, the box was spent
        return Attempt((0.0,), None, accept_iou, max_actions)
    height, width = truth.shape
    h, w = mask.mask.shape
    x0, y0 = max(0, mask.x - 1), max(0, mask.y - 1)
    x1, y1 = min(width, mask.x + w + 1), min(height, mask.y + h + 1)
    gt = truth[y0:y1, x0:x1].astype(bool)
    if not isinstance(segmenter, GrabCutSegmenter) or int(np.count_nonzero(gt)) != int(np.count_nonzero(truth)):
        # the assist model's masks may reach anywhere (GrabCut's stay in its crop, which holds the box)
        x0, y0, x1, y1, gt = 0, 0, width, height, truth.astype(bool)

    def local(m: CropMask) -> np.ndarray:
        pred = np.zeros(gt.shape, np.uint8)
        mh, mw = m.mask.shape
        pred[m.y - y0:m.y - y0 + mh, m.x - x0:m.x - x0 + mw] = m.mask
        return pred

    pred = local(mask)
    ious = [clicker.iou(gt, pred)]
    kept = mask if ious[0] >= accept_iou else None
    stop = max(accept_iou, measure_iou)
    clicks: list[clicker.Click] = []
    while len(ious) < max_actions and ious[-1] < stop:
        click = clicker.next_click(gt, pred, clicks)
        if click is None:
            break
        clicks.append(click)
        mask = segmenter.add_click(click.x + x0 + 0.5, click.y + y0 + 0.5, click.positive)
        pred = local(mask)
        ious.append(clicker.iou(gt, pred))
        if kept is None and ious[-1] >= accept_iou:
            kept = mask
    return Attempt(tuple(ious), kept, accept_iou, max_actions)
