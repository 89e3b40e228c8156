from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from labeler import geometry
from labeler.core import (
    Histories, ImageRecord, ImageStatus, Instance, InstanceStatus, Polygons, Provenance, commands,
)
from labeler.store import DB_NAME, SCHEMA_VERSION, ProjectError, ProjectStore
from labeler.store import project_store


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_create_sets_wal_foreign_keys_and_schema(store):
    db = store.db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [c.name for c in store.categories()] == ["cat", "dog"]
    assert [im.path for im in store.images()] == ["a.png", "b.png", "sub/c.jpg"]


def test_create_refuses_existing_project_and_missing_images(tmp_path, store):
    with pytest.raises(ProjectError, match="already exists"):
        ProjectStore.create(store.project_dir, store.image_root)
    with pytest.raises(ProjectError, match="does not exist"):
        ProjectStore.create(tmp_path / "other", tmp_path / "missing")


def test_open_errors_are_clear(tmp_path):
    with pytest.raises(ProjectError, match="not a labeler project"):
        ProjectStore.open(tmp_path)
    (tmp_path / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ProjectError, match="not a readable labeler database"):
        ProjectStore.open(tmp_path)


def test_opening_never_rewrites_the_project(store):
    image = store.images()[0]
    Histories(store).push(commands.add_instance(Instance(None, image.id, 1, Polygons.rectangle(1, 1, 9, 9))))
    project_dir = store.project_dir
    store.close()
    before = digest(project_dir / DB_NAME)
    with ProjectStore.open(project_dir) as again:
        again.images()
        again.instances(image.id)
        again.image_counts()
        list(again.instance_rows())
    assert digest(project_dir / DB_NAME) == before
    assert sorted(p.name for p in project_dir.iterdir()) == [DB_NAME]


def test_newer_schema_is_refused(store):
    store.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    project_dir = store.project_dir
    store.close()
    with pytest.raises(ProjectError, match="newer labeler"):
        ProjectStore.open(project_dir)


