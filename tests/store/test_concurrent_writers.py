"""Several processes writing one project: a large `labeler import` while the window edits.

The import must never make a person's edit fail: it does its Python-side work with no lock
held and writes in one short transaction; a writer that finds the lock taken waits for it;
one that gives up says so in one line. And a killed import leaves nothing of itself."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from PIL import Image

from labeler import cli
from labeler.core import ImageRecord, ImageStatus, Instance, Polygons
from labeler.store import DB_NAME, ProjectBusy, ProjectError, ProjectStore, project_store

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 320, 240
EDIT_IMAGES = 5  # images the "window" edits; the COCO file leaves them alone


def make_project(tmp_path: Path, n_images: int, per_image: int) -> tuple[Path, Path]:
    """A project as `labeler init` leaves it (n_images + EDIT_IMAGES images, no labels) and
    a COCO file with per_image polygons on each of the n_images."""
    images = tmp_path / "images"
    (images / "edit").mkdir(parents=True)
    template = tmp_path / "template.png"
    Image.new("RGB", (WIDTH, HEIGHT), (90, 120, 150)).save(template)
    paths = [f"img_{k:05d}.png" for k in range(n_images)] + [f"edit/e{k}.png" for k in range(EDIT_IMAGES)]
    for rel in paths:
        os.link(template, images / rel)
    project = tmp_path / "project"
    with ProjectStore.create(project, images, ["a", "b"]) as store:
        store.add_images(ImageRecord(None, rel, WIDTH, HEIGHT) for rel in paths)
    rng = random.Random(0)
    anns = []
    for i in range(n_images):
        for j in range(per_image):
            cx, cy, r = rng.uniform(40, WIDTH - 40), rng.uniform(40, HEIGHT - 40), rng.uniform(5, 30)
            seg = [round(v, 2) for a in range(12)
                   for v in (cx + r * math.cos(a * math.pi / 6), cy + r * math.sin(a * math.pi / 6))]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1 + j % 2,
                         "segmentation": [seg], "area": 1.0, "bbox": [cx - r, cy - r, 2 * r, 2 * r],
                         "iscrowd": 0})
    coco = {"images": [{"id": i + 1, "file_name": paths[i], "width": WIDTH, "height": HEIGHT}
                       for i in range(n_images)],
            "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "new"}],
            "annotations": anns}
    coco_file = tmp_path / "instances.json"
    coco_file.write_text(json.dumps(coco, separators=(",", ":")))
    return project, coco_file


def edit(store: ProjectStore, image: ImageRecord, k: int) -> Instance:
    """What the window does for one edit: one instance, one transaction."""
    x = 10 + k % 200
    return store.put_instance(Instance(None, image.id, 1, Polygons.rectangle(x, 10, x + 20, 30)))


def edit_images(store: ProjectStore) -> list[ImageRecord]:
    return [im for im in store.images() if im.path.startswith("edit/")]


def count_instances(project: Path, where: str = "") -> int:
    with sqlite3.connect(str(project / DB_NAME)) as db:
        return db.execute(f"SELECT COUNT(*) FROM instances i JOIN images m ON m.id = i.image_id {where}").fetchone()[0]


def run_import(project: Path, coco_file: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "labeler", "import", str(project), "--format", "coco",
                             str(coco_file)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


# An import in a child process, hooked once it holds the write lock (inside write_staged):
# "pause" waits there until the parent says its edit has started, "kill-mid" kills itself
# partway through inserting the rows, "kill-before-commit" once every row is inserted.
HOOKED_IMPORT = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from labeler import cli
    from labeler.store import ProjectStore

    mode, signal_dir, project, coco = sys.argv[1:5]
    original = ProjectStore.write_staged
    calls = [0]

    def write_staged(self, *args, **kwargs):
        def tick():
            calls[0] += 1
            if mode == "pause" and calls[0] == 1:
                Path(signal_dir, "holding").touch()
                deadline = time.monotonic() + 60
                while not Path(signal_dir, "editing").exists() and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(0.5)  # the edit is waiting for the lock now
            if mode == "kill-mid" and calls[0] == 200:
                os.kill(os.getpid(), signal.SIGKILL)
            return 0
        self.db.set_progress_handler(tick, 1000)
        result = original(self, *args, **kwargs)
        self.db.set_progress_handler(None, 0)
        if mode == "kill-before-commit":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    ProjectStore.write_staged = write_staged
    sys.exit(cli.main(["import", project, "--format", "coco", coco]))
""")


