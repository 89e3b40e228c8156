"""The SQLite schema and its migrations.

The schema version lives in ``PRAGMA user_version``. A new schema version appends one SQL
script to MIGRATIONS that takes the database from version N-1 to N in one transaction; a
project written by an older labeler is copied to ``labeler.db.v{N}.bak`` and migrated when
it is opened. A project written by a newer labeler is refused rather than damaged.
"""

from __future__ import annotations

IMAGE_STATUSES = ("unlabeled", "proposed", "in_review", "accepted")
INSTANCE_STATUSES = ("proposed", "accepted", "rejected")


_IMAGE_STATUSES_SQL = ", ".join(f"'{s}'" for s in IMAGE_STATUSES)
_INSTANCE_STATUSES_SQL = ", ".join(f"'{s}'" for s in INSTANCE_STATUSES)

V1 = f"""
        CREATE TABLE meta (
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
V2 = """
        CREATE TABLE predictions (
            image_id      INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            model_version INTEGER NOT NULL,
            proposals     INTEGER NOT NULL,  -- suggestions stored for this image
            created       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            PRIMARY KEY (image_id, model_version)
        );
        INSERT OR IGNORE INTO meta(key, value) VALUES ('model_version', '0');
"""

# MIGRATIONS[N - 1] takes a database from schema version N - 1 to N. Each runs in one
# transaction together with the new user_version.
MIGRATIONS: list[str] = [V1, V2]
SCHEMA_VERSION = len(MIGRATIONS)
