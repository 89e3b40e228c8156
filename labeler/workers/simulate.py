"""The simulated annotator: how much work would the model save on a dataset with ground truth?

It replays labeling the images in path order, as a person would with labeler:

- the current model suggests (suggestions at or above the score threshold are shown);
- a suggestion matching a ground-truth instance with mask IoU >= 0.85 is accepted: 1 action
  (+1 to fix its class if the class is wrong);
- one matching with 0.5 <= IoU < 0.85 is corrected: the vertices of the part to fix (the
  symmetric difference of suggestion and truth, simplified at 1 px), never more than
  drawing it anew, +1 to accept;
- a ground-truth instance no suggestion matched is drawn by hand: the vertices of its
  polygon simplified at 1 px;
- a suggestion matching nothing is rejected: 1 action.

With an assist tool (`assist="grabcut"`), a ground-truth instance no suggestion matched is
first made with the tool (workers/assist_sim.py): its true box (1 action), then the standard
clicker's clicks until mask IoU >= 0.85, at most 20 actions in all; the mask it reaches is
what the person accepts. If it never gets there, they pay its polygon as well. The Tally keeps
NoC@85 and NoC@90 (the box counting as action 1, 20 when never reached) of every instance the
tool was tried on. With no model at all (`worker=None`), nothing is suggested and nothing is
trained: every instance is made with the tool, or by hand.

Drawing everything by hand costs the simplified vertices of every ground-truth instance;
the ratio of the two is the figure: 0.42 means the model saved 58 % of the actions. The
first `start_with` images are labeled by hand (there is nothing to learn from before), then
a training round runs after every `retrain_every` accepted images, exactly as in the app
(workers/trainer.py), and the labels the simulated person accepts are what the model
learns from. The project it builds is a normal labeler project: open it to look.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .. import geometry
from ..assist.masks import mask_to_shape
from ..core.entities import (
    ImageRecord, ImageStatus, Instance, InstanceStatus, MaskRLE, Polygons, Provenance, Shape,
)
from ..formats import import_coco
from ..imaging import decode_image
from ..store import ProjectError, ProjectStore
from ..store.effort import add_effort
from ..store.proposals import current_model_version
from .assist_sim import attempt
from .protocol import RoundDone, TrainerConfig, WorkerConfig
from .trainer import run_round

ACCEPT_IOU = 0.85
MATCH_IOU = 0.5
SIMPLIFY_PX = 1.0
NOC_IOU = (ACCEPT_IOU, 0.90)  # the NoC@85 and NoC@90 thresholds
MAX_ACTIONS = 20  # the most actions (box and clicks) spent on one instance with an assist tool


@dataclass
class Tally:
    images: int = 0
    instances: int = 0
    accepted: int = 0
    corrected: int = 0
    drawn: int = 0
    rejected: int = 0
    actions: int = 0
    by_hand: int = 0  # actions to draw every instance without a model
    assisted: int = 0  # instances made with the assist tool (it reached ACCEPT_IOU)
    tried: int = 0  # instances the assist tool was tried on (assisted, or drawn after it failed)
    noc85: int = 0  # the sums of their NoC@85 and NoC@90
    noc90: int = 0

    def add(self, other: "Tally") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def ratio(self) -> float | None:
        return self.actions / self.by_hand if self.by_hand else None


@dataclass
class Block:
    first: int  # 1-based image numbers
    last: int
    model_version: int
    tally: Tally = field(default_factory=Tally)


def _polygons(shape: Shape, height: int, width: int) -> Polygons | None:
    if isinstance(shape, MaskRLE):
        return geometry.mask_to_polygons(geometry.to_mask(shape, height, width), tolerance=0)
    return shape


def drawing_cost(shape: Shape, height: int, width: int) -> int:
    """Clicks to draw the shape by hand: its vertices after simplifying at 1 px."""
    polygons = _polygons(shape, height, width)
    return geometry.simplify(polygons, SIMPLIFY_PX).vertex_count if polygons is not None else 0


def correction_cost(suggested: Shape, truth: Shape, height: int, width: int, redraw: int) -> int:
    """Clicks to turn `suggested` into `truth`: the vertices of what differs, at most `redraw`."""
    a, b = _polygons(suggested, height, width), _polygons(truth, height, width)
    if a is None or b is None:
        return redraw
    diff = geometry.from_shapely(geometry.to_shapely(a).symmetric_difference(geometry.to_shapely(b)),
                                 min_area=SIMPLIFY_PX)
    cost = geometry.simplify(diff, SIMPLIFY_PX).vertex_count if diff is not None else 0
    return min(cost, redraw)


@dataclass(frozen=True)
class Decision:
    kind: str  # accepted | corrected | drawn | rejected
    actions: int
    suggestion: Instance | None
    truth: tuple[int, Shape] | None  # (category id, shape)
    by_hand: int = 0  # what drawing the true instance by hand would have cost
    shape: Shape | None = None  # assisted: the shape the tool made (accepted instead of the truth)
    tool: str | None = None  # the assist tool tried on the instance, if any
    noc: tuple[int, int] | None = None  # (NoC@85, NoC@90) when the tool was tried


def review(suggestions: list[Instance], truth: list[tuple[int, Shape]], height: int, width: int
           ) -> list[Decision]:
    """What the simulated person does with one image's suggestions (highest score first)."""
    suggestions = sorted(suggestions, key=lambda s: -(s.score or 0.0))
    ious = geometry.mask_iou([s.shape for s in suggestions], [t[1] for t in truth], height, width)
    redraw = [drawing_cost(shape, height, width) for _, shape in truth]
    taken: set[int] = set()
    decisions = []
    for n, suggestion in enumerate(suggestions):
        free = [(ious[n, j], j) for j in range(len(truth)) if j not in taken] if len(truth) else []
        iou, j = max(free, default=(0.0, -1))
        if iou < MATCH_IOU:
            decisions.append(Decision("rejected", 1, suggestion, None))
            continue
        taken.add(j)
        relabel = int(suggestion.category_id != truth[j][0])
        if iou >= ACCEPT_IOU:
            decisions.append(Decision("accepted", 1 + relabel, suggestion, truth[j], redraw[j]))
        else:
            cost = correction_cost(suggestion.shape, truth[j][1], height, width, redraw[j])
            decisions.append(Decision("corrected", cost + 1 + relabel, suggestion, truth[j], redraw[j]))
    for j, item in enumerate(truth):
        if j not in taken:
            decisions.append(Decision("drawn", redraw[j], None, item, redraw[j]))
    return decisions


