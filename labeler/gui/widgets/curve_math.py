"""The learning curve's numbers, without Qt: the points from the model versions, the axis
ranges and ticks, the mapping from data to the plot rectangle, and which mark is nearest.
learning_curve.py draws what these say."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from ...core.rounds import RoundStatus
from ...store.training import ModelVersion

SCORED = (RoundStatus.PROMOTED, RoundStatus.KEPT_PREVIOUS)
SHOWN = (*SCORED, RoundStatus.FAILED, RoundStatus.INTERRUPTED)  # a "training" row is the running round
STATUS_WORDS = {RoundStatus.PROMOTED: "promoted", RoundStatus.KEPT_PREVIOUS: "not better: the previous model stayed",
                RoundStatus.FAILED: "failed", RoundStatus.INTERRUPTED: "interrupted"}


@dataclass(frozen=True)
class CurvePoint:
    version: int
    parent: int
    status: str  # a RoundStatus in SHOWN
    accepted_images: int
    train_images: int
    heldout_images: int
    mask_ap: float | None
    box_ap: float | None
    loss: float | None
    reason: str
    current: bool

    @property
    def scored(self) -> bool:
        return self.status in SCORED and self.mask_ap is not None

    def tooltip(self) -> str:
        lines = [f"v{self.version}: {STATUS_WORDS.get(self.status, self.status)}"
                 + (" (the current model)" if self.current else "")]
        if self.scored:
            box = f", box AP {self.box_ap:.3f}" if self.box_ap is not None else ""
            lines.append(f"held-out mask AP {self.mask_ap:.3f}{box}")
        if self.loss is not None:
            lines.append(f"mean training loss {self.loss:.3f}")
        lines.append(f"{self.accepted_images} accepted images ({self.train_images} trained on, "
                     f"{self.heldout_images} held out)")
        if self.reason:
            lines.append(self.reason)
        return "\n".join(lines)


def _number(metrics: dict, key: str) -> float | None:
    value = metrics.get(key)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def curve_points(rows: list[ModelVersion], current: int) -> list[CurvePoint]:
    """The finished rounds (SHOWN) as points; `current` is the project's current version."""
    return [CurvePoint(v.version, v.parent, v.status, v.accepted_images, v.train_images, v.heldout_images,
                       _number(v.metrics, "mask_ap"), _number(v.metrics, "box_ap"), _number(v.metrics, "loss"),
                       v.reason, v.version == current)
            for v in rows if v.status in SHOWN]


def nice_step(span: float, ticks: int = 5) -> float:
    """A round tick spacing (1, 2, 2.5 or 5 times a power of ten) giving about `ticks` ticks."""
    raw = max(span, 1e-9) / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)


def axis(top: float, ticks: int = 5, integer: bool = False, floor: float = 0.0) -> tuple[float, list[float]]:
    """(axis maximum, tick values) for an axis from 0 that shows `top`."""
    step = nice_step(max(top, floor), ticks)
    if integer:
        step = max(1.0, round(step))
    high = max(step, math.ceil(max(top, floor) / step - 1e-9) * step)
    return high, [k * step for k in range(int(round(high / step)) + 1)]


@dataclass(frozen=True)
class Ranges:
    """The three axes: accepted images (x), held-out AP (left y, at most 1) and loss (right y;
    no ticks when no point has a loss)."""

    x_max: float
    x_ticks: list[float]
    y_max: float
    y_ticks: list[float]
    loss_max: float
    loss_ticks: list[float]


def ranges(points: Sequence[CurvePoint]) -> Ranges:
    """Axes that show every point with a little room above the highest."""
    aps = [v for p in points if p.scored for v in (p.mask_ap, p.box_ap) if v is not None]
    losses = [p.loss for p in points if p.loss is not None]
    x_max, x_ticks = axis(max((p.accepted_images for p in points), default=1) * 1.04, integer=True, floor=1)
    y_max, y_ticks = axis(min(1.0, max(aps, default=0.0) * 1.12), floor=0.1)
    y_max = min(1.0, y_max)
    y_ticks = [t for t in y_ticks if t <= y_max + 1e-9]
    loss_max, loss_ticks = axis(max(losses) * 1.08, ticks=len(y_ticks) - 1, floor=0.1) if losses else (1.0, [])
    return Ranges(x_max, x_ticks, y_max, y_ticks, loss_max, loss_ticks)


def to_plot(x: float, y: float, x_max: float, y_max: float,
            rect: tuple[float, float, float, float]) -> tuple[float, float]:
    """Data (x, y) to screen pixels in rect (left, top, width, height); y grows upwards and
    values above y_max sit on the top edge."""
    left, top, width, height = rect
    return left + width * x / x_max, top + height - height * min(y, y_max) / y_max


def nearest(positions: Sequence[tuple[float, float]], at: tuple[float, float], radius: float) -> int | None:
    """The index of the position nearest `at` within `radius` (the last of equals), or None."""
    best, best_d = None, radius
    for k, position in enumerate(positions):
        d = math.dist(at, position)
        if d <= best_d:
            best, best_d = k, d
    return best


def loss_text(value: float, loss_ticks: Sequence[float]) -> str:
    """A loss tick label, with as many decimals as the tick spacing needs (0 to 2)."""
    step = loss_ticks[1] if len(loss_ticks) > 1 else 1.0
    decimals = 0 if step >= 1 else 1 if step * 10 == round(step * 10) else 2
    return f"{value:.{decimals}f}"
