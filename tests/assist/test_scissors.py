from __future__ import annotations

import cv2
import numpy as np

from labeler.assist.scissors import Scissors


def disk_image() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.integers(90, 130, (200, 240, 3)).astype(np.uint8)
    cv2.circle(img, (120, 100), 60, (30, 30, 30), -1)
    return img


def test_the_path_follows_a_strong_edge_between_two_points_on_it():
    scissors = Scissors(disk_image())
    scissors.fix(180, 100)            # on the circle, at 0 degrees
    path = scissors.path_to(120, 40)  # on the circle, at 90 degrees
    assert tuple(path[0]) == (180, 100) and tuple(path[-1]) == (120, 40)
    radius = np.hypot(path[:, 0] - 120, path[:, 1] - 100)
    assert np.abs(radius - 60).max() < 2.0  # a straight chord strays 17.6 px inside
    steps = np.abs(np.diff(path, axis=0)).max(axis=1)
    assert steps.max() == 1  # 8-connected, no jumps


def test_a_window_smaller_than_the_image_still_reaches_the_cursor():
    img = disk_image()
    scissors = Scissors(img, window=64)
    scissors.fix(180, 100)
    x, y, w, h = scissors.roi
    assert (w, h) == (64, 64) and x <= 180 < x + w and y <= 100 < y + h
    path = scissors.path_to(10, 10)  # outside the window: edge path, then a straight step
    assert tuple(path[0]) == (180, 100) and tuple(path[-1]) == (10, 10)
    scissors.fix(20, 20)             # a vertex outside the window moves the window
    x, y, w, h = scissors.roi
    assert x <= 20 < x + w and y <= 20 < y + h