def assist_decisions(decisions: list[Decision], pixels: Callable[[], np.ndarray], height: int, width: int,
                     tool: str) -> list[Decision]:
    """Each instance the person would draw by hand is first made with the assist tool
    (workers/assist_sim.py); `pixels()` gives the image's BGR pixels, read only if needed."""
    out, image = [], None
    for d in decisions:
        truth = geometry.to_mask(d.truth[1], height, width) if d.kind == "drawn" else None
        if truth is None or not truth.any():  # nothing to draw, or no box to drag: as before
            out.append(d)
            continue
        image = pixels() if image is None else image
        a = attempt(tool, image, truth, accept_iou=ACCEPT_IOU, measure_iou=NOC_IOU[1], max_actions=MAX_ACTIONS)
        noc = (a.noc(NOC_IOU[0]), a.noc(NOC_IOU[1]))
        shape = mask_to_shape(a.kept) if a.kept is not None else None
        if shape is not None:
            out.append(Decision("assisted", a.charged, None, d.truth, d.by_hand, shape, tool, noc))
        else:  # it never reached ACCEPT_IOU: the box and clicks are spent, and the polygon drawn
            out.append(Decision("drawn", a.charged + d.actions, None, d.truth, d.by_hand, None, tool, noc))
    return out


def apply(store: ProjectStore, image: ImageRecord, decisions: list[Decision], version: int) -> Tally:
    """Write what the person did (one transaction) and count it."""
    tally = Tally(images=1)
    with store.transaction():
        for old in store.instances(image.id, (InstanceStatus.PROPOSED,)):
            store.remove_instance(old.id)
        for d in decisions:
            tally.actions += d.actions
            setattr(tally, d.kind, getattr(tally, d.kind) + 1)
            if d.truth is not None:
                tally.instances += 1
                tally.by_hand += d.by_hand
            if d.noc is not None:
                tally.tried += 1
                tally.noc85 += d.noc[0]
                tally.noc90 += d.noc[1]
            s = d.suggestion
            if d.kind == "rejected":
                store.put_instance(replace(s, id=None, status=InstanceStatus.REJECTED))
            elif d.kind == "accepted":
                store.put_instance(replace(s, id=None, category_id=d.truth[0], status=InstanceStatus.ACCEPTED))
            elif d.kind == "corrected":
                store.put_instance(Instance(None, image.id, d.truth[0], d.truth[1], s.score,
                                            s.provenance.edited(), InstanceStatus.ACCEPTED))
            elif d.kind == "assisted":
                store.put_instance(Instance(None, image.id, d.truth[0], d.shape,
                                            provenance=Provenance.assisted(d.tool)))
            else:
                store.put_instance(Instance(None, image.id, d.truth[0], d.truth[1]))
        store.set_image_status(image.id, ImageStatus.ACCEPTED)
        drawing = sum(d.actions for d in decisions if d.kind in ("corrected", "drawn", "assisted"))
        add_effort(store, image.id, version, vertices=drawing, keys=tally.actions - drawing)
    return tally


