"""The project file: PROJECT_DIR/labeler.db, the only code that writes it.

SQLite in WAL mode with foreign keys on. Each command (and each whole import) is one
transaction, so a crash loses at most the edit being made, never a saved one. WAL with
synchronous=NORMAL survives a killed process; only a power cut can drop the very last
commits. Opening a project reads it and writes nothing (unless it needs a schema migration,
which first copies the file to a backup).

Several processes share a project (the window, `labeler import`, the trainer). Readers never
wait; writers take turns, one at a time. So no writer holds the lock for long: an import
does all its Python-side work with no lock held (prepare_instance: shapes serialised, area
and bbox computed; stage_labels: the rows copied into this connection's temporary tables,
which lock nothing of the project) and then, in one short transaction, only SQL
(write_staged: one INSERT ... SELECT), so it stays all or nothing. That transaction holds
the lock about 0.5-1 s for 150,000 annotations on 2 cores (benchmarks/concurrent_import.py).
A writer that finds the lock taken waits for it, politely (SQLite's busy handler sleeps),
up to BUSY_TIMEOUT_S, far longer than any hold; one that still cannot have it raises
ProjectBusy: a ProjectError whose one line says another labeler process is writing.

Images are stored by path relative to the project's image root; a path that would leave
the root is refused.
"""

from __future__ import annotations

import os
import posixpath
import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .. import geometry
from ..core.entities import (
    Category,
    ImageRecord,
    ImageStatus,
    Instance,
    InstanceStatus,
    palette_color,
)
from ..core.names import name_problem
from .attributes import AttributeMethods
from .bulk import LabelsWritten, PreparedInstance, StagedImports, StagedLabels  # noqa: F401 - re-exported
from . import meta as meta_table
from .errors import ProjectBusy, ProjectError  # noqa: F401 - re-exported
from .meta import MetaKey
from .rows import INSTANCE_COLUMNS, InstanceRow, insert_sql, instance_from_row, instance_values, row_fields
from .schema import CLASS_MAP_BY_ID_VERSION, MIGRATIONS, ORIENTED_VERSION, SCHEMA_VERSION, statements

DB_NAME = "labeler.db"

# How long a writer waits for another process's write to finish before giving up. The
# longest hold is an import's one transaction (0.5-1 s for 150,000 annotations on a 2-core
# machine), so this covers imports many times that size.
BUSY_TIMEOUT_S = 60.0


