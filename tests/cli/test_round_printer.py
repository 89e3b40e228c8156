"""What `labeler train` prints while a round trains: a step count, or for a time budget the
step, the loss and the seconds left."""

from __future__ import annotations

from labeler.cli.model_commands import RoundPrinter
from labeler.workers.protocol import RoundStarted, TrainProgress


def test_a_time_budget_prints_the_seconds_left(capsys):
    printer = RoundPrinter()
    printer(RoundStarted(3, 8, 2, None))
    for step in range(1, 21):
        printer(TrainProgress(3, "training", step, None, 0.5 + step / 100, seconds_left=60.0 - 2 * step))
    err = capsys.readouterr().err.splitlines()
    assert err == ["round v3: 8 training images, 2 held-out images",
                   "training v3: step 10, loss 0.600, 40 s left",
                   "training v3: step 20, loss 0.700, 20 s left"]


def test_a_step_budget_prints_steps_done(capsys):
    printer = RoundPrinter()
    for step in range(1, 11):
        printer(TrainProgress(3, "training", step, 10, 1.0))
    err = capsys.readouterr().err
    assert "training v3: 10/10 (100%)" in err and "s left" not in err
