"""Model suggestions in the project: where the model's output meets what people decided.

The model proposes, the person decides. So, when a model version's suggestions for an
image arrive:

- an accepted image is never touched;
- on an image nobody has started (unlabeled or proposed), the suggestions still waiting
  there are replaced by the new ones;
- on an image in review, suggestions are added only if no model has suggested anything
  there yet (a person who began before the model answered still gets them), and nothing
  is removed;
- a suggestion that covers an accepted label (mask IoU >= `overlap`) or one that a person
  rejected from the same model version is not stored again;
- suggestions from a version older than the project's current one are refused as stale.

Every call is one transaction, and records in `predictions` that this version has seen
the image, so a batch run resumes where it stopped.

Also here: the project's COCO class map, which says which COCO class each project class
starts from when the model starts from COCO weights.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Iterable

from .. import geometry
from ..core.entities import (
    ImageRecord, ImageStatus, Instance, InstanceStatus, Provenance, ProvenanceKind, Shape,
)
from ..core.coco_classes import match_coco_classes
from ..core.errors import OptionError
from .meta import MetaKey, get_meta, set_meta
from .project_store import ProjectError, ProjectStore

OVERLAP = 0.5  # mask IoU above which a suggestion repeats an existing label


@dataclass(frozen=True)
class Suggestion:
    category_id: int
    shape: Shape
    score: float


@dataclass(frozen=True)
class SuggestOutcome:
    image_id: int
    model_version: int
    added: tuple[Instance, ...] = ()
    removed: int = 0
    skipped: str | None = None  # why nothing was written, when nothing was


def current_model_version(store: ProjectStore) -> int:
    """The promoted model version (0: the initial weights); training.finish_version sets it."""
    return int(store.meta(MetaKey.MODEL_VERSION))


# --- the COCO class map ----------------------------------------------------------------
# Stored in meta class_map as {category id: COCO class, "" = none}, so a renamed class keeps
# its entry; read and written by class name, the current one.

def class_map(store: ProjectStore) -> dict[str, str]:
    """The project's own COCO class mapping (project class -> COCO class; "" = unmapped),
    by the classes' current names. Entries of classes that are gone are left out."""
    text = get_meta(store.db, MetaKey.CLASS_MAP)
    names = {c.id: c.name for c in store.categories()}
    by_id = json.loads(text) if text else {}
    return {names[int(k)]: v for k, v in by_id.items() if int(k) in names}


def save_class_map(store: ProjectStore, mapping: dict[str, str]) -> dict[str, str]:
    """Check a mapping (project class name -> COCO class, "" = none) against the project's
    classes and COCO's, then store it in place of the old one. Returns the mapping the COCO
    weights will use (names matched on their own included). A bad entry is an OptionError
    naming it, and the old mapping stays."""
    with store.transaction():  # the classes checked are the classes the ids are taken from
        categories = store.categories()
        used = match_coco_classes([c.name for c in categories], mapping)
        ids = {c.name: c.id for c in categories}
        by_id = {str(ids[name]): used.get(name, "") if target else "" for name, target in mapping.items()}
        set_meta(store.db, MetaKey.CLASS_MAP, json.dumps(by_id, sort_keys=True))
    return used


def key_class_map_by_id(db: sqlite3.Connection) -> None:
    """Schema 5: a class map keyed by class name (older projects) re-keyed by category id.
    Entries that could never apply are dropped: names no class has any more, and targets
    that are no COCO class (older windows saved those unchecked). Runs inside the
    migration's transaction."""
    text = get_meta(db, MetaKey.CLASS_MAP)
    if not text:
        return
    ids = dict(db.execute("SELECT name, id FROM categories"))
    by_id = {}
    for name, target in json.loads(text).items():
        if name not in ids:
            continue
        try:
            by_id[str(ids[name])] = match_coco_classes([name], {name: target}).get(name, "")
        except OptionError:
            continue
    set_meta(db, MetaKey.CLASS_MAP, json.dumps(by_id, sort_keys=True))


def parse_class_map(text: str) -> dict[str, str]:
    """"coin=clock, mug=cup, bird=" -> {"coin": "clock", "mug": "cup", "bird": ""}."""
    mapping = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, target = item.partition("=")
        if not sep or not name.strip():
            raise ProjectError(f"class map entry {item!r} is not CLASS=COCO_CLASS")
        mapping[name.strip()] = target.strip()
    return mapping


def store_suggestions(store: ProjectStore, image_id: int, model_version: int,
                      suggestions: Iterable[Suggestion], overlap: float = OVERLAP) -> SuggestOutcome:
    suggestions = list(suggestions)
    with store.transaction():
        current = current_model_version(store)
        if model_version < current:
            return SuggestOutcome(image_id, model_version, skipped=f"stale: model v{model_version} "
                                  f"was replaced by v{current}")
        image = store.get_image(image_id)
        outcome = _merge(store, image, model_version, suggestions, overlap)
        store.db.execute("INSERT OR REPLACE INTO predictions(image_id, model_version, proposals) "
                         "VALUES (?, ?, ?)", (image_id, model_version, len(outcome.added)))
        return outcome