class ProjectStore(StagedImports, AttributeMethods):
    def __init__(self, project_dir: Path, db: sqlite3.Connection) -> None:
        self.project_dir = project_dir
        self.db = db
        self._depth = 0
        self._staged = 0  # how many times labels were staged (stage_labels)
        self._drop_after_write = False
        root = self.meta(MetaKey.IMAGE_ROOT)
        root_path = Path(root)
        self.image_root = (root_path if root_path.is_absolute() else project_dir / root_path).resolve()

    # --- opening ---------------------------------------------------------------------

    @classmethod
    def create(cls, project_dir: str | os.PathLike, image_root: str | os.PathLike,
               categories: Sequence[str] = ()) -> "ProjectStore":
        project_dir = Path(project_dir).resolve()
        image_root = Path(image_root).resolve()
        db_path = project_dir / DB_NAME
        if db_path.exists():
            raise ProjectError(f"{db_path}: a project already exists here")
        if not image_root.is_dir():
            raise ProjectError(f"{image_root}: image folder does not exist")
        project_dir.mkdir(parents=True, exist_ok=True)
        # Inside the project the root is kept relative, so the two can move together.
        try:
            root_text = image_root.relative_to(project_dir).as_posix() or "."
        except ValueError:
            root_text = str(image_root)
        db = _connect(db_path)
        db.execute("PRAGMA journal_mode=WAL")
        _migrate(db, 0)
        db.execute("BEGIN IMMEDIATE")
        meta_table.set_meta(db, MetaKey.IMAGE_ROOT, root_text)
        meta_table.set_meta(db, MetaKey.FORMAT, "labeler project")
        db.execute("COMMIT")
        store = cls(project_dir, db)
        with store.transaction():
            for name in categories:
                store.add_category(name)
        return store

    @classmethod
    def open(cls, project_dir: str | os.PathLike) -> "ProjectStore":
        project_dir = Path(project_dir).resolve()
        db_path = project_dir / DB_NAME
        if not db_path.is_file():
            raise ProjectError(f"{project_dir}: not a labeler project (no {DB_NAME}); "
                               f"create one with 'labeler init'")
        db = sqlite3.connect(str(db_path), isolation_level=None)
        try:
            _configure(db)
            version = db.execute("PRAGMA user_version").fetchone()[0]
            has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone()
        except sqlite3.DatabaseError as exc:
            db.close()  # a corrupt file must not stay open (and locked, on Windows)
            raise ProjectError(f"{db_path}: not a readable labeler database ({exc})") from None
        if version > SCHEMA_VERSION:
            db.close()
            raise ProjectError(f"{db_path}: written by a newer labeler (schema {version}, "
                               f"this one knows up to {SCHEMA_VERSION}); upgrade labeler")
        if version < 1 or not has_meta:
            db.close()
            raise ProjectError(f"{db_path}: an SQLite file, but not a labeler project")
        if version < SCHEMA_VERSION:
            backup = db_path.with_name(f"{DB_NAME}.v{version}.bak")
            with closing(sqlite3.connect(str(backup))) as copy:
                db.backup(copy)  # consistent even with a WAL file beside it
            try:
                _migrate(db, version)
            except sqlite3.DatabaseError as exc:
                db.close()
                raise ProjectError(f"{db_path}: upgrading from schema {version} failed ({exc}); "
                                   f"the project is unchanged (a copy is in {backup.name})") from None
        return cls(project_dir, db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "ProjectStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def meta(self, key: MetaKey) -> str:
        """A project setting (store/meta.py); ProjectError when the project has none."""
        value = meta_table.get_meta(self.db, key)
        if value is None:
            raise ProjectError(f"{self.project_dir / DB_NAME}: project has no {MetaKey(key).value!r} entry")
        return value

    def set_meta(self, key: MetaKey, value: str | int) -> None:
        with self.transaction():
            meta_table.set_meta(self.db, key, value)

    # --- transactions ----------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside are committed together or not at all. Nests (the outermost
        one commits), so an import can wrap many commands into one transaction."""
        if self._depth == 0:
            _begin_immediate(self.db, self.project_dir / DB_NAME)
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.db.execute("ROLLBACK")
                self._after_write()
            raise
        self._depth -= 1
        if self._depth == 0:
            self.db.execute("COMMIT")
            self._after_write()

    def _after_write(self) -> None:
        """Tidying that need not hold the lock, done once it is given back."""
        if self._drop_after_write:
            self._drop_after_write = False
            self._drop_staged()

    # --- paths -----------------------------------------------------------------------

    def relative_image_path(self, path: str | os.PathLike) -> str:
        """The stored form of an image path: relative to the root, '/' separated. Refuses
        a path that leaves the root."""
        text = os.fspath(path)
        if os.path.isabs(text):
            try:
                rel = Path(text).resolve().relative_to(self.image_root).as_posix()
            except ValueError:
                raise ProjectError(f"{text}: outside the image root {self.image_root}") from None
        else:
            rel = text.replace("\\", "/")
        norm = posixpath.normpath(rel)
        if norm in ("", ".") or norm.startswith("../") or norm == ".." or posixpath.isabs(norm):
            raise ProjectError(f"{text}: image path leaves the image root {self.image_root}")
        return norm

    def image_path(self, image: ImageRecord | str) -> Path:
        rel = image.path if isinstance(image, ImageRecord) else image
        return self.image_root / self.relative_image_path(rel)

    # --- categories ------------------------------------------------------------------

    def categories(self) -> list[Category]:
        rows = self.db.execute("SELECT id, name, color FROM categories ORDER BY id").fetchall()
        return [Category(*row) for row in rows]

    def category_by_name(self, name: str) -> Category | None:
        row = self.db.execute("SELECT id, name, color FROM categories WHERE name = ?",
                              (name,)).fetchone()
        return Category(*row) if row else None

    def add_category(self, name: str, color: str | None = None) -> Category:
        _check_name(name)
        if self.category_by_name(name) is not None:
            raise ProjectError(f"category {name!r} already exists")
        count = self.db.execute("SELECT COUNT(*) FROM categories").fetchone()[0]
        category = Category(None, name, color or palette_color(count))
        with self.transaction():
            cur = self.db.execute("INSERT INTO categories(name, color) VALUES (?, ?)",
                                  (category.name, category.color))
        return Category(cur.lastrowid, category.name, category.color)

    def ensure_category(self, name: str) -> Category:
        return self.category_by_name(name) or self.add_category(name)

    def update_category(self, category: Category) -> None:
        """Rename or recolour (the id stays, so every instance follows)."""
        _check_name(category.name)
        other = self.category_by_name(category.name)
        if other is not None and other.id != category.id:
            raise ProjectError(f"category {category.name!r} already exists")
        with self.transaction():
            self.db.execute("UPDATE categories SET name = ?, color = ? WHERE id = ?",
                            (category.name, category.color, category.id))

    # --- images ----------------------------------------------------------------------

    def add_images(self, images: Iterable[ImageRecord]) -> list[ImageRecord]:
        """Add images not yet in the project (by path); returns the records as stored."""
        wanted = [(self.relative_image_path(im.path), im.width, im.height, ImageStatus(im.status))
                  for im in images]  # checked before the lock is taken
        out = []
        with self.transaction():
            for rel, width, height, status in wanted:
                row = self.db.execute("SELECT id, path, width, height, status FROM images WHERE path = ?",
                                      (rel,)).fetchone()
                if row is not None:
                    out.append(_image(row))
                    continue
                cur = self.db.execute(
                    "INSERT INTO images(path, width, height, status) VALUES (?, ?, ?, ?)",
                    (rel, width, height, status.value))
                out.append(ImageRecord(cur.lastrowid, rel, width, height, status))
        return out

    def images(self, status: ImageStatus | None = None) -> list[ImageRecord]:
        sql = "SELECT id, path, width, height, status FROM images"
        args: tuple = ()
        if status is not None:
            sql += " WHERE status = ?"
            args = (ImageStatus(status).value,)
        return [_image(row) for row in self.db.execute(sql + " ORDER BY path", args)]

    def get_image(self, image_id: int) -> ImageRecord:
        row = self.db.execute("SELECT id, path, width, height, status FROM images WHERE id = ?",
                              (image_id,)).fetchone()
        if row is None:
            raise ProjectError(f"no image with id {image_id}")
        return _image(row)

    def image_by_path(self, path: str) -> ImageRecord | None:
        row = self.db.execute("SELECT id, path, width, height, status FROM images WHERE path = ?",
                              (self.relative_image_path(path),)).fetchone()
        return _image(row) if row else None

    def set_image_status(self, image_id: int, status: ImageStatus) -> None:
        with self.transaction():
            cur = self.db.execute("UPDATE images SET status = ? WHERE id = ?",
                                  (ImageStatus(status).value, image_id))
            if cur.rowcount != 1:
                raise ProjectError(f"no image with id {image_id}")

    def image_counts(self) -> dict[ImageStatus, int]:
        counts = {s: 0 for s in ImageStatus}
        for status, n in self.db.execute("SELECT status, COUNT(*) FROM images GROUP BY status"):
            counts[ImageStatus(status)] = n
        return counts

    # --- instances -------------------------------------------------------------------

    def instances(self, image_id: int, statuses: Iterable[InstanceStatus] | None = None) -> list[Instance]:
        sql = f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE image_id = ?"
        args: list = [image_id]
        if statuses is not None:
            wanted = [InstanceStatus(s).value for s in statuses]
            sql += f" AND status IN ({','.join('?' * len(wanted))})"
            args += wanted
        return [instance_from_row(InstanceRow(*row_fields(r))) for r in self.db.execute(sql + " ORDER BY id", args)]

    def get_instance(self, instance_id: int) -> Instance | None:
        row = self.db.execute(f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = ?",
                              (instance_id,)).fetchone()
        return instance_from_row(InstanceRow(*row_fields(row))) if row else None

    def put_instance(self, instance: Instance) -> Instance:
        """Insert (id None: a new id is assigned) or replace the instance with that id.
        Area and bbox are recomputed from the shape; nothing from outside is trusted: the
        shape must pass geometry.check_shape for its image (ShapeError, a ValueError, if not),
        and the attributes the class's specs (store/attributes.py)."""
        return self.put_instances([instance])[0]

    def put_instances(self, instances: Sequence[Instance], skip_invalid: bool = False) -> list[Instance]:
        """put_instance for several, in one transaction, each shape checked once. With
        skip_invalid, an instance whose shape fails the check is left out of the result and
        the project (a model's degenerate trace must not cost the image its other
        suggestions); without, it refuses them all before anything is written."""
        checked = self._check_shapes(instances, skip_invalid)
        values = [instance_values(i) for i in checked]
        stored = []
        with self.transaction():
            for instance, value in zip(checked, values):
                attributes = self.stored_attributes(instance)
                row = (*value, instance.id, attributes.to_text())
                cur = self.db.execute(insert_sql([row]), row if attributes else row[:-1])
                stored.append(replace(instance, id=cur.lastrowid if instance.id is None else instance.id,
                                      attributes=attributes))
        return stored

    def add_instances(self, instances: Iterable[Instance]) -> int:
        """Bulk insert of new instances; one transaction. Returns the count. The shapes are
        serialised before the lock is taken."""
        instances = list(instances)
        self._check_shapes(instances)
        rows = [instance_values(i) for i in instances]
        with self.transaction():
            rows = [(*r, None, self.stored_attributes(i).to_text()) for r, i in zip(rows, instances)]
            sql = insert_sql(rows)
            cur = self.db.executemany(sql, rows if "attributes" in sql else [r[:-1] for r in rows])
            return max(cur.rowcount, 0)

    def _check_shapes(self, instances: Sequence[Instance], skip_invalid: bool = False) -> list[Instance]:
        """Shapes from the window, the model or scripts pass the importers' check too: the
        instances that do (with skip_invalid; else the first that does not raises)."""
        sizes: dict[int, tuple[int, int]] = {}
        kept = []
        for instance in instances:
            if instance.image_id not in sizes:
                image = self.get_image(instance.image_id)
                sizes[instance.image_id] = (image.height, image.width)
            try:
                geometry.check_shape(instance.shape, *sizes[instance.image_id])
            except geometry.ShapeError:
                if not skip_invalid:
                    raise
                continue
            kept.append(instance)
        return kept

    def remove_instance(self, instance_id: int) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM instances WHERE id = ?", (instance_id,))

    def instance_rows(self, image_ids: Sequence[int] | None = None,
                      statuses: Iterable[InstanceStatus] = (InstanceStatus.ACCEPTED,)) -> Iterator[InstanceRow]:
        """Instances as stored, ordered by image then id, without parsing shapes."""
        wanted = [InstanceStatus(s).value for s in statuses]
        sql = (f"SELECT {INSTANCE_COLUMNS} FROM instances "
               f"WHERE status IN ({','.join('?' * len(wanted))})")
        if image_ids is not None:
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS _wanted(id INTEGER PRIMARY KEY)")
            self.db.execute("DELETE FROM _wanted")
            self.db.executemany("INSERT INTO _wanted(id) VALUES (?)", ((i,) for i in image_ids))
            sql += " AND image_id IN (SELECT id FROM _wanted)"
        for row in self.db.execute(sql + " ORDER BY image_id, id", wanted):
            yield InstanceRow(*row_fields(row))

    def instance_counts(self) -> list[tuple[str, str, str, int]]:
        """(category name, provenance, status, count) for every combination present."""
        return self.db.execute(
            "SELECT c.name, i.provenance, i.status, COUNT(*) FROM instances i "
            "JOIN categories c ON c.id = i.category_id "
            "GROUP BY c.name, i.provenance, i.status ORDER BY c.id, i.provenance, i.status"
        ).fetchall()


