"""An instance's row in the instances table: how Instance values become SQL parameters
and rows come back (the one place the column order is written down)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

from .. import geometry
from ..core.attributes import Attributes
from ..core.entities import Instance, InstanceStatus, MaskRLE, Polygons, Provenance


@dataclass(frozen=True)
class InstanceRow:
    """An instance as stored, with its shape still as JSON text (fast paths: export, stats)."""

    id: int
    image_id: int
    category_id: int
    kind: str
    data: str
    has_holes: bool
    area: float
    bbox: tuple[float, float, float, float]
    score: float | None
    provenance: str
    status: str
    attributes: str = "{}"  # JSON object: the values set (store/attributes.py); defaults are not stored


INSERT_INSTANCE = (
    "INSERT OR REPLACE INTO instances(image_id, category_id, kind, data, has_holes, area, "
    "bbox_x, bbox_y, bbox_w, bbox_h, score, provenance, status, id{}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?{})")


def insert_sql(rows: Sequence[tuple]) -> str:
    """With the attributes column only if a row has some (the rest get '{}'): old schemas take it."""
    return INSERT_INSTANCE.format(*((", attributes", ",?") if any(r[-1] != "{}" for r in rows) else ("", "")))

INSTANCE_COLUMNS = (
    "id, image_id, category_id, kind, data, has_holes, area, bbox_x, bbox_y, bbox_w, bbox_h, "
    "score, provenance, status, attributes"
)


def row_fields(row: tuple) -> tuple:
    (id_, image_id, category_id, kind, data, has_holes, area, bx, by, bw, bh,
     score, provenance, status, attributes) = row
    return (id_, image_id, category_id, kind, data, bool(has_holes), area, (bx, by, bw, bh),
            score, provenance, status, attributes)


def instance_from_row(row: InstanceRow) -> Instance:
    parsed = json.loads(row.data)
    shape = Polygons.from_json(parsed) if row.kind == "polygon" else MaskRLE.from_json(parsed)
    return Instance(row.id, row.image_id, row.category_id, shape, row.score,
                    Provenance.parse(row.provenance), InstanceStatus(row.status), Attributes.from_text(row.attributes))


def instance_values(instance: Instance) -> tuple:
    shape = instance.shape
    kind = "mask" if isinstance(shape, MaskRLE) else "polygon"
    has_holes = isinstance(shape, Polygons) and shape.has_holes
    data = json.dumps(shape.to_json(), separators=(",", ":"))
    bx, by, bw, bh = geometry.bbox(shape)
    return (instance.image_id, instance.category_id, kind, data, int(has_holes),
            geometry.area(shape), bx, by, bw, bh, instance.score, str(instance.provenance),
            InstanceStatus(instance.status).value)
