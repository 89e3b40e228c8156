"""The write half of an import, with the project's write lock held only for SQL.

ProjectStore inherits these methods. An import prepares every row first (prepare_instance:
the shape as JSON, its area and bbox; no database), stages the rows in temporary tables of
its own connection (stage_labels: nobody else sees them, no lock on the project), then
writes them in one short transaction (write_staged: one INSERT ... SELECT), so it is all of
the import or none of it. See project_store.py's docstring for the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..core.entities import ImageStatus, Instance, InstanceStatus
from .errors import ProjectError
from .rows import instance_values


@dataclass(frozen=True)
class PreparedInstance:
    """An instance made ready for the store before any lock is taken: its shape serialised
    and its area and bbox computed (see prepare_instance). The image and the category are
    given when it is written."""

    values: tuple  # kind, data, has_holes, area, bbox_x, bbox_y, bbox_w, bbox_h, score, provenance, status
    proposed: bool


@dataclass(frozen=True)
class StagedLabels:
    """Labels waiting in a connection's temporary tables (see ProjectStore.stage_labels)."""

    token: int
    images: int
    instances: int
    duplicates: list[str]  # image paths given more than once: only the first entry counts
    categories: tuple[str, ...]  # category names used, in order of first use


@dataclass
class LabelsWritten:
    """What write_staged stored."""

    categories_added: list[str]
    images_labeled: int
    instances_added: int
    skipped: list[str]  # image paths that already had labels, so got nothing