def build_projects(ground_truth: Path, images: Path, workdir: Path,
                   warn: Callable[[str], None] = lambda line: None) -> tuple[ProjectStore, ProjectStore]:
    """(truth, simulation): the ground truth imported into its own project, and an empty
    project over the same images with the same classes. `warn` gets each line of the
    import's warnings (images not found, shapes dropped ...)."""
    if (workdir / "simulation").exists():
        raise ProjectError(f"{workdir / 'simulation'}: already exists; give an empty --project folder")
    truth = ProjectStore.create(workdir / "truth", images)
    report = import_coco(truth, [ground_truth])
    for line in report.warning_lines():
        warn(line)
    if not truth.images():
        raise ProjectError(f"{ground_truth}: no image of this file was found under {images}")
    if report.instances_added == 0:
        raise ProjectError(f"{ground_truth}: no usable ground-truth instance")
    sim = ProjectStore.create(workdir / "simulation", images, [c.name for c in truth.categories()])
    sim.add_images(replace(i, id=None, status=ImageStatus.UNLABELED) for i in truth.images())
    return truth, sim


def simulate(truth: ProjectStore, sim: ProjectStore, worker: WorkerConfig | None, trainer: TrainerConfig | None,
             *, start_with: int = 10, retrain_every: int = 10, limit: int | None = None, assist: str | None = None,
             on_round: Callable[[RoundDone], None] = lambda done: None) -> Iterator[Block]:
    """Label every image of `sim` (up to `limit`); yields one Block per stretch of images
    labeled under one model version. `worker=None`: no model, no suggestion, no training.
    `assist`: the tool (assist_sim.ASSIST_TOOLS) tried on each instance drawn by hand."""
    from .suggest import Suggester

    by_path = {i.path: i for i in truth.images()}
    to_truth = {c.id: s.id for c, s in zip(truth.categories(), sim.categories())}
    suggester = None
    images = sim.images()[:limit]
    block = None
    try:
        for n, image in enumerate(images, 1):
            version = current_model_version(sim)
            if block is None or block.model_version != version:
                if block is not None:
                    yield block
                block = Block(n, n, version)
            suggestions = []
            if worker is not None and (n > start_with or version > 0):
                if suggester is None or suggester.version != version:
                    if suggester is not None:
                        suggester.close()
                    suggester = Suggester(sim, worker)
                if suggester.loaded.source != "none" or version > 0:
                    list(suggester.run([image]))
                    suggestions = sim.instances(image.id, (InstanceStatus.PROPOSED,))
            original = by_path[image.path]
            truth_items = [(to_truth[i.category_id], i.shape)
                           for i in truth.instances(original.id, (InstanceStatus.ACCEPTED,))]
            decisions = review(suggestions, truth_items, image.height, image.width)
            if assist is not None:
                decisions = assist_decisions(decisions, partial(decode_image, sim.image_path(image)),
                                             image.height, image.width, assist)
            block.tally.add(apply(sim, image, decisions, version))
            block.last = n
            if trainer is not None and n >= start_with and (n - start_with) % max(retrain_every, 1) == 0 \
                    and n < len(images):
                on_round(run_round(sim, trainer))
        if block is not None:
            yield block
    finally:
        if suggester is not None:
            suggester.close()


HEADER = ("images", "model", "instances", "accepted", "corrected", "drawn", "rejected", "actions",
          "by hand", "per instance", "ratio")
ASSISTED_COLUMN = HEADER.index("drawn")  # with an assist tool, "assisted" comes before "drawn"


def table(blocks: list[Block], assist: bool = False) -> str:
    """The blocks as an aligned text table, with a total row; `assist`: with the
    "assisted" column (instances the assist tool made)."""
    total = _total(blocks)
    rows = [_row(f"{b.first}-{b.last}", f"v{b.model_version}", b.tally, assist) for b in blocks]
    rows.append(_row("all", "", total, assist))
    header = list(HEADER)
    if assist:
        header.insert(ASSISTED_COLUMN, "assisted")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def _row(images: str, model: str, t: Tally, assist: bool) -> list[str]:
    per = f"{t.actions / t.instances:.2f}" if t.instances else "-"
    ratio = f"{t.ratio:.2f}" if t.ratio is not None else "-"
    row = [images, model, str(t.instances), str(t.accepted), str(t.corrected), str(t.drawn), str(t.rejected),
           str(t.actions), str(t.by_hand), per, ratio]
    if assist:
        row.insert(ASSISTED_COLUMN, str(t.assisted))
    return row


def _total(blocks: list[Block]) -> Tally:
    total = Tally()
    for b in blocks:
        total.add(b.tally)
    return total


def overall_ratio(blocks: list[Block]) -> float | None:
    return _total(blocks).ratio


def noc_lines(blocks: list[Block]) -> list[str]:
    """`NoC@85: X` and `NoC@90: Y`: the mean, over the instances the assist tool was tried
    on, of the actions until mask IoU >= 0.85 (0.90), the box counting as action 1 and
    MAX_ACTIONS when never reached."""
    t = _total(blocks)
    return [f"NoC@{round(100 * threshold)}: " + (f"{total / t.tried:.2f}" if t.tried else "- (the tool was not needed)")
            for threshold, total in zip(NOC_IOU, (t.noc85, t.noc90))]
