"""The path hash behind both the held-out split and a COCO export's train/val files: one
function, and its values do not move (an image stays on its side across versions)."""

from __future__ import annotations

import pytest

from labeler.core.entities import ImageRecord
from labeler.formats import coco
from labeler.core.rounds import RoundStatus
from labeler.store.training import (
    Snapshot, any_promoted, assign_splits, begin_version, finish_version, split_value, versions,
)

# Computed with the code before the two copies were merged (formats.coco.split_value and
# store.training._hash_fraction gave the same numbers).
EXPECTED = {
    "val/zz.tif": 0.04004864640083268, "a.png": 0.4127750881646156, "images/cat 01.jpg": 0.6032962888299933,
    "dir/sub/IMG_0042.JPG": 0.2884591272734674, "ünïcode/ß.png": 0.9690340297829863,
    "img_000.png": 0.6286334811173498, "img_001.png": 0.5291185130363932, "img_002.png": 0.6106040258401021,
    "img_003.png": 0.02010526745239232, "img_004.png": 0.076345112614818, "img_005.png": 0.2619515809139003,
    "img_006.png": 0.9256310165943519, "img_007.png": 0.27211970444651157, "img_008.png": 0.3386927443251271,
    "img_009.png": 0.7744296498651655, "img_010.png": 0.2938420331353085, "img_011.png": 0.4516751245179952,
}


@pytest.mark.parametrize("value", [split_value, coco.split_value])
def test_split_values_do_not_change(value):
    assert {path: value(path) for path in EXPECTED} == EXPECTED
    assert [p for p in EXPECTED if value(p) < 0.2] == ["val/zz.tif", "img_003.png", "img_004.png"]


def test_the_heldout_split_takes_images_in_hash_order(store):
    first, second = store.add_images([ImageRecord(None, p, 10, 10) for p in ("img_000.png", "img_003.png")])
    # taken in hash order (img_003.png's value is the smaller), the second of two is held out
    assert assign_splits(store, [first, second]) == {first.id: True, second.id: False}


def test_any_promoted(store):
    snapshot = Snapshot("s", ((None, ()),), ((None, ()),), (1,), ("cat",), 0)
    assert not any_promoted(store)
    finish_version(store, begin_version(store, snapshot, "m"), RoundStatus.KEPT_PREVIOUS)
    assert not any_promoted(store)
    finish_version(store, begin_version(store, snapshot, "m"), RoundStatus.PROMOTED)
    assert any_promoted(store)
    assert [v.status for v in versions(store)] == [RoundStatus.KEPT_PREVIOUS, RoundStatus.PROMOTED]
    with pytest.raises(ValueError):
        finish_version(store, 2, RoundStatus.SKIPPED)