# --- helpers ---------------------------------------------------------------------------

def _check_name(name: str) -> None:
    problem = name_problem(name)
    if problem:
        raise ProjectError(f"{problem}: {name[:60]!r}" if isinstance(name, str) else problem)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None)  # we issue BEGIN/COMMIT ourselves
    _configure(db)
    return db


def _configure(db: sqlite3.Connection) -> None:
    """Per-connection settings; none of them writes to the file."""
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")


def _begin_immediate(db: sqlite3.Connection, db_path: Path) -> None:
    """Take the write lock, waiting (up to the busy timeout) while another process holds it."""
    start = time.monotonic()
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if not _is_busy(exc):
            raise
        waited = time.monotonic() - start
        raise ProjectBusy(f"{db_path}: another labeler process (an import, the trainer or a window) is "
                          f"writing to this project; gave up after waiting {waited:.1f} s for it. "
                          f"Nothing was changed: try again when it has finished") from None


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def _migrate(db: sqlite3.Connection, version: int) -> None:
    for target in range(version + 1, SCHEMA_VERSION + 1):
        _begin_immediate(db, Path(db.execute("PRAGMA database_list").fetchone()[2]))
        try:
            for statement in statements(MIGRATIONS[target - 1]):
                db.execute(statement)
            if target == ORIENTED_VERSION:
                from .orientation import orient_old_records

                orient_old_records(db)
            if target == CLASS_MAP_BY_ID_VERSION:
                from .proposals import key_class_map_by_id

                key_class_map_by_id(db)
            db.execute(f"PRAGMA user_version = {target}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _image(row: tuple) -> ImageRecord:
    return ImageRecord(row[0], row[1], row[2], row[3], ImageStatus(row[4]))