def _merge(store: ProjectStore, image: ImageRecord, version: int, suggestions: list[Suggestion],
           overlap: float) -> SuggestOutcome:
    if image.status == ImageStatus.ACCEPTED:
        return SuggestOutcome(image.id, version, skipped="image already accepted")
    existing = store.instances(image.id)
    from_model = [i for i in existing if i.provenance.from_model]
    removed: set[int] = set()
    if image.status == ImageStatus.IN_REVIEW:
        if from_model:
            return SuggestOutcome(image.id, version, skipped="a person is reviewing this image")
    else:
        for old in existing:
            if old.status == InstanceStatus.PROPOSED and old.provenance.kind == ProvenanceKind.MODEL:
                store.remove_instance(old.id)
                removed.add(old.id)
    keep = [i for i in existing if i.status == InstanceStatus.ACCEPTED
            or (i.status == InstanceStatus.REJECTED and i.provenance.model_version == version)]
    if keep:  # a suggestion over a label a person kept, or one they rejected, is not stored again
        suggestions = [s for s in suggestions if _fits(s.shape, image)]  # shapes mask_iou can rasterise
        ious = geometry.mask_iou([s.shape for s in suggestions], [i.shape for i in keep], image.height, image.width)
        suggestions = [s for s, row in zip(suggestions, ious) if row.max() < overlap]
    added = store.put_instances(  # a suggestion that fails the store's shape check (a degenerate trace) is left out
        [Instance(None, image.id, s.category_id, s.shape, float(s.score), Provenance.model(version),
                  InstanceStatus.PROPOSED) for s in suggestions], skip_invalid=True)
    if image.status in (ImageStatus.UNLABELED, ImageStatus.PROPOSED):
        pending = bool(added) or any(i.status == InstanceStatus.PROPOSED and i.id not in removed for i in existing)
        store.set_image_status(image.id, ImageStatus.PROPOSED if pending else ImageStatus.UNLABELED)
    return SuggestOutcome(image.id, version, tuple(added), len(removed))


def _fits(shape, image: ImageRecord) -> bool:
    """Whether a suggestion passes the store's shape check (a degenerate trace does not)."""
    try:
        geometry.check_shape(shape, image.height, image.width)
    except geometry.ShapeError:
        return False
    return True


def images_needing_suggestions(store: ProjectStore, model_version: int,
                               scope: str = "unlabeled") -> list[ImageRecord]:
    """Images this model version has not looked at yet, in path order. scope "unlabeled":
    those nobody has started; "all": every image not yet accepted."""
    statuses = {"unlabeled": (ImageStatus.UNLABELED, ImageStatus.PROPOSED),
                "all": (ImageStatus.UNLABELED, ImageStatus.PROPOSED, ImageStatus.IN_REVIEW)}
    if scope not in statuses:
        raise ProjectError(f"unknown image scope {scope!r}: use 'unlabeled' or 'all'")
    seen = seen_images(store, model_version)
    return [image for image in store.images() if image.status in statuses[scope] and image.id not in seen]


def seen_images(store: ProjectStore, model_version: int) -> set[int]:
    """Ids of the images this model version has looked at (its suggestions are stored)."""
    return {row[0] for row in store.db.execute(
        "SELECT image_id FROM predictions WHERE model_version = ?", (model_version,))}


def has_seen(store: ProjectStore, image_id: int, model_version: int) -> bool:
    """Whether this model version has looked at the image."""
    return store.db.execute("SELECT 1 FROM predictions WHERE image_id = ? AND model_version = ?",
                            (image_id, model_version)).fetchone() is not None


def uncertainty(store: ProjectStore, model_version: int, lowest: int = 3) -> dict[int, float]:
    """image id -> how unsure the model is about it: 1 - the mean of its `lowest` lowest
    suggestion scores from this version (an image it suggested nothing for scores 0.5, as
    unknown). Only images this version has looked at are in the result."""
    scores: dict[int, list[float]] = {}
    for image_id, score in store.db.execute(
            "SELECT image_id, score FROM instances WHERE provenance = ? AND score IS NOT NULL",
            (str(Provenance.model(model_version)),)):
        scores.setdefault(image_id, []).append(score)
    out = {}
    for image_id in seen_images(store, model_version):
        found = sorted(scores.get(image_id, ()))[:lowest]
        out[image_id] = 1.0 - sum(found) / len(found) if found else 0.5
    return out


def review_order(store: ProjectStore, model_version: int) -> list[ImageRecord]:
    """Images nobody has reviewed yet, the ones the model is least sure about first (they
    teach it most); those the model has not looked at yet come last, in path order."""
    unsure = uncertainty(store, model_version)
    todo = [i for i in store.images() if i.status in (ImageStatus.UNLABELED, ImageStatus.PROPOSED)]
    return sorted(todo, key=lambda i: (i.id not in unsure, -unsure.get(i.id, 0.0), i.path))
