"""The SQLite schema and its migrations.

The schema version lives in ``PRAGMA user_version``. A new schema version appends one SQL
script to MIGRATIONS that takes the database from version N-1 to N in one transaction; a
project written by an older labeler is copied to ``labeler.db.v{N}.bak`` and migrated when
it is opened. A project written by a newer labeler is refused rather than damaged.
"""

from __future__ import annotations

import sqlite3

from .meta import MetaKey, default_sql

IMAGE_STATUSES = ("unlabeled", "proposed", "in_review", "accepted")
INSTANCE_STATUSES = ("proposed", "accepted", "rejected")
ATTRIBUTE_KINDS = ("boolean", "choice", "text", "number")  # core.attributes.AttributeKind


_IMAGE_STATUSES_SQL = ", ".join(f"'{s}'" for s in IMAGE_STATUSES)
_INSTANCE_STATUSES_SQL = ", ".join(f"'{s}'" for s in INSTANCE_STATUSES)

V1 = f"""
        CREATE TABLE meta (  -- read and written through store/meta.py
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE categories (
            id    INTEGER PRIMARY KEY,
            name  TEXT NOT NULL UNIQUE,
            color TEXT NOT NULL
        );
        CREATE TABLE images (
            id     INTEGER PRIMARY KEY,
            path   TEXT NOT NULL UNIQUE,  -- relative to the image root, '/' separated
            width  INTEGER NOT NULL CHECK (width > 0),
            height INTEGER NOT NULL CHECK (height > 0),
            status TEXT NOT NULL DEFAULT 'unlabeled' CHECK (status IN ({_IMAGE_STATUSES_SQL}))
        );
        CREATE TABLE instances (
            id          INTEGER PRIMARY KEY,
            image_id    INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            category_id INTEGER NOT NULL REFERENCES categories(id),
            kind        TEXT NOT NULL CHECK (kind IN ('polygon', 'mask')),
            data        TEXT NOT NULL,  -- Polygons.to_json() or MaskRLE.to_json()
            has_holes   INTEGER NOT NULL DEFAULT 0,
            area        REAL NOT NULL,  -- computed from the shape on every write
            bbox_x      REAL NOT NULL,
            bbox_y      REAL NOT NULL,
            bbox_w      REAL NOT NULL,
            bbox_h      REAL NOT NULL,
            score       REAL,
            provenance  TEXT NOT NULL DEFAULT 'manual',  -- 'manual' | 'model vN' | 'model vN edited'
            status      TEXT NOT NULL DEFAULT 'accepted' CHECK (status IN ({_INSTANCE_STATUSES_SQL}))
        );
        CREATE INDEX instances_by_image ON instances(image_id);
        CREATE INDEX images_by_status ON images(status);
"""

# Version 2: model suggestions. The current model version lives in meta; `predictions`
# records which image each model version has already looked at (so a batch pre-label
# resumes where it stopped, and nothing is suggested twice by the same version).
V2 = f"""
        CREATE TABLE predictions (
            image_id      INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            model_version INTEGER NOT NULL,
            proposals     INTEGER NOT NULL,  -- suggestions stored for this image
            created       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            PRIMARY KEY (image_id, model_version)
        );
        {default_sql(MetaKey.MODEL_VERSION, "0")}
"""