def hooked_import(mode: str, signal_dir: Path, project: Path, coco_file: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HOOKED_IMPORT, mode, str(signal_dir), str(project),
                             str(coco_file)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# --- tests ------------------------------------------------------------------------------

def test_edit_made_while_an_import_holds_the_lock_is_committed(tmp_path):
    project, coco_file = make_project(tmp_path, 3000, 10)
    proc = hooked_import("pause", tmp_path, project, coco_file)
    with ProjectStore.open(project) as window:  # the window's own connection
        image = edit_images(window)[0]
        while not (tmp_path / "holding").exists():
            assert proc.poll() is None, proc.communicate()
            threading.Event().wait(0.01)
        (tmp_path / "editing").touch()
        made = edit(window, image, 0)  # waits for the import's transaction, then commits
        imported_before_edit = count_instances(project, "WHERE m.path NOT LIKE 'edit/%'")
        assert window.get_instance(made.id) is not None
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "imported 30000 instances" in out
    # the import was writing when the edit was made: the edit went in after all of it
    assert imported_before_edit == 30_000
    assert count_instances(project, "WHERE m.path LIKE 'edit/%'") == 1


def test_window_edits_never_fail_during_a_large_cli_import(tmp_path):
    project, coco_file = make_project(tmp_path, 4000, 10)  # 40,000 annotations
    failures: list[str] = []
    made: list[int] = []
    with ProjectStore.open(project) as window:
        targets = edit_images(window)
        proc = run_import(project, coco_file)
        k = 0
        while proc.poll() is None:  # edit steadily for as long as the import runs
            try:
                made.append(edit(window, targets[k % len(targets)], k).id)
            except Exception as exc:  # noqa: BLE001 - any failure is what this test looks for
                failures.append(f"{type(exc).__name__}: {exc}")
            k += 1
            threading.Event().wait(0.02)
        out, err = proc.communicate()
        assert failures == []
        assert proc.returncode == 0, err
        assert "imported 40000 instances on 4000 images" in out
        assert all(window.get_instance(i) is not None for i in made)
    assert len(made) > 0
    assert count_instances(project, "WHERE m.path NOT LIKE 'edit/%'") == 40_000
    assert count_instances(project, "WHERE m.path LIKE 'edit/%'") == len(made)


@pytest.mark.parametrize("mode", ["kill-mid", "kill-before-commit"])
def test_killed_import_leaves_nothing_of_itself(tmp_path, mode):
    project, coco_file = make_project(tmp_path, 2000, 10)
    with ProjectStore.open(project) as window:
        kept = edit(window, edit_images(window)[0], 0)  # saved before the import: must survive
    proc = hooked_import(mode, tmp_path, project, coco_file)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err
    with ProjectStore.open(project) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert count_instances(project) == 1
        assert store.get_instance(kept.id) is not None
        assert [c.name for c in store.categories()] == ["a", "b"]  # "new" came with the import
        assert store.image_counts()[ImageStatus.ACCEPTED] == 0
        edit(store, edit_images(store)[1], 1)  # and the project takes edits as before
    # the same import, run again to the end, imports everything
    proc = run_import(project, coco_file)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert count_instances(project, "WHERE m.path NOT LIKE 'edit/%'") == 20_000


def test_the_python_side_of_an_import_holds_no_lock(store, monkeypatch):
    """While shapes are staged, another writer with no patience at all still gets in."""
    image = store.images()[0]
    labels = [(im.path, [("cat", store.prepare_instance(Instance(None, 0, 0, Polygons.rectangle(1, 1, 9, 9))))
                         for _ in range(2000)]) for im in store.images()]
    monkeypatch.setattr(project_store, "BUSY_TIMEOUT_S", 0)
    other = ProjectStore.open(store.project_dir)
    written = []

    def tick():
        if not written:
            written.append(edit(other, image, 0))  # raises ProjectBusy if the lock were held
        return 0

    store.db.set_progress_handler(tick, 1000)
    staged = store.stage_labels(labels)
    store.db.set_progress_handler(None, 0)
    assert written and other.get_instance(written[0].id) is not None
    result = store.write_staged(staged)
    assert result.skipped == [image.path]  # it had the other writer's label by then
    assert result.instances_added == 2000 * (len(labels) - 1)
    other.close()


def test_a_writer_that_gives_up_says_why_in_one_line(store, monkeypatch):
    monkeypatch.setattr(project_store, "BUSY_TIMEOUT_S", 0.2)
    image = store.images()[0]
    patient_less = ProjectStore.open(store.project_dir)
    holder = sqlite3.connect(str(store.project_dir / DB_NAME), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing, for longer than we wait
    try:
        with pytest.raises(ProjectBusy) as caught:
            edit(patient_less, image, 0)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    message = str(caught.value)
    assert "another labeler process" in message and "\n" not in message
    assert isinstance(caught.value, ProjectError) and isinstance(caught.value, sqlite3.OperationalError)
    assert patient_less.instances(image.id) == []
    edit(patient_less, image, 0)  # once the lock is free, the same edit goes in
    assert len(patient_less.instances(image.id)) == 1
    patient_less.close()


def test_cli_import_that_gives_up_prints_one_error_line(store, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(project_store, "BUSY_TIMEOUT_S", 0.2)
    coco_file = tmp_path / "small.json"
    coco_file.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 9, 1, 9, 9]],
                         "area": 32, "bbox": [1, 1, 8, 8], "iscrowd": 0}]}))
    holder = sqlite3.connect(str(store.project_dir / DB_NAME), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        code = cli.main(["import", str(store.project_dir), "--format", "coco", str(coco_file)])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("labeler:")]
    assert code == 2
    assert "Traceback" not in err
    assert len(errors) == 1 and errors[0].startswith("labeler: error:") and "another labeler process" in errors[0]
    assert count_instances(store.project_dir) == 0


