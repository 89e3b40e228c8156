"""The project's vocabulary: images, categories, instances and their shapes.

Plain frozen dataclasses with no Qt, no torch and no I/O. Every change to them goes
through a command (core/commands.py) so that it can be undone and stored atomically.
Coordinates are image pixels, x to the right and y down, with (0, 0) at the top-left
corner of the top-left pixel, as in COCO.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from .attributes import EMPTY, Attributes


class ImageStatus(str, Enum):
    UNLABELED = "unlabeled"  # nobody and no model has touched it
    PROPOSED = "proposed"  # the model has suggestions waiting for review
    IN_REVIEW = "in_review"  # a person has started on it
    ACCEPTED = "accepted"  # a person marked every instance on it as done


class InstanceStatus(str, Enum):
    PROPOSED = "proposed"  # a suggestion (model, or a box-only import) awaiting review
    ACCEPTED = "accepted"  # a label a person stands behind
    REJECTED = "rejected"  # a suggestion a person turned down; kept so it is not re-suggested


Ring = tuple[tuple[float, float], ...]
"""A closed ring of (x, y) vertices; the first vertex is not repeated at the end."""

PolygonPart = tuple[Ring, ...]
"""One connected piece: the exterior ring first, then its holes."""


@dataclass(frozen=True)
class Polygons:
    """One or more polygon parts, each with optional holes (one instance may have several
    disjoint parts, e.g. a person cut in two by a pole)."""

    parts: tuple[PolygonPart, ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("a polygon shape needs at least one part")
        for part in self.parts:
            if not part:
                raise ValueError("a polygon part needs an exterior ring")
            for ring in part:
                if len(ring) < 3:
                    raise ValueError(f"a polygon ring needs at least 3 vertices, got {len(ring)}")

    @property
    def has_holes(self) -> bool:
        return any(len(part) > 1 for part in self.parts)

    @property
    def vertex_count(self) -> int:
        return sum(len(ring) for part in self.parts for ring in part)

    @classmethod
    def from_flat(cls, flat_rings: list[list[float]]) -> "Polygons":
        """Each flat [x0, y0, x1, y1, ...] list becomes a part without holes (COCO style)."""
        return cls(tuple((_ring_from_flat(r),) for r in flat_rings))

    @classmethod
    def rectangle(cls, x0: float, y0: float, x1: float, y1: float) -> "Polygons":
        x0, x1 = sorted((float(x0), float(x1)))
        y0, y1 = sorted((float(y0), float(y1)))
        ring = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
        return cls(((ring,),))

    def to_json(self) -> list:
        """[[flat exterior, flat hole, ...], ...]: compact and lossless."""
        return [[[c for xy in ring for c in xy] for ring in part] for part in self.parts]

    @classmethod
    def from_json(cls, data: list) -> "Polygons":
        return cls(tuple(tuple(_ring_from_flat(r) for r in part) for part in data))


def _ring_from_flat(flat: list[float]) -> Ring:
    if len(flat) % 2:
        raise ValueError(f"a flat ring needs an even number of coordinates, got {len(flat)}")
    it = iter(float(c) for c in flat)
    return tuple(zip(it, it))


@dataclass(frozen=True)
class MaskRLE:
    """A binary mask as COCO compressed RLE (column-major counts as a utf-8 string)."""

    height: int
    width: int
    counts: str

    def to_json(self) -> dict:
        return {"size": [self.height, self.width], "counts": self.counts}

    @classmethod
    def from_json(cls, data: dict) -> "MaskRLE":
        h, w = data["size"]
        counts = data["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("ascii")
        if not isinstance(counts, str):
            raise ValueError("MaskRLE needs compressed counts; convert with geometry.to_rle first")
        return cls(int(h), int(w), counts)


Shape = Polygons | MaskRLE


class ProvenanceKind(str, Enum):
    MANUAL = "manual"
    MODEL = "model"
    MODEL_EDITED = "model_edited"
    ASSISTED = "assisted"  # a person's shape made with an assist tool (GrabCut, wand, scissors...)


ASSIST_TOOLS = ("grabcut", "wand", "scissors", "sam")


@dataclass(frozen=True)
class Provenance:
    """Who made a shape: a person (by hand, or with an assist tool), a model version, or a
    person correcting a model."""

    kind: ProvenanceKind = ProvenanceKind.MANUAL
    model_version: int | None = None
    tool: str | None = None  # ASSISTED: which tool (ASSIST_TOOLS)

    def __post_init__(self) -> None:
        from_model = self.kind in (ProvenanceKind.MODEL, ProvenanceKind.MODEL_EDITED)
        if from_model != (self.model_version is not None):
            raise ValueError("model provenance needs a model version; a person's shape has none")
        if (self.kind == ProvenanceKind.ASSISTED) != (self.tool is not None):
            raise ValueError("assisted provenance needs its tool; other kinds have none")
        if self.tool is not None and self.tool not in ASSIST_TOOLS:
            raise ValueError(f"unknown assist tool {self.tool!r}")

    @classmethod
    def manual(cls) -> "Provenance":
        return cls()

    @classmethod
    def model(cls, version: int) -> "Provenance":
        return cls(ProvenanceKind.MODEL, int(version))

    @classmethod
    def assisted(cls, tool: str) -> "Provenance":
        return cls(ProvenanceKind.ASSISTED, tool=tool)

    @property
    def from_model(self) -> bool:
        return self.kind in (ProvenanceKind.MODEL, ProvenanceKind.MODEL_EDITED)

    def edited(self) -> "Provenance":
        """What a person's edit turns this provenance into."""
        if self.kind == ProvenanceKind.MODEL:
            return Provenance(ProvenanceKind.MODEL_EDITED, self.model_version)
        return self

    def __str__(self) -> str:
        if self.kind == ProvenanceKind.MANUAL:
            return "manual"
        if self.kind == ProvenanceKind.ASSISTED:
            return f"assisted {self.tool}"
        suffix = " edited" if self.kind == ProvenanceKind.MODEL_EDITED else ""
        return f"model v{self.model_version}{suffix}"

    @classmethod
    def parse(cls, text: str) -> "Provenance":
        if text == "manual":
            return cls()
        m = re.fullmatch(r"assisted (\w+)", text)
        if m:
            return cls.assisted(m.group(1))
        m = re.fullmatch(r"model v(\d+)( edited)?", text)
        if not m:
            raise ValueError(f"unknown provenance {text!r}")
        kind = ProvenanceKind.MODEL_EDITED if m.group(2) else ProvenanceKind.MODEL
        return cls(kind, int(m.group(1)))


