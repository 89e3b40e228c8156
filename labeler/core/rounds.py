"""The correction loop's round statuses and its promotion rule, free of torch and storage.

A round's status is stored in model_versions.status and sent to the window in RoundDone;
`RoundStatus` is a str Enum, so both keep the plain text ("promoted", ...).
"""

from __future__ import annotations

import math
from enum import StrEnum


class RoundStatus(StrEnum):
    TRAINING = "training"  # running (a row left so by a dead process is marked interrupted)
    PROMOTED = "promoted"  # scored at least as well as the current model: now the current one
    KEPT_PREVIOUS = "kept_previous"  # scored worse: the current model stays
    FAILED = "failed"  # an error or a diverging loss ended it: the current model stays
    INTERRUPTED = "interrupted"  # stopped by a signal or a killed process
    SKIPPED = "skipped"  # never started (too few accepted images); no model_versions row


# How a recorded round can end (model_versions rows; SKIPPED rounds have no row).
FINISHED = (RoundStatus.PROMOTED, RoundStatus.KEPT_PREVIOUS, RoundStatus.FAILED, RoundStatus.INTERRUPTED)


def promotion(new_score: float, previous_score: float | None, *, first_round: bool, parent: int,
              scoring_error: str | None = None) -> tuple[RoundStatus, str]:
    """(status, reason in one sentence) for a trained round, from held-out mask APs.

    - scoring the new model failed (`scoring_error`, the error's text): FAILED;
    - the project's first round: PROMOTED whatever its score (it trained without error);
    - a new score that is not a number: KEPT_PREVIOUS;
    - a previous score that is missing or not a number counts as 0;
    - otherwise PROMOTED when new >= previous (an equal score promotes), else KEPT_PREVIOUS.
    `parent` is the current model's version, named in the reason."""
    if scoring_error is not None:
        return RoundStatus.FAILED, f"scoring the new model failed ({scoring_error}); the current model stays"
    if first_round:
        return RoundStatus.PROMOTED, "first round: trained without error"
    if math.isnan(new_score):
        return RoundStatus.KEPT_PREVIOUS, f"held-out mask AP is not a number; v{parent} stays"
    before = 0.0 if previous_score is None or math.isnan(previous_score) else previous_score
    if new_score >= before:
        return RoundStatus.PROMOTED, f"held-out mask AP {new_score:.4f} >= {before:.4f} of v{parent}"
    return RoundStatus.KEPT_PREVIOUS, f"held-out mask AP {new_score:.4f} < {before:.4f} of v{parent}; v{parent} stays"
