"""Moving a project made before the EXIF rule onto it.

Up to schema version 3 labeler stored an image's raw pixel size and labels in raw pixel
coordinates (EXIF orientation ignored). Since then every size and coordinate is on the
displayed image (imaging/files.py). For an image whose file has an EXIF orientation other
than 1, an old project therefore holds the wrong size (orientations 5-8 swap width and
height) and labels in the wrong place (all of 2-8: mirrored, turned or both).

`orient_old_records` fixes both: the stored size becomes the displayed one and every
instance of the image (accepted, suggested and rejected alike) is moved with the pixels:
polygon vertices through the same transform, masks turned as the pixels are. It must run
exactly once per project, because for orientations 2-4 an old record cannot be told from a
new one by its size: that is what the schema version is for. So it is meant to run inside
the schema migration that introduces the rule, in that migration's transaction (it issues
no BEGIN or COMMIT itself): a failure rolls the whole upgrade back and the project keeps its
old version (and its backup copy).

Images it cannot fix are left exactly as they were and listed in the report (and logged):
a file missing or unreadable at upgrade time, or one whose pixel size is neither the stored
nor the displayed one (the file was replaced).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .. import geometry
from ..core.entities import MaskRLE, Polygons, Shape
from ..imaging import apply_orientation, orient_point, oriented_size, read_image_info  # the one EXIF rule
from .meta import MetaKey, get_meta

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrientedImage:
    image_id: int
    path: str
    orientation: int
    old_size: tuple[int, int]  # width, height as stored before
    new_size: tuple[int, int]
    instances: int  # labels moved with it


@dataclass
class OrientationReport:
    fixed: list[OrientedImage] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line per image left as it was

    def lines(self) -> list[str]:
        done = [f"{f.path}: EXIF orientation {f.orientation}, {f.old_size[0]}x{f.old_size[1]} -> "
                f"{f.new_size[0]}x{f.new_size[1]}, {f.instances} labels moved" for f in self.fixed]
        return done + self.skipped


def orient_shape(shape: Shape, width: int, height: int, orientation: int) -> Shape:
    """A shape drawn on the stored pixels (width x height as stored) moved onto the
    displayed image."""
    if isinstance(shape, MaskRLE):
        if (shape.width, shape.height) != (width, height):
            raise ValueError(f"mask is {shape.width}x{shape.height}, the image {width}x{height}")
        return geometry.mask_to_rle(apply_orientation(geometry.rle_to_mask(shape), orientation))
    return Polygons(tuple(
        tuple(tuple(orient_point(x, y, width, height, orientation) for x, y in ring) for ring in part)
        for part in shape.parts))


def orient_old_records(db: sqlite3.Connection, image_root: Path | None = None,
                       paths: Iterable[str] | None = None) -> OrientationReport:
    """Fix the size and labels of every image with an EXIF orientation, in the caller's
    transaction. image_root: where the image paths are relative to (default: the project's,
    from meta, relative to the database file's folder). paths: only these images (as
    stored), e.g. the ones an earlier upgrade had to leave because their files were away.

    Only a database error propagates (the caller's migration then rolls back); a file or
    a stored shape that cannot be handled leaves that one image as it was, listed."""
    report = OrientationReport()
    images = db.execute("SELECT id, path, width, height FROM images ORDER BY id").fetchall()
    if paths is not None:
        wanted = set(paths)
        images = [row for row in images if row[1] in wanted]
    if not images:  # a new project (created at the current schema): nothing to do
        return report
    root = image_root if image_root is not None else _image_root(db)
    for image_id, rel, width, height in images:
        file = root / rel
        try:
            info = read_image_info(file, verify=False)
        except Exception as exc:  # one odd file must not keep the whole project from opening
            report.skipped.append(f"{rel}: left as it was, cannot read its orientation ({_reason(exc)})")
            continue
        orientation = info.orientation
        if orientation == 1:
            continue
        new_size = (info.width, info.height)
        stored_pixels = oriented_size(*new_size, orientation)  # the raw size labeler used to store
        if (width, height) != stored_pixels:
            if (width, height) != new_size:
                report.skipped.append(
                    f"{rel}: left as it was, the project says {width}x{height} but the file is "
                    f"{stored_pixels[0]}x{stored_pixels[1]} (was the image replaced?)")
            continue  # else: already the displayed size (cannot happen from an old project)
        try:
            moved = _moved_instances(db, image_id, width, height, orientation)
        except (ValueError, KeyError, TypeError) as exc:  # a stored shape that does not parse or fit
            report.skipped.append(f"{rel}: left as it was, a label does not fit the image ({exc})")
            continue
        for instance_id, values in moved:
            db.execute("UPDATE instances SET kind = ?, data = ?, has_holes = ?, area = ?, bbox_x = ?, "
                       "bbox_y = ?, bbox_w = ?, bbox_h = ? WHERE id = ?", (*values, instance_id))
        db.execute("UPDATE images SET width = ?, height = ? WHERE id = ?", (*new_size, image_id))
        report.fixed.append(OrientedImage(image_id, rel, orientation, (width, height), new_size, len(moved)))
    for line in report.skipped:
        log.warning("EXIF orientation upgrade: %s", line)
    return report


def _moved_instances(db: sqlite3.Connection, image_id: int, width: int, height: int,
                     orientation: int) -> list[tuple[int, tuple]]:
    out = []
    rows = db.execute("SELECT id, kind, data FROM instances WHERE image_id = ? ORDER BY id", (image_id,))
    for instance_id, kind, data in rows.fetchall():
        parsed = json.loads(data)
        shape: Shape = MaskRLE.from_json(parsed) if kind == "mask" else Polygons.from_json(parsed)
        moved = orient_shape(shape, width, height, orientation)
        # The same fields ProjectStore writes for a shape: area and bbox always from the shape.
        has_holes = isinstance(moved, Polygons) and moved.has_holes
        bx, by, bw, bh = geometry.bbox(moved)
        out.append((instance_id, (kind, json.dumps(moved.to_json(), separators=(",", ":")),
                                  int(has_holes), geometry.area(moved), bx, by, bw, bh)))
    return out


def _image_root(db: sqlite3.Connection) -> Path:
    text = get_meta(db, MetaKey.IMAGE_ROOT)
    files = [r[2] for r in db.execute("PRAGMA database_list") if r[1] == "main"]
    if text is None or not files or not files[0]:
        raise sqlite3.DatabaseError("cannot find the project's image root for the EXIF orientation upgrade")
    root = Path(text)
    return (root if root.is_absolute() else Path(files[0]).parent / root).resolve()


def _reason(exc: Exception) -> str:
    return str(exc).split(": ", 1)[-1]  # ImageReadError: "PATH: why"; the path is already on the line
