"""The learning curve's numbers without Qt: points, axes and ticks, the pixel mapping, the
nearest mark, the loss labels."""

from __future__ import annotations

import pytest

from labeler.core.rounds import RoundStatus
from labeler.gui.widgets.curve_math import (
    CurvePoint, axis, curve_points, loss_text, nearest, nice_step, ranges, to_plot,
)
from labeler.store.training import ModelVersion


def version(n, status, accepted, metrics=None):
    return ModelVersion(n, n - 1, "m", RoundStatus(status), accepted, accepted - 1, 1, "s", metrics or {})


def point(accepted, mask_ap=None, box_ap=None, loss=None, status=RoundStatus.PROMOTED):
    return CurvePoint(1, 0, status, accepted, accepted - 1, 1, mask_ap, box_ap, loss, "", False)


def test_curve_points_keep_finished_rounds_and_finite_numbers():
    rows = [version(1, "promoted", 4, {"mask_ap": 0.1, "box_ap": float("nan"), "loss": 2}),
            version(2, "training", 6), version(3, "failed", 8), version(4, "kept_previous", 9, {"mask_ap": "x"})]
    points = curve_points(rows, current=1)
    assert [(p.version, p.current) for p in points] == [(1, True), (3, False), (4, False)]
    assert (points[0].mask_ap, points[0].box_ap, points[0].loss) == (0.1, None, 2.0)
    assert points[0].scored and not points[1].scored and not points[2].scored  # no mask AP: not scored
    assert points[0].tooltip().startswith("v1: promoted (the current model)\nheld-out mask AP 0.100")
    assert points[2].tooltip().startswith("v4: not better: the previous model stayed")


@pytest.mark.parametrize("span, ticks, step", [(1, 5, 0.2), (0.45, 5, 0.1), (20, 5, 5), (12, 5, 2.5), (1e-12, 5, 2e-10)])
def test_nice_step(span, ticks, step):
    assert nice_step(span, ticks) == pytest.approx(step)


def test_axis_from_zero_with_round_ticks():
    assert axis(0.34) == (pytest.approx(0.4), pytest.approx([0, 0.1, 0.2, 0.3, 0.4]))
    high, ticks = axis(20.8, integer=True)
    assert high == 25 and ticks == [0, 5, 10, 15, 20, 25]
    assert axis(0.0, floor=0.1)[0] == pytest.approx(0.1)
    high, ticks = axis(3.0, integer=True, floor=1)  # integer ticks never go below 1
    assert ticks == [0, 1, 2, 3]


def test_ranges():
    r = ranges([point(4, 0.05, 0.08, 1.9), point(20, 0.31, 0.36, 0.8), point(14, status=RoundStatus.FAILED)])
    assert r.x_max >= 20 * 1.04 and r.x_ticks[0] == 0 and r.x_ticks[-1] == r.x_max
    assert 0.36 * 1.12 <= r.y_max <= 1.0 and r.y_ticks[-1] <= r.y_max
    assert r.loss_max >= 1.9 and len(r.loss_ticks) == len(r.y_ticks)
    high = ranges([point(3, 0.99, 0.95)])
    assert high.y_max == 1.0 and high.y_ticks[-1] == pytest.approx(1.0)  # AP never past 1
    empty = ranges([])
    assert (empty.x_max, empty.loss_max, empty.loss_ticks) == (2, 1.0, [])  # 1 image and a little room


def test_to_plot_maps_data_into_the_rectangle():
    rect = (10.0, 20.0, 200.0, 100.0)  # left, top, width, height
    assert to_plot(0, 0, 10, 1.0, rect) == (10.0, 120.0)
    assert to_plot(10, 1.0, 10, 1.0, rect) == (210.0, 20.0)
    assert to_plot(5, 0.25, 10, 1.0, rect) == (110.0, 95.0)
    assert to_plot(5, 3.0, 10, 1.0, rect) == (110.0, 20.0)  # above the axis: on the top edge


def test_nearest_within_a_radius():
    marks = [(0.0, 0.0), (10.0, 0.0), (10.0, 0.0)]
    assert nearest(marks, (1.0, 1.0), 9.0) == 0
    assert nearest(marks, (9.0, 0.0), 9.0) == 2  # the last of equals (drawn on top)
    assert nearest(marks, (50.0, 50.0), 9.0) is None
    assert nearest([], (0.0, 0.0), 9.0) is None


def test_loss_labels_have_the_decimals_the_ticks_need():
    assert loss_text(2.0, [0, 1, 2]) == "2"
    assert loss_text(0.5, [0, 0.5, 1.0]) == "0.5"
    assert loss_text(0.25, [0, 0.25, 0.5]) == "0.25"
    assert loss_text(3.0, []) == "3"
