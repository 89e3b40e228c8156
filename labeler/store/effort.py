"""The effort meter: what the person did on each image, under each model version.

The window adds to the counts as the person works (`add_effort`); `effort_summary` turns
them into the figures that say whether the model is saving work: seconds and actions per
accepted instance, and the share of the model's suggestions accepted without an edit.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.entities import Provenance, ProvenanceKind
from .project_store import ProjectStore


@dataclass(frozen=True)
class EffortSummary:
    model_version: int
    images: int
    accepted_instances: int  # accepted instances on those images
    seconds: float
    vertices: int
    strokes: int
    keys: int
    suggestions_reviewed: int  # this version's suggestions accepted, edited or rejected
    accepted_unedited: int

    @property
    def actions(self) -> int:
        return self.vertices + self.strokes + self.keys

    @property
    def seconds_per_instance(self) -> float | None:
        return self.seconds / self.accepted_instances if self.accepted_instances else None

    @property
    def actions_per_instance(self) -> float | None:
        return self.actions / self.accepted_instances if self.accepted_instances else None

    @property
    def unedited_share(self) -> float | None:
        return self.accepted_unedited / self.suggestions_reviewed if self.suggestions_reviewed else None


def add_effort(store: ProjectStore, image_id: int, model_version: int, *, vertices: int = 0,
               strokes: int = 0, keys: int = 0, seconds: float = 0.0) -> None:
    if min(vertices, strokes, keys, seconds) < 0:
        raise ValueError("effort counts only grow")
    with store.transaction():
        store.db.execute(
            "INSERT INTO effort(image_id, model_version, vertices, strokes, keys, seconds) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(image_id, model_version) DO UPDATE SET "
            "vertices = vertices + excluded.vertices, strokes = strokes + excluded.strokes, "
            "keys = keys + excluded.keys, seconds = seconds + excluded.seconds",
            (image_id, model_version, vertices, strokes, keys, float(seconds)))


def effort_summary(store: ProjectStore) -> list[EffortSummary]:
    """One row per model version the person worked under, oldest first. An image worked on
    under several versions counts its accepted instances under the latest of them."""
    rows = store.db.execute(
        "SELECT model_version, COUNT(*), SUM(vertices), SUM(strokes), SUM(keys), SUM(seconds) "
        "FROM effort GROUP BY model_version ORDER BY model_version").fetchall()
    accepted = dict(store.db.execute(
        "SELECT e.model_version, COUNT(i.id) FROM effort e "
        "JOIN (SELECT image_id, MAX(model_version) AS v FROM effort GROUP BY image_id) last "
        "  ON last.image_id = e.image_id AND last.v = e.model_version "
        "JOIN instances i ON i.image_id = e.image_id AND i.status = 'accepted' "
        "GROUP BY e.model_version"))
    reviewed: dict[int, list[int]] = {}
    for provenance, status, count in store.db.execute(
            "SELECT provenance, status, COUNT(*) FROM instances WHERE provenance LIKE 'model v%' "
            "AND status != 'proposed' GROUP BY provenance, status"):
        prov = Provenance.parse(provenance)  # suggestions only: a person's shapes, assisted or not, are not
        tally = reviewed.setdefault(prov.model_version or 0, [0, 0])
        tally[0] += count
        if status == "accepted" and prov.kind == ProvenanceKind.MODEL:
            tally[1] += count
    out = []
    for version, images, vertices, strokes, keys, seconds in rows:
        seen, unedited = reviewed.get(version, (0, 0))
        out.append(EffortSummary(version, images, accepted.get(version, 0), seconds or 0.0, vertices or 0,
                                 strokes or 0, keys or 0, seen, unedited))
    return out