# Version 3: the correction loop. `model_versions` has one row per training round (a
# candidate version; the promoted one becomes meta.model_version), `splits` pins each
# accepted image to training or held-out for good, and `effort` counts what the person did
# per image under each model version.
V3 = """
        CREATE TABLE model_versions (
            version         INTEGER PRIMARY KEY,
            parent          INTEGER NOT NULL,  -- the version it was fine-tuned from (0: initial weights)
            model_name      TEXT NOT NULL,
            status          TEXT NOT NULL CHECK (status IN
                                ('training', 'promoted', 'kept_previous', 'failed', 'interrupted')),
            accepted_images INTEGER NOT NULL,  -- accepted images in its data snapshot
            train_images    INTEGER NOT NULL DEFAULT 0,
            heldout_images  INTEGER NOT NULL DEFAULT 0,
            snapshot        TEXT NOT NULL DEFAULT '',  -- id of the data it saw
            metrics         TEXT NOT NULL DEFAULT '{}',  -- JSON: mask_ap, box_ap, previous_mask_ap, loss...
            reason          TEXT NOT NULL DEFAULT '',  -- why it was not promoted, or failed
            checkpoint      TEXT,  -- file name under PROJECT/models, NULL when none was kept
            started         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            finished        TEXT
        );
        CREATE TABLE splits (
            image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
            heldout  INTEGER NOT NULL CHECK (heldout IN (0, 1))
        );
        CREATE TABLE effort (
            image_id      INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            model_version INTEGER NOT NULL,
            vertices      INTEGER NOT NULL DEFAULT 0,  -- polygon vertices placed or moved
            strokes       INTEGER NOT NULL DEFAULT 0,  -- brush and eraser strokes
            keys          INTEGER NOT NULL DEFAULT 0,  -- accept, reject, delete, relabel...
            seconds       REAL NOT NULL DEFAULT 0,  -- time with the image on screen
            PRIMARY KEY (image_id, model_version)
        );
""" + default_sql(MetaKey.RETRAIN_EVERY, "10")

# Version 4: sizes and labels are those of the image as displayed (EXIF orientation applied,
# imaging/files.py PIXEL_RULE). The statement only records the rule; project_store._migrate
# also runs store/orientation.orient_old_records in the same transaction, which turns the
# size and every label of each image with an orientation.
V4 = f"""
        {default_sql(MetaKey.PIXEL_RULE, "exif-oriented")}
"""

# Version 5: the COCO class map (meta class_map) is keyed by category id, not name, so a
# renamed class keeps its entry. No statement: project_store._migrate runs
# proposals.key_class_map_by_id in the same transaction.
V5 = ""

# Version 6: instance attributes and image tags (store/attributes.py). Each class's
# attribute specs are rows of attribute_specs (by category id, so a renamed class keeps
# them); an instance's values are a JSON object in its row; an image's tags are rows of
# image_tags. Older projects get no specs, '{}' on every instance and no tags.
V6 = f"""
        ALTER TABLE instances ADD COLUMN attributes TEXT NOT NULL DEFAULT '{{}}';
        CREATE TABLE attribute_specs (
            category_id INTEGER NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
            position    INTEGER NOT NULL,  -- the order the instance panel shows them in
            name        TEXT NOT NULL,
            kind        TEXT NOT NULL CHECK (kind IN ({", ".join(f"'{k}'" for k in ATTRIBUTE_KINDS)})),
            choices     TEXT NOT NULL DEFAULT '[]',  -- JSON list of the options of a choice
            default_value TEXT NOT NULL,  -- JSON
            PRIMARY KEY (category_id, name)
        );
        CREATE TABLE image_tags (
            image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            tag      TEXT NOT NULL,
            PRIMARY KEY (image_id, tag)
        ) WITHOUT ROWID;
        CREATE INDEX image_tags_by_tag ON image_tags(tag);
"""

# MIGRATIONS[N - 1] takes a database from schema version N - 1 to N. Each runs in one
# transaction together with the new user_version.
MIGRATIONS: list[str] = [V1, V2, V3, V4, V5, V6]
ORIENTED_VERSION = 4  # the migration after whose statements orient_old_records runs
CLASS_MAP_BY_ID_VERSION = 5  # the one after which key_class_map_by_id runs
SCHEMA_VERSION = len(MIGRATIONS)


def statements(script: str) -> list[str]:
    """A migration's SQL split into statements, so they run inside one transaction
    (executescript would commit first)."""
    out, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buffer.strip()[:60]}")
    return out