def test_older_schema_is_backed_up_and_migrated(store, monkeypatch):
    project_dir = store.project_dir
    image = store.images()[0]
    store.put_instance(Instance(None, image.id, 1, Polygons.rectangle(0, 0, 5, 5)))
    store.close()
    v2 = "ALTER TABLE instances ADD COLUMN note TEXT NOT NULL DEFAULT '';"
    monkeypatch.setattr(project_store, "MIGRATIONS", [*project_store.MIGRATIONS, v2])
    monkeypatch.setattr(project_store, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with ProjectStore.open(project_dir) as migrated:
        assert migrated.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert migrated.db.execute("SELECT note FROM instances").fetchall() == [("",)]
        assert len(migrated.instances(image.id)) == 1
    backup = project_dir / f"{DB_NAME}.v{SCHEMA_VERSION}.bak"
    assert sqlite3.connect(backup).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_failed_migration_leaves_the_project_as_it_was(store, monkeypatch):
    project_dir = store.project_dir
    store.close()
    broken = "ALTER TABLE instances ADD COLUMN x TEXT; ALTER TABLE nowhere ADD COLUMN y TEXT;"
    monkeypatch.setattr(project_store, "MIGRATIONS", [*project_store.MIGRATIONS, broken])
    monkeypatch.setattr(project_store, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(ProjectError):
        ProjectStore.open(project_dir)
    db = sqlite3.connect(project_dir / DB_NAME)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert "x" not in [row[1] for row in db.execute("PRAGMA table_info(instances)")]


@pytest.mark.parametrize("bad", ["../outside.png", "sub/../../outside.png", "/etc/passwd", ".", ""])
def test_paths_that_escape_the_root_are_refused(store, bad):
    with pytest.raises(ProjectError):
        store.add_images([ImageRecord(None, bad, 10, 10)])


def test_paths_are_normalised_relative_to_root(store):
    absolute = store.image_root / "sub" / "c.jpg"
    assert store.relative_image_path(absolute) == "sub/c.jpg"
    assert store.relative_image_path("sub\\c.jpg") == "sub/c.jpg"
    assert store.relative_image_path("./sub//c.jpg") == "sub/c.jpg"
    assert store.image_path("sub/c.jpg") == absolute.resolve()


def test_instance_round_trip_computes_area_and_bbox(store):
    image = store.images()[1]  # 80 x 60
    mask = np.zeros((60, 80), np.uint8)
    mask[10:20, 30:50] = 1
    outer = ((0.0, 0.0), (30.0, 0.0), (30.0, 30.0), (0.0, 30.0))
    hole = ((10.0, 10.0), (20.0, 10.0), (20.0, 20.0), (10.0, 20.0))
    shapes = [Polygons(((outer, hole),)), geometry.mask_to_rle(mask)]
    stored = [store.put_instance(Instance(None, image.id, 2, s, 0.75, Provenance.model(4),
                                          InstanceStatus.PROPOSED)) for s in shapes]
    assert store.instances(image.id) == stored
    rows = list(store.instance_rows(statuses=[InstanceStatus.PROPOSED]))
    assert [r.area for r in rows] == [800.0, 200.0]
    assert rows[1].bbox == (30.0, 10.0, 20.0, 10.0)
    assert rows[0].has_holes and rows[0].provenance == "model v4"


def test_unknown_category_is_refused_and_rolls_back(store):
    image = store.images()[0]
    good = Instance(None, image.id, 1, Polygons.rectangle(0, 0, 5, 5))
    bad = Instance(None, image.id, 999, Polygons.rectangle(0, 0, 5, 5))
    cmd = commands.Command(image.id, "two adds", [(None, good), (None, bad)])
    with pytest.raises(sqlite3.IntegrityError):
        Histories(store).push(cmd)
    assert store.instances(image.id) == []
    assert store.get_image(image.id).status == ImageStatus.UNLABELED


def test_categories_rename_and_duplicates(store):
    cat = store.category_by_name("cat")
    store.update_category(type(cat)(cat.id, "kitten", "#112233"))
    assert store.category_by_name("kitten").color == "#112233"
    with pytest.raises(ProjectError, match="already exists"):
        store.add_category("dog")
    assert store.ensure_category("bird").name == "bird"


def test_commands_survive_a_killed_process(store):
    """Every command is committed when push() returns: SIGKILL right after loses nothing."""
    project_dir = store.project_dir
    image = store.images()[0]
    store.close()
    script = textwrap.dedent(f"""
        import os, signal
        from labeler.core import Histories, Instance, Polygons, commands
        from labeler.store import ProjectStore
        store = ProjectStore.open({str(project_dir)!r})
        histories = Histories(store)
        for k in range(5):
            histories.push(commands.add_instance(
                Instance(None, {image.id}, 1, Polygons.rectangle(k, k, k + 3, k + 3))))
        print("pushed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "pushed" in proc.stdout
    with ProjectStore.open(project_dir) as reopened:
        assert len(reopened.instances(image.id)) == 5
        assert reopened.get_image(image.id).status == ImageStatus.IN_REVIEW


def test_image_counts_and_instance_counts(store):
    images = store.images()
    store.set_image_status(images[0].id, ImageStatus.ACCEPTED)
    store.put_instance(Instance(None, images[0].id, 1, Polygons.rectangle(0, 0, 5, 5)))
    store.put_instance(Instance(None, images[0].id, 2, Polygons.rectangle(0, 0, 5, 5), 0.5,
                                Provenance.model(1), InstanceStatus.PROPOSED))
    counts = store.image_counts()
    assert counts[ImageStatus.ACCEPTED] == 1 and counts[ImageStatus.UNLABELED] == 2
    assert store.instance_counts() == [("cat", "manual", "accepted", 1), ("dog", "model v1", "proposed", 1)]
    with pytest.raises(ProjectError):
        store.set_image_status(12345, ImageStatus.ACCEPTED)


def test_project_and_images_can_move_together(tmp_path):
    project = tmp_path / "p"
    (project / "imgs").mkdir(parents=True)
    ProjectStore.create(project, project / "imgs").close()
    os.rename(project, tmp_path / "moved")
    with ProjectStore.open(tmp_path / "moved") as moved:
        assert moved.image_root == (tmp_path / "moved" / "imgs").resolve()