class StagedImports:
    """The staged-import methods of ProjectStore (self.db, self.transaction, self._depth,
    self._staged, self._drop_after_write and the category methods are the store's)."""

    @staticmethod
    def prepare_instance(instance: Instance) -> PreparedInstance:
        """The Python-side work of storing an instance (its shape as JSON, area, bbox), done
        ahead of write_prepared so that none of it happens while the write lock is held.
        Reads and writes nothing; any thread or process may call it."""
        values = instance_values(instance)
        return PreparedInstance(values[2:], InstanceStatus(instance.status) == InstanceStatus.PROPOSED)

    def write_prepared(self, labels: Iterable[tuple[str, Sequence[tuple[str, PreparedInstance]]]],
                       category_names: Sequence[str] = ()) -> LabelsWritten:
        """The write half of an import, all of it or none of it, for a caller with nothing
        else to write in the same transaction: stage_labels, then write_staged."""
        staged = self.stage_labels(labels)
        return self.write_staged(staged, category_names)

    def stage_labels(self, labels: Iterable[tuple[str, Sequence[tuple[str, PreparedInstance]]]]) -> "StagedLabels":
        """Get an import's rows ready for write_staged, with no lock on the project held:
        they go to temporary tables of this connection, which nobody else sees. `labels` is
        (image path, [(category name, prepared instance), ...]) per image; an image given
        twice keeps its first entry (the later ones are reported as skipped). Call it outside
        any transaction: inside one, the lock is held all the while. Staging again replaces
        what was staged before."""
        images: list[tuple[str, str]] = []
        rows: list[tuple] = []
        duplicates: list[str] = []
        seen: set[str] = set()
        categories: dict[str, None] = {}  # in order of first use
        for path, items in labels:
            rel = self.relative_image_path(path)
            if rel in seen:
                duplicates.append(rel)
                continue
            seen.add(rel)
            proposed = any(prepared.proposed for _, prepared in items)
            images.append((rel, (ImageStatus.IN_REVIEW if proposed else ImageStatus.ACCEPTED).value))
            rows.extend((rel, name, *prepared.values) for name, prepared in items)
            categories.update((name, None) for name, _ in items)
        self._drop_staged()
        self.db.execute("CREATE TEMP TABLE _staged_images(seq INTEGER PRIMARY KEY, "
                        "path TEXT NOT NULL UNIQUE, status TEXT NOT NULL)")
        self.db.execute("CREATE TEMP TABLE _staged_instances(seq INTEGER PRIMARY KEY, path TEXT NOT NULL, "
                        "category TEXT NOT NULL, kind, data, has_holes, area, bbox_x, bbox_y, bbox_w, "
                        "bbox_h, score, provenance, status)")
        outer = self._depth == 0
        if outer:
            self.db.execute("BEGIN")  # touches only the temp database: takes no lock on the project
        try:
            self.db.executemany("INSERT INTO temp._staged_images(path, status) VALUES (?, ?)", images)
            self.db.executemany(
                "INSERT INTO temp._staged_instances(path, category, kind, data, has_holes, area, bbox_x, "
                "bbox_y, bbox_w, bbox_h, score, provenance, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        except BaseException:
            if outer:
                self.db.execute("ROLLBACK")
            raise
        if outer:
            self.db.execute("COMMIT")
        self._staged += 1
        return StagedLabels(self._staged, len(images), len(rows), duplicates, tuple(categories))

    def write_staged(self, staged: "StagedLabels", category_names: Sequence[str] = ()) -> LabelsWritten:
        """Store what stage_labels got ready, in one transaction (or inside the caller's),
        doing nothing but SQL: each staged image not yet labelled gets its instances and
        becomes accepted (in review if any is a proposal); one that already has labels gets
        nothing and is listed in `skipped`. Category names not yet in the project, in
        category_names or used, become categories. Every image must already be in the
        project (add new ones in the same transaction, before this)."""
        if staged.token != self._staged:
            raise ProjectError("these staged labels were replaced by later ones; stage them again")
        added: list[str] = []
        with self.transaction():
            missing = self.db.execute(
                "SELECT s.path FROM temp._staged_images s "
                "WHERE NOT EXISTS (SELECT 1 FROM images im WHERE im.path = s.path) LIMIT 1").fetchone()
            if missing is not None:
                raise ProjectError(f"{missing[0]}: not an image of this project")
            known = {c.name for c in self.categories()}
            for name in category_names:
                if name not in known:
                    self.add_category(name)
                    known.add(name)
                    added.append(name)
            self.db.execute("DROP TABLE IF EXISTS temp._staged_todo")
            self.db.execute("CREATE TEMP TABLE _staged_todo(image_id INTEGER PRIMARY KEY, "
                            "path TEXT NOT NULL UNIQUE, status TEXT NOT NULL)")
            self.db.execute(
                "INSERT INTO temp._staged_todo(image_id, path, status) "
                "SELECT im.id, s.path, s.status FROM temp._staged_images s JOIN images im ON im.path = s.path "
                "WHERE NOT EXISTS (SELECT 1 FROM instances i WHERE i.image_id = im.id) ORDER BY s.seq")
            skipped = [row[0] for row in self.db.execute(
                "SELECT path FROM temp._staged_images "
                "WHERE path NOT IN (SELECT path FROM temp._staged_todo) ORDER BY seq")]
            for name in staged.categories:  # a new name becomes a category if an image to label uses it
                if name not in known and self.db.execute(
                        "SELECT 1 FROM temp._staged_instances r JOIN temp._staged_todo t ON t.path = r.path "
                        "WHERE r.category = ? LIMIT 1", (name,)).fetchone():
                    self.add_category(name)
                    known.add(name)
                    added.append(name)
            cur = self.db.execute(
                "INSERT INTO instances(image_id, category_id, kind, data, has_holes, area, "
                "bbox_x, bbox_y, bbox_w, bbox_h, score, provenance, status) "
                "SELECT t.image_id, c.id, r.kind, r.data, r.has_holes, r.area, r.bbox_x, r.bbox_y, "
                "r.bbox_w, r.bbox_h, r.score, r.provenance, r.status FROM temp._staged_instances r "
                "JOIN temp._staged_todo t ON t.path = r.path JOIN categories c ON c.name = r.category "
                "ORDER BY r.seq")
            instances_added = max(cur.rowcount, 0)
            labeled = self.db.execute("SELECT COUNT(*) FROM temp._staged_todo").fetchone()[0]
            self.db.execute(
                "UPDATE images SET status = (SELECT t.status FROM temp._staged_todo t WHERE t.image_id = images.id) "
                "WHERE id IN (SELECT image_id FROM temp._staged_todo)")
            self._drop_after_write = True  # once the lock is given back: dropping takes a while
        return LabelsWritten(added, labeled, instances_added, staged.duplicates + skipped)

    def _drop_staged(self) -> None:
        for table in ("_staged_images", "_staged_instances", "_staged_todo"):
            self.db.execute(f"DROP TABLE IF EXISTS temp.{table}")
