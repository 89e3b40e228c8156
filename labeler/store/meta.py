"""The project's settings: the `meta` table, one text value per key.

Read and write them through MetaKey and get_meta/set_meta (or ProjectStore.meta/set_meta,
or the typed helpers built on them: proposals.current_model_version and class_map,
training.retrain_every), not with SQL of your own. get_meta/set_meta take a plain
connection, so a schema migration can use them before a ProjectStore exists; set_meta
writes inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from enum import Enum


class MetaKey(str, Enum):
    IMAGE_ROOT = "image_root"  # the image folder; relative to the project folder when inside it
    FORMAT = "format"  # "labeler project"
    MODEL_VERSION = "model_version"  # the promoted model version, "0" for the initial weights
    RETRAIN_EVERY = "retrain_every"  # newly accepted images that start a round (0: on demand)
    PIXEL_RULE = "pixel_rule"  # "exif-oriented": sizes and labels are of the image as displayed
    CLASS_MAP = "class_map"  # JSON {category id: COCO class or ""}, from the schema 5 on


def get_meta(db: sqlite3.Connection, key: MetaKey) -> str | None:
    """The stored value, or None when the project has none."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (MetaKey(key).value,)).fetchone()
    return row[0] if row else None


def set_meta(db: sqlite3.Connection, key: MetaKey, value: str | int) -> None:
    """Store a value (inside the caller's transaction)."""
    db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (MetaKey(key).value, str(value)))


def default_sql(key: MetaKey, value: str) -> str:
    """The schema's statement that gives a key its first value (kept if one is there)."""
    return f"INSERT OR IGNORE INTO meta(key, value) VALUES ('{MetaKey(key).value}', '{value}');"
