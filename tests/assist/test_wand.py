from __future__ import annotations

import numpy as np
import pytest

from labeler.assist.wand import combine, flood_region, magic_wand


def gradient_image() -> np.ndarray:
    """A horizontal grey ramp (value = 2 * x) with a black wall at x = 60."""
    img = np.repeat((2 * np.arange(100)).astype(np.uint8)[None, :], 50, axis=0)
    img[:, 60] = 0
    return np.dstack([img] * 3)


@pytest.mark.parametrize("fixed_range", [True, False])
def test_tolerance_grows_the_region_monotonically(fixed_range):
    img = gradient_image()
    previous = np.zeros(img.shape[:2], np.uint8)
    areas = []
    for tol in (0, 2, 5, 10, 20, 40, 80, 255):
        region = magic_wand(img, 20.5, 25.5, tol, fixed_range=fixed_range).full()
        assert region[25, 20] == 1
        assert not (previous & ~region.astype(bool)).any()  # contains the smaller one
        previous = region.astype(bool)
        areas.append(int(region.sum()))
    assert areas == sorted(areas) and areas[0] < areas[-1]


def test_fixed_range_compares_with_the_seed_and_stops_at_the_wall():
    img = gradient_image()
    region = magic_wand(img, 20, 25, 10).full()
    cols = np.flatnonzero(region.any(axis=0))
    assert (cols.min(), cols.max()) == (15, 25)  # |2x - 40| <= 10
    floating = magic_wand(img, 20, 25, 2, fixed_range=False).full()
    cols = np.flatnonzero(floating.any(axis=0))
    assert (cols.min(), cols.max()) == (0, 59)  # creeps along the ramp up to the wall


def test_connectivity_8_crosses_diagonals_and_4_does_not():
    img = np.zeros((10, 10, 3), np.uint8)
    img[2, 2] = img[3, 3] = 200
    assert magic_wand(img, 2, 2, 0, connectivity=4).area == 1
    assert magic_wand(img, 2, 2, 0, connectivity=8).area == 2


def test_the_result_is_a_crop_of_the_filled_rectangle():
    img = np.zeros((300, 400, 3), np.uint8)
    img[100:120, 200:260] = 90
    region = magic_wand(img, 210, 105, 5)
    assert (region.x, region.y, region.mask.shape) == (200, 100, (20, 60))
    assert region.full().sum() == 20 * 60


def test_allowed_confines_the_region():
    img = np.zeros((20, 20, 3), np.uint8)
    allowed = np.zeros((20, 20), np.uint8)
    allowed[:, :8] = 1
    assert flood_region(img, 3, 3, 0, allowed=allowed).area == 20 * 8
    assert flood_region(img, 15, 3, 0, allowed=allowed).area == 0


def test_shift_adds_and_alt_subtracts():
    img = np.zeros((40, 40, 3), np.uint8)
    img[5:15, 5:15] = 100
    img[20:30, 20:35] = 200
    a = magic_wand(img, 6, 6, 0)
    b = magic_wand(img, 25, 25, 0)
    both = combine(a, b, "add")
    assert both.area == 100 + 150
    np.testing.assert_array_equal(both.full(), a.full() | b.full())
    assert combine(both, b, "subtract").area == 100
    assert combine(a, a, "subtract") is None
    assert combine(a, b, "replace").area == 150