@dataclass(frozen=True)
class Category:
    id: int | None
    name: str
    color: str = "#e6194b"  # "#rrggbb"

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip():
            raise ValueError(f"category name {self.name!r} is empty or has surrounding spaces")
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", self.color):
            raise ValueError(f"category color {self.color!r} is not #rrggbb")


@dataclass(frozen=True)
class ImageRecord:
    id: int | None
    path: str  # relative to the project's image root, with forward slashes
    width: int
    height: int
    status: ImageStatus = ImageStatus.UNLABELED


@dataclass(frozen=True)
class Instance:
    id: int | None
    image_id: int
    category_id: int
    shape: Shape
    score: float | None = None
    provenance: Provenance = field(default_factory=Provenance)
    status: InstanceStatus = InstanceStatus.ACCEPTED
    attributes: Attributes = EMPTY  # name -> value (core/attributes.py); a plain dict is converted

    def __post_init__(self) -> None:
        if not isinstance(self.attributes, Attributes):
            object.__setattr__(self, "attributes", Attributes(self.attributes))


# A fixed, well-separated palette (Sasha Trubetskoy's 20 distinct colours); new categories
# take the next one so that neighbours on screen are easy to tell apart.
PALETTE = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0",
    "#f032e6", "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8",
    "#800000", "#aaffc3", "#808000", "#ffd8b1", "#000075", "#808080",
)


def palette_color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]
