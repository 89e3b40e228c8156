"""What the command line and the window share (init, import, export helpers in cli.py), and
the window's command-line options: --offline, and `labeler gui` with no project."""

from __future__ import annotations

import json

import pytest

from labeler import cli, projects
from labeler.formats import import_coco
from labeler.store import DB_NAME, ProjectStore

from ..conftest import write_image, write_json


@pytest.fixture
def opened(monkeypatch):
    """Stands in for the window: records what `labeler gui` / `labeler demo` would open it with."""
    pytest.importorskip("PySide6.QtWidgets")
    import labeler.gui.app

    class Calls(list):
        assists: list

    calls, assists = Calls(), []

    def run(project, model, train_budget=None, assist=None):
        calls.append((project, model))
        assists.append(assist)
        return 0

    monkeypatch.setattr(labeler.gui.app, "run", run)
    calls.assists = assists
    return calls


def test_gui_offline_means_no_download(tmp_path, opened, image_root):
    ProjectStore.create(tmp_path / "p", image_root).close()
    assert cli.main(["gui", str(tmp_path / "p"), "--offline"]) == 0
    assert cli.main(["gui", str(tmp_path / "p")]) == 0
    assert cli.main(["gui", str(tmp_path / "p"), "--no-model"]) == 0
    (_, offline), (_, online), (_, none) = opened
    assert offline.allow_download is False and online.allow_download is True and none is None
    assert offline.project_dir == str(tmp_path / "p")
    assist_offline, assist_online, assist_without_model = opened.assists  # the assist model is its own
    assert assist_offline.allow_download is False and assist_online.allow_download is True
    assert assist_without_model is not None and assist_offline.model is None  # None: sam2.1-tiny
    assert cli.main(["gui", str(tmp_path / "p"), "--no-assist-model", "--assist-model", "sam2.1-small"]) == 0
    assert opened.assists[-1] is None
    assert cli.main(["gui", str(tmp_path / "p"), "--assist-model", "sam2.1-small"]) == 0
    assert opened.assists[-1].model == "sam2.1-small" and opened.assists[-1].project_dir == str(tmp_path / "p")


def test_demo_offline_means_no_download(tmp_path, opened):
    assert cli.main(["demo", "--dir", str(tmp_path / "demo"), "--offline"]) == 0
    ((project, model),) = opened
    assert project == tmp_path / "demo" and model.allow_download is False


def test_gui_without_a_project_opens_the_start_window(opened):
    assert cli.main(["gui", "--offline"]) == 0
    ((project, model),) = opened
    assert project is None and model.allow_download is False


def test_create_project_reports_in_order_and_a_cancel_creates_nothing(tmp_path, monkeypatch):
    for n in range(5):
        write_image(tmp_path / "imgs" / f"{n}.png", 16, 16, seed=n)
    (tmp_path / "imgs" / "bad.png").write_bytes(b"not a png")
    monkeypatch.setattr(projects, "SCAN_CHUNK", 2)  # several batches
    seen = []
    created = projects.create_project(tmp_path / "p", tmp_path / "imgs", ["a"], progress=lambda d, t: seen.append((d, t)))
    assert seen == [(n, 6) for n in range(1, 7)]
    assert created.images == 5 and len(created.skipped) == 1 and "bad.png" in created.skipped[0]

    class Stop(Exception):
        pass

    def cancel(done, total):
        if done == 3:
            raise Stop

    with pytest.raises(Stop):
        projects.create_project(tmp_path / "q", tmp_path / "imgs", progress=cancel)
    assert not (tmp_path / "q" / DB_NAME).exists()


def test_export_progress_ends_before_writing_and_a_cancel_writes_nothing(store, tmp_path):
    coco = {"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
            "annotations": [{"id": k, "image_id": 1, "category_id": 1,
                             "segmentation": [[k, 0, k + 5, 0, k + 5, 5, k, 5]]} for k in range(1, 4)],
            "categories": [{"id": 1, "name": "cat"}]}
    import_coco(store, [write_json(tmp_path / "c.json", coco)])
    seen = []
    result = projects.export_dataset(store, tmp_path / "out.json", progress=lambda d, t: seen.append((d, t)))
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)] and result.annotations == 3
    assert len(json.loads((tmp_path / "out.json").read_text())["annotations"]) == 3

    def cancel(done, total):
        if done == total:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        projects.export_dataset(store, tmp_path / "never.json", val_fraction=0.5, progress=cancel)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("never")) == []


def test_the_summaries_are_the_lines_the_commands_print(tmp_path, capsys, image_root):
    code = cli.main(["init", str(tmp_path / "p"), "--images", str(image_root)])
    assert code == 0
    coco = {"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 9, 0, 9, 9]]}],
            "categories": [{"id": 1, "name": "cat"}]}
    capsys.readouterr()
    coco_path = write_json(tmp_path / "c.json", coco)
    assert cli.main(["import", str(tmp_path / "p"), "--format", "coco", str(coco_path)]) == 0
    with ProjectStore.open(tmp_path / "p") as store:
        report_line = capsys.readouterr().out.strip()
        assert report_line == "imported 1 instance on 1 image (0 images new to the project; new classes: cat)"
        assert cli.main(["export", str(tmp_path / "p"), str(tmp_path / "o.json")]) == 0
        assert capsys.readouterr().out.strip() == projects.export_summary(
            projects.export_dataset(store, tmp_path / "o.json"), all_images=False)
