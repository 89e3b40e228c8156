"""The promotion rule and the round statuses."""

from __future__ import annotations

import json
import math

import pytest

from labeler.core.rounds import FINISHED, RoundStatus, promotion

P, K, F = RoundStatus.PROMOTED, RoundStatus.KEPT_PREVIOUS, RoundStatus.FAILED
NAN = math.nan

# new score, previous score, first round, scoring error -> status, words in the reason
TABLE = [
    (0.0, None, True, None, P, "first round"),
    (NAN, None, True, None, P, "first round"),
    (0.1, 0.5, True, None, P, "first round"),  # the first round has nothing to beat
    (0.31, 0.30, False, None, P, "0.3100 >= 0.3000 of v2"),
    (0.30, 0.30, False, None, P, ">= 0.3000"),  # equal promotes
    (0.0, 0.0, False, None, P, ">= 0.0000"),
    (0.29, 0.30, False, None, K, "0.2900 < 0.3000 of v2; v2 stays"),
    (NAN, 0.30, False, None, K, "not a number; v2 stays"),
    (0.2, NAN, False, None, P, ">= 0.0000"),  # an unscored current model counts as 0
    (0.2, None, False, None, P, ">= 0.0000"),
    (0.9, 0.1, False, "RuntimeError: out of memory", F, "scoring the new model failed (RuntimeError"),
    (0.9, 0.1, True, "RuntimeError: out of memory", F, "the current model stays"),
]


@pytest.mark.parametrize("new, previous, first, error, status, words", TABLE)
def test_promotion(new, previous, first, error, status, words):
    got, reason = promotion(new, previous, first_round=first, parent=2, scoring_error=error)
    assert got is status and words in reason


def test_statuses_keep_their_text():
    assert [s.value for s in RoundStatus] == ["training", "promoted", "kept_previous", "failed",
                                              "interrupted", "skipped"]
    assert RoundStatus.PROMOTED == "promoted" and f"{RoundStatus.KEPT_PREVIOUS}" == "kept_previous"
    assert json.dumps({"status": RoundStatus.FAILED}) == '{"status": "failed"}'
    assert RoundStatus("interrupted") is RoundStatus.INTERRUPTED
    assert RoundStatus.TRAINING not in FINISHED and RoundStatus.SKIPPED not in FINISHED
