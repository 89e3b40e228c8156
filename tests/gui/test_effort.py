"""The effort meter's tally: what each command cost the person, by the command's kind."""

from __future__ import annotations

from dataclasses import replace

import pytest

from labeler.core import Instance, InstanceStatus, MaskRLE, Polygons, Provenance, commands
from labeler.core.commands import CommandKind
from labeler.gui.effort import tally

SQUARE = Polygons.rectangle(0, 0, 10, 10)
MASK = MaskRLE(4, 4, "0")  # counts are not checked by the core
MANUAL = Instance(1, 1, 1, SQUARE, provenance=Provenance.manual())
PAINTED = Instance(2, 1, 1, MASK, provenance=Provenance.manual())
SUGGESTED = Instance(3, 1, 1, SQUARE, 0.9, Provenance.model(1), InstanceStatus.PROPOSED)

MADE = [  # (command as the app makes it, (vertices, strokes, keys))
    (commands.add_instance(Instance(None, 1, 1, SQUARE), "Add polygon", kind=CommandKind.ADD_POLYGON), (4, 0, 0)),
    (commands.add_instance(Instance(None, 1, 1, SQUARE), "Add rectangle", kind=CommandKind.ADD_RECTANGLE),
     (2, 0, 0)),
    (commands.add_instance(SUGGESTED, "Box prompt", kind=CommandKind.BOX_PROMPT), (2, 0, 0)),
    (commands.add_instance(Instance(None, 1, 1, MASK), "Magic wand", 3, CommandKind.ASSISTED), (3, 0, 0)),
    (commands.edit_shape(MANUAL, Polygons.rectangle(1, 1, 9, 9), "Move shape"), (1, 0, 0)),
    (commands.paint_mask(PAINTED, MASK), (0, 1, 0)),
    (commands.paint_mask(PAINTED, MASK, erase=True), (0, 1, 0)),
    (commands.delete_instances([PAINTED], "Erase", CommandKind.STROKE), (0, 1, 0)),
    (commands.delete_instances([MANUAL]), (0, 0, 1)),
    (commands.relabel([MANUAL], 2), (0, 0, 1)),
    (commands.accept([SUGGESTED]), (0, 0, 1)),
]


@pytest.mark.parametrize("command, cost", MADE, ids=[c.label for c, _ in MADE])
def test_the_tally_goes_by_kind_not_label(command, cost):
    assert tally(command, "do") == cost
    renamed = replace(command, label="Something else entirely")
    assert tally(renamed, "do") == cost  # a new undo label leaves the effort figures alone
    assert tally(renamed, "undo") == tally(renamed, "redo") == (0, 0, 1)


def test_a_renamed_stroke_is_still_a_stroke():
    """Works with the constructors alone (no kind passed): the brush's edit stays a stroke and a
    moved shape one vertex however the undo menu words them."""
    stroke = replace(commands.paint_mask(PAINTED, MASK), label="Brush")
    moved = replace(commands.edit_shape(MANUAL, SQUARE, "Move shape"), label="Drag")
    assert tally(stroke, "do") == (0, 1, 0)
    assert tally(moved, "do") == (1, 0, 0)
