"""Attribute specs per class, instance attribute values and image tags in the project.

ProjectStore inherits AttributeMethods. The rules:
- A class's specs are rows of attribute_specs by category id: renaming a class keeps them.
- An instance keeps values only for attributes its class defines: on the way in
  (put_instance, add_instances) a value for another name is dropped (a relabel to a class
  without it; the returned instance says what was stored) and a value that does not fit
  its spec is refused (ProjectError, one line). A missing value reads as the default.
- Removing a spec, or changing it so that a value no longer fits, drops those values.
- Imports go through the staged path (store/bulk.py), which carries no attributes:
  AttributeImport checks values before the lock and writes them, with new specs and the
  tags, in the import's one transaction.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..core.attributes import (
    EMPTY, AttributeKind, AttributeSpec, Attributes, Value, check_values, infer_spec, kind_from_text, label_problem, normal_tags,
    value_from_text,
)
from ..core.entities import Instance
from .errors import ProjectError


def with_defaults(specs: Sequence[AttributeSpec], values: Mapping[str, Value]) -> dict[str, Value]:
    """Every attribute of the class in spec order, stored value or default (what an export
    writes per annotation)."""
    return {s.name: values.get(s.name, s.default) for s in specs}  # type: ignore[misc]


def _spec(row: tuple) -> AttributeSpec:
    name, kind, choices, default = row
    return AttributeSpec(name, kind, tuple(json.loads(choices)), json.loads(default))


class AttributeMethods:
    """The attribute and tag methods of ProjectStore (self.db and self.transaction are the
    store's)."""

    db: Any
    transaction: Callable

    # --- specs ---------------------------------------------------------------------

    def attribute_specs(self, category_id: int) -> tuple[AttributeSpec, ...]:
        rows = self.db.execute("SELECT name, kind, choices, default_value FROM attribute_specs "
                               "WHERE category_id = ? ORDER BY position", (category_id,))
        return tuple(_spec(r) for r in rows)

    def specs_by_category(self) -> dict[int, tuple[AttributeSpec, ...]]:
        """Every class's specs by category id (classes without any are left out)."""
        out: dict[int, list[AttributeSpec]] = {}
        for cid, *row in self.db.execute("SELECT category_id, name, kind, choices, default_value "
                                         "FROM attribute_specs ORDER BY category_id, position"):
            out.setdefault(cid, []).append(_spec(tuple(row)))
        return {cid: tuple(specs) for cid, specs in out.items()}

    def set_attribute_specs(self, category_id: int, specs: Sequence[AttributeSpec]) -> int:
        """Replace a class's specs (in the order given). Values of a removed spec, and values
        a changed spec no longer accepts, are dropped; returns how many instances lost one."""
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ProjectError("an attribute name is given twice for one class")
        by_name = {s.name: s for s in specs}
        with self.transaction():
            if self.db.execute("SELECT 1 FROM categories WHERE id = ?", (category_id,)).fetchone() is None:
                raise ProjectError(f"no class with id {category_id}")
            self.db.execute("DELETE FROM attribute_specs WHERE category_id = ?", (category_id,))
            self.db.executemany(
                "INSERT INTO attribute_specs(category_id, position, name, kind, choices, default_value) "
                "VALUES (?,?,?,?,?,?)",
                [(category_id, k, s.name, s.kind.value, json.dumps(list(s.choices)), json.dumps(s.default))
                 for k, s in enumerate(specs)])
            changed = []
            for iid, text in self.db.execute("SELECT id, attributes FROM instances WHERE category_id = ? "
                                             "AND attributes != '{}'", (category_id,)).fetchall():
                values = json.loads(text)
                kept = {n: v for n, v in values.items() if n in by_name and _fits(by_name[n], v)}
                if kept != values:
                    changed.append((Attributes(kept).to_text(), iid))
            self.db.executemany("UPDATE instances SET attributes = ? WHERE id = ?", changed)
        return len(changed)

    def stored_attributes(self, instance: Instance) -> Attributes:
        """What put_instance keeps of an instance's values (see the module docstring)."""
        if not instance.attributes:
            return EMPTY
        specs = self.attribute_specs(instance.category_id)
        defined = {s.name for s in specs}
        kept = {n: v for n, v in instance.attributes.items() if n in defined}
        try:
            return check_values(specs, kept)
        except ValueError as exc:
            raise ProjectError(f"instance {instance.id if instance.id is not None else '(new)'}: {exc}") from None

    # --- image tags ----------------------------------------------------------------

    def image_tags(self, image_id: int) -> tuple[str, ...]:
        return tuple(r[0] for r in self.db.execute(
            "SELECT tag FROM image_tags WHERE image_id = ? ORDER BY tag", (image_id,)))

    def set_image_tags(self, image_id: int, tags: Iterable[str]) -> None:
        """Replace an image's tags; ProjectError (one line) for a tag that is not a usable name."""
        try:
            wanted = normal_tags(tags)
        except ValueError as exc:
            raise ProjectError(str(exc)) from None
        with self.transaction():
            if self.db.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is None:
                raise ProjectError(f"no image with id {image_id}")
            self.db.execute("DELETE FROM image_tags WHERE image_id = ?", (image_id,))
            self.db.executemany("INSERT INTO image_tags(image_id, tag) VALUES (?, ?)",
                                [(image_id, t) for t in wanted])

    def tags_by_image(self) -> dict[int, tuple[str, ...]]:
        """Every tagged image's tags by image id (untagged images are left out)."""
        out: dict[int, list[str]] = {}
        for image_id, tag in self.db.execute("SELECT image_id, tag FROM image_tags ORDER BY image_id, tag"):
            out.setdefault(image_id, []).append(tag)
        return {i: tuple(t) for i, t in out.items()}

    def all_tags(self) -> list[str]:
        """Every tag used in the project, sorted."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT tag FROM image_tags ORDER BY tag")]


def _fits(spec: AttributeSpec, value: Any) -> bool:
    try:
        spec.check(value)
    except ValueError:
        return False
    return True


class AttributeImport:
    """The attribute values and image tags of one import, for the staged write path.

    Before the lock: `check` each annotation's values (a name the class does not define is
    defined on it, from the value's JSON type, with one warning per name; a value that does
    not fit its spec is dropped with a warning), then `add_image` per planned image, in the
    order and with the instances given to stage_labels. Inside the import's transaction:
    `mark` after the new images are added and before write_staged, `write` right after it.
    Only the images that write_staged labels (those without instances) get values and tags."""

    def __init__(self, store, warn: Callable[[str, str], None]) -> None:
        self.store = store
        self.warn = warn
        names = {c.id: c.name for c in store.categories()}
        self.specs: dict[str, dict[str, AttributeSpec]] = {
            names[cid]: {s.name: s for s in specs} for cid, specs in store.specs_by_category().items()}
        self.new_specs: dict[str, list[AttributeSpec]] = {}
        self._images: dict[str, tuple[list[str], tuple[str, ...]]] = {}  # path -> value texts, tags
        self._mark: tuple[int, dict[str, int]] | None = None

    def check(self, category: str, values: Any, where: str) -> Attributes:
        if not values:
            return EMPTY
        if not isinstance(values, Mapping):
            self.warn("attributes are not an object; ignored", where)
            return EMPTY
        known = self.specs.setdefault(category, {})
        out: dict[str, Value] = {}
        for name, value in values.items():
            spec = known.get(name)
            if spec is None:
                if label_problem(name, "an attribute name") or value is None:
                    self.warn("attribute with an unusable name or no value dropped", f"{where}: {name!r}")
                    continue
                spec = known[name] = infer_spec(name, value)
                self.new_specs.setdefault(category, []).append(spec)
                self.warn(f"attribute {name!r} of class {category!r} not defined in the project: "
                          f"defined as {spec.kind.value}", where)
            try:
                out[name] = spec.check(value)
            except ValueError as exc:
                self.warn(f"attribute value dropped ({exc})", where)
        return Attributes(out)

    def define(self, category: str, spec: AttributeSpec, where: str) -> None:
        """An attribute the file declares for a class (CVAT's label meta): defined on the
        class unless the project has one of that name, whose definition is kept (with a
        warning when the kinds differ and the file's is not text)."""
        known = self.specs.setdefault(category, {})
        have = known.get(spec.name)
        if have is None:
            known[spec.name] = spec
            self.new_specs.setdefault(category, []).append(spec)
        elif have.kind != spec.kind and spec.kind != AttributeKind.TEXT:  # text can carry any kind's values
            self.warn(f"attribute {spec.name!r} of class {category!r} is a {have.kind.value} in the project "
                      f"and a {spec.kind.value} in the file; the project's definition is kept", where)

    def spec(self, category: str, name: str) -> AttributeSpec | None:
        """The definition values of that attribute are checked against: the project's, else
        one the file declared or an earlier value defined; None if there is none yet."""
        return self.specs.get(category, {}).get(name)

    def check_texts(self, category: str, texts: Mapping[str, str], where: str) -> Attributes:
        """`check` for values given as text (CVAT XML): each read as its attribute's kind
        (one the file and the project leave undefined: as kind_from_text says)."""
        values: dict[str, Any] = {}
        known = self.specs.get(category, {})
        for name, text in texts.items():
            spec = known.get(name)
            try:
                values[name] = value_from_text(spec.kind if spec else kind_from_text(text), text)
            except ValueError as exc:
                self.warn(f"attribute value dropped ({exc})", f"{where}: {name!r}")
        return self.check(category, values, where)

    def add_image(self, path: str, attributes: Sequence[Attributes], tags: Iterable[str] = ()) -> None:
        """One planned image (its path as given to stage_labels); the first entry of a path counts."""
        if path not in self._images:
            self._images[path] = ([a.to_text() for a in attributes], normal_tags(tags))

    def mark(self) -> None:
        db = self.store.db
        last = db.execute("SELECT COALESCE(MAX(id), 0) FROM instances").fetchone()[0]
        unlabeled = {}
        for path in self._images:
            row = db.execute("SELECT id FROM images im WHERE path = ? AND NOT EXISTS "
                             "(SELECT 1 FROM instances i WHERE i.image_id = im.id)",
                             (self.store.relative_image_path(path),)).fetchone()
            if row is not None:
                unlabeled[path] = row[0]
        self._mark = (last, unlabeled)

    def write(self) -> None:
        if self._mark is None:
            raise ProjectError("AttributeImport.write without mark")
        last, unlabeled = self._mark
        store, db = self.store, self.store.db
        for category, specs in self.new_specs.items():
            found = store.category_by_name(category)
            if found is not None:
                have = store.attribute_specs(found.id)
                have_names = {s.name for s in have}
                store.set_attribute_specs(found.id, [*have, *(s for s in specs if s.name not in have_names)])
        new: dict[int, list[int]] = {}
        for iid, image_id in db.execute("SELECT id, image_id FROM instances WHERE id > ? ORDER BY id", (last,)):
            new.setdefault(image_id, []).append(iid)
        updates, tags = [], []
        for path, image_id in unlabeled.items():
            texts, image_tags = self._images[path]
            ids = new.get(image_id, [])
            if len(ids) != len(texts):
                raise ProjectError(f"{path}: {len(ids)} instances stored but {len(texts)} attribute sets planned")
            updates += [(text, iid) for text, iid in zip(texts, ids) if text != "{}"]
            tags += [(image_id, t) for t in image_tags]
        db.executemany("UPDATE instances SET attributes = ? WHERE id = ?", updates)
        db.executemany("INSERT OR IGNORE INTO image_tags(image_id, tag) VALUES (?, ?)", tags)
