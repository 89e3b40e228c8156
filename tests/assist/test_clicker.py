from __future__ import annotations

import numpy as np

from labeler.assist.clicker import Click, box_of, iou, next_click, noc


def square_error() -> tuple[np.ndarray, np.ndarray]:
    gt = np.zeros((40, 50), np.uint8)
    gt[10:21, 20:31] = 1  # an 11 x 11 square, centre (25, 15)
    return gt, np.zeros_like(gt)


def test_click_goes_to_the_centre_of_a_square_missed_region():
    gt, pred = square_error()
    assert next_click(gt, pred) == Click(25, 15, True)


def test_extra_region_gives_a_negative_click_at_its_centre():
    gt = np.zeros((40, 50), np.uint8)
    pred = np.zeros_like(gt)
    pred[5:14, 5:14] = 1  # 9 x 9 extra square, centre (9, 9)
    assert next_click(gt, pred) == Click(9, 9, False)


def test_the_deeper_region_wins():
    gt, pred = square_error()          # missed: 11 x 11
    pred[25:38, 2:15] = 1              # extra: 13 x 13, deeper
    assert next_click(gt, pred) == Click(8, 31, False)
    pred[25:38, 2:15] = 0
    pred[25:30, 2:7] = 1               # extra: 5 x 5, shallower
    assert next_click(gt, pred).positive


def test_a_pixel_is_never_clicked_twice():
    gt, pred = square_error()
    clicks: list[Click] = []
    for _ in range(30):
        c = next_click(gt, pred, clicks)
        assert c is not None and c.positive
        assert (c.x, c.y) not in {(p.x, p.y) for p in clicks}
        clicks.append(c)
    assert clicks[0] == Click(25, 15, True)


def test_the_image_border_counts_as_border():
    # a 20-px band along the whole left edge: without the border as a border its deepest
    # pixels would be at x = 0; with it, they are in the band's middle, 10 px from every edge
    gt = np.zeros((30, 60), np.uint8)
    gt[:, :20] = 1
    c = next_click(gt, np.zeros_like(gt))
    assert c.positive and c.x == 9 and 9 <= c.y <= 20


def test_ignored_pixels_are_neither_missed_nor_extra():
    gt, pred = square_error()
    ignore = gt.astype(bool)
    assert next_click(gt, pred, ignore=ignore) is None
    assert iou(gt, pred, ignore) == 1.0
    assert next_click(gt, gt) is None


def test_iou_leaves_ignored_pixels_out():
    gt = np.zeros((10, 10), np.uint8)
    gt[:, :5] = 1
    pred = np.zeros_like(gt)
    pred[:, :6] = 1
    assert iou(gt, pred) == 50 / 60
    ignore = np.zeros_like(gt, bool)
    ignore[:, 5] = True
    assert iou(gt, pred, ignore) == 1.0


def test_noc_is_the_first_action_reaching_the_threshold_or_the_maximum():
    assert noc([0.5, 0.86, 0.80, 0.91], 0.85) == 2
    assert noc([0.5, 0.86, 0.80, 0.91], 0.90) == 4
    assert noc([0.95], 0.90) == 1
    assert noc([0.5] * 30, 0.85, max_actions=20) == 20
    assert noc([0.5] * 20 + [0.99], 0.85, max_actions=20) == 20


def test_box_of_is_in_pixel_edges():
    gt, _ = square_error()
    assert box_of(gt) == (20.0, 10.0, 31.0, 21.0)
    assert box_of(np.zeros((5, 5), np.uint8)) is None