def test_write_prepared_semantics(store):
    """The SQL-only write: new categories by name, proposals put the image in review, an
    image with labels (or given twice) gets nothing, and an unknown image refuses it all."""
    from labeler.core import InstanceStatus, Provenance

    a, b, c = store.images()
    edit(store, c, 0)  # c already has a label
    square = Polygons.rectangle(2, 2, 12, 12)
    accepted = store.prepare_instance(Instance(None, 0, 0, square))
    proposal = store.prepare_instance(Instance(None, 0, 0, square, 0.9, Provenance.model(1),
                                               InstanceStatus.PROPOSED))
    written = store.write_prepared([(a.path, [("cat", accepted), ("bird", accepted)]),
                                    (b.path, [("dog", proposal)]),
                                    (a.path, [("cat", accepted)]),
                                    (c.path, [("fish", accepted)])], ["cat", "owl"])
    assert written.instances_added == 3 and written.images_labeled == 2
    assert written.categories_added == ["owl", "bird"]  # "fish" was only wanted by c, which is skipped
    assert sorted(written.skipped) == sorted([a.path, c.path])
    assert store.get_image(a.id).status == ImageStatus.ACCEPTED
    assert store.get_image(b.id).status == ImageStatus.IN_REVIEW
    got = store.instances(a.id)
    assert [store.db.execute("SELECT name FROM categories WHERE id = ?", (i.category_id,)).fetchone()[0]
            for i in got] == ["cat", "bird"]
    assert got[0].shape == square
    assert store.instances(b.id)[0].status == InstanceStatus.PROPOSED and len(store.instances(c.id)) == 1
    before = store.db.execute("SELECT COUNT(*) FROM instances").fetchone()[0]
    with pytest.raises(ProjectError, match="not an image of this project"):
        store.write_prepared([(a.path, [("cat", accepted)]), ("nowhere.png", [("cat", accepted)])])
    assert store.db.execute("SELECT COUNT(*) FROM instances").fetchone()[0] == before
