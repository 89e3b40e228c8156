"""The correction loop's records: model versions, the held-out split, the data snapshot.

A training round is a *candidate* version: `begin_version` gives it the next number and a
row with status "training"; `finish_version` records how it ended. Only a round finished as
"promoted" becomes the project's current version (meta.model_version), in the same
transaction that marks the row, so the project never points at a version that failed.
A round cut off by a killed process leaves a "training" row behind; `recover_interrupted`
marks it "interrupted" the next time a trainer starts, and nothing else needs repair:
checkpoints are written atomically and only then registered.

Held-out images are chosen once per image and kept (`splits`): an image the model was
evaluated on is never trained on later, and one it trained on is never used to score it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Iterable

from ..core.entities import ImageRecord, ImageStatus, Instance, InstanceStatus
from ..core.rounds import FINISHED, RoundStatus
from .meta import MetaKey, get_meta, set_meta
from .project_store import ProjectError, ProjectStore
from .proposals import current_model_version

HOLDOUT_FRACTION = 0.2
STATUSES = (RoundStatus.TRAINING, *FINISHED)  # those a model_versions row can have


@dataclass(frozen=True)
class ModelVersion:
    version: int
    parent: int
    model_name: str
    status: RoundStatus
    accepted_images: int
    train_images: int
    heldout_images: int
    snapshot: str
    metrics: dict = field(default_factory=dict)
    reason: str = ""
    checkpoint: str | None = None
    started: str = ""
    finished: str | None = None

    @property
    def mask_ap(self) -> float | None:
        value = self.metrics.get("mask_ap")
        return float(value) if value is not None else None


@dataclass(frozen=True)
class Snapshot:
    """The accepted labels a round learns from, read in one transaction."""

    id: str  # changes whenever an accepted image or one of its accepted instances changes
    train: tuple[tuple[ImageRecord, tuple[Instance, ...]], ...]
    heldout: tuple[tuple[ImageRecord, tuple[Instance, ...]], ...]
    category_ids: tuple[int, ...]  # model label i (1-based) <-> category_ids[i - 1]
    class_names: tuple[str, ...]
    model_version: int  # the project's current version when the snapshot was taken

    @property
    def accepted_images(self) -> int:
        return len(self.train) + len(self.heldout)


_COLUMNS = ("version, parent, model_name, status, accepted_images, train_images, heldout_images, "
            "snapshot, metrics, reason, checkpoint, started, finished")


def _version(row: tuple) -> ModelVersion:
    values = list(row)
    values[3] = RoundStatus(values[3])
    values[8] = json.loads(values[8] or "{}")
    return ModelVersion(*values)


def versions(store: ProjectStore) -> list[ModelVersion]:
    """Every training round, oldest first."""
    return [_version(r) for r in store.db.execute(f"SELECT {_COLUMNS} FROM model_versions ORDER BY version")]


def get_version(store: ProjectStore, version: int) -> ModelVersion | None:
    row = store.db.execute(f"SELECT {_COLUMNS} FROM model_versions WHERE version = ?", (version,)).fetchone()
    return _version(row) if row else None


def begin_version(store: ProjectStore, snapshot: Snapshot, model_name: str) -> int:
    """A new candidate version, numbered after every version so far."""
    with store.transaction():
        last = store.db.execute("SELECT MAX(version) FROM model_versions").fetchone()[0] or 0
        version = max(last, current_model_version(store)) + 1
        store.db.execute(
            "INSERT INTO model_versions(version, parent, model_name, status, accepted_images, "
            "train_images, heldout_images, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (version, snapshot.model_version, model_name, RoundStatus.TRAINING, snapshot.accepted_images,
             len(snapshot.train), len(snapshot.heldout), snapshot.id))
    return version


def finish_version(store: ProjectStore, version: int, status: RoundStatus, *, metrics: dict | None = None,
                   reason: str = "", checkpoint: str | None = None) -> None:
    """Record how a round ended. PROMOTED also makes it the current version."""
    if status not in FINISHED:
        raise ValueError(f"a finished round cannot have status {status!r}")
    status = RoundStatus(status)
    with store.transaction():
        cur = store.db.execute(
            "UPDATE model_versions SET status = ?, metrics = ?, reason = ?, checkpoint = ?, "
            "finished = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE version = ?",
            (status, json.dumps(metrics or {}, sort_keys=True), reason, checkpoint, version))
        if cur.rowcount != 1:
            raise ProjectError(f"no model version {version}")
        if status is RoundStatus.PROMOTED:
            set_meta(store.db, MetaKey.MODEL_VERSION, version)


def any_promoted(store: ProjectStore) -> bool:
    """Whether a round was ever promoted (if not, the next round is the project's first)."""
    return store.db.execute("SELECT 1 FROM model_versions WHERE status = ?",
                            (RoundStatus.PROMOTED,)).fetchone() is not None


def recover_interrupted(store: ProjectStore) -> list[int]:
    """Rounds left "training" by a process that died: marked "interrupted"."""
    with store.transaction():
        stuck = [r[0] for r in store.db.execute("SELECT version FROM model_versions WHERE status = ?",
                                                (RoundStatus.TRAINING,))]
        store.db.execute("UPDATE model_versions SET status = ?, reason = 'the trainer stopped before the round "
                         "ended' WHERE status = ?", (RoundStatus.INTERRUPTED, RoundStatus.TRAINING))
    return stuck


# --- settings and policy ---------------------------------------------------------------

def retrain_every(store: ProjectStore) -> int:
    """Newly accepted images that start a round on their own (0: only on demand)."""
    value = get_meta(store.db, MetaKey.RETRAIN_EVERY)
    return int(value) if value is not None else 10


def set_retrain_every(store: ProjectStore, count: int) -> None:
    if count < 0:
        raise ProjectError(f"retrain_every must be 0 (never on its own) or more, not {count}")
    store.set_meta(MetaKey.RETRAIN_EVERY, int(count))


def accepted_image_count(store: ProjectStore) -> int:
    return store.db.execute("SELECT COUNT(*) FROM images WHERE status = 'accepted'").fetchone()[0]


MIN_ACCEPTED = 2  # one image to learn from, one to score on


def round_blocker(store: ProjectStore) -> str | None:
    """Why a round cannot start now (in one sentence), or None. The window asks before it
    bothers the trainer, so a refusal is said at once."""
    count = accepted_image_count(store)
    if count < MIN_ACCEPTED:
        return (f"a round needs at least {MIN_ACCEPTED} accepted images (one to learn from, one to score on); "
                f"the project has {count}")
    return None


def newly_accepted(store: ProjectStore) -> int:
    """Accepted images beyond those the latest finished or running round saw."""
    row = store.db.execute("SELECT accepted_images FROM model_versions WHERE status != ? "
                           "ORDER BY version DESC LIMIT 1", (RoundStatus.INTERRUPTED,)).fetchone()
    return accepted_image_count(store) - (row[0] if row else 0)


def round_due(store: ProjectStore) -> bool:
    """Whether enough new labels were accepted for a round to start on its own."""
    every = retrain_every(store)
    return every > 0 and newly_accepted(store) >= every


# --- data -------------------------------------------------------------------------------

def split_value(path: str) -> float:
    """A number in [0, 1) fixed by the image path alone (stable across runs and machines):
    the first 8 bytes of the SHA-1 of its UTF-8 text. It orders new images for the held-out
    split here and puts each image in the train or val file of a COCO export."""
    return int.from_bytes(hashlib.sha1(path.encode("utf-8")).digest()[:8], "big") / 2**64


def assign_splits(store: ProjectStore, images: Iterable[ImageRecord],
                  fraction: float = HOLDOUT_FRACTION) -> dict[int, bool]:
    """image id -> held out, for these images; those seen before keep their side. New ones
    are taken in a stable hash order and held out while fewer than `fraction` of all
    assigned images are (at least one as soon as there are two)."""
    images = list(images)
    with store.transaction():
        known = dict(store.db.execute("SELECT image_id, heldout FROM splits"))
        held = sum(known.values())
        total = len(known)
        for image in sorted((i for i in images if i.id not in known), key=lambda i: split_value(i.path)):
            total += 1
            out = held < max(1 if total >= 2 else 0, round(fraction * total))
            held += out
            known[image.id] = int(out)
            store.db.execute("INSERT INTO splits(image_id, heldout) VALUES (?, ?)", (image.id, int(out)))
    return {i.id: bool(known[i.id]) for i in images}


def take_snapshot(store: ProjectStore, fraction: float = HOLDOUT_FRACTION) -> Snapshot:
    """The accepted images and their accepted instances, consistent with each other (one
    transaction), split into training and held-out images."""
    with store.transaction():
        images = store.images(ImageStatus.ACCEPTED)
        split = assign_splits(store, images, fraction)
        categories = store.categories()
        digest = hashlib.sha1()
        train, heldout = [], []
        for image in images:
            instances = tuple(store.instances(image.id, (InstanceStatus.ACCEPTED,)))
            digest.update(f"{image.id}:{image.path}".encode())
            for inst in instances:
                digest.update(f"|{inst.id}:{inst.category_id}:{inst.shape.to_json()}".encode())
            (heldout if split[image.id] else train).append((image, instances))
        version = current_model_version(store)
    return Snapshot(digest.hexdigest()[:12], tuple(train), tuple(heldout), tuple(c.id for c in categories),
                    tuple(c.name for c in categories), version)
