from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from labeler.cli import main
from labeler.store import ProjectStore

from ..conftest import write_image, write_json


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_command():
    proc = subprocess.run([sys.executable, "-m", "labeler", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("demo", "gui", "init", "import", "export", "stats", "prelabel", "train", "simulate"):
        assert command in proc.stdout


@pytest.mark.parametrize("command", ["demo", "gui", "init", "import", "export", "stats", "prelabel", "train",
                                     "simulate"])
def test_each_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: labeler " + command in capsys.readouterr().out


def test_init_import_export_stats(tmp_path, capsys):
    images = tmp_path / "imgs"
    write_image(images / "a.png", 64, 48)
    write_image(images / "deep" / "b.jpg", 32, 32)
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (images / "notes.txt").write_text("not an image")
    code, out, err = run(capsys, "init", tmp_path / "p", "--images", images, "--labels", "cat, dog")
    assert code == 0 and "2 images" in out and "1 file skipped" in out
    assert "broken.png" in err

    coco = {"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 5,
                             "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]]}],
            "categories": [{"id": 5, "name": "dog"}]}
    code, out, err = run(capsys, "import", tmp_path / "p", "--format", "coco", write_json(tmp_path / "c.json", coco))
    assert code == 0 and "imported 1 instance on 1 image" in out

    code, out, err = run(capsys, "stats", tmp_path / "p")
    assert code == 0
    assert re.search(r"^\s+accepted\s+1$", out, re.M) and re.search(r"^\s+unlabeled\s+1$", out, re.M)
    assert "dog" in out and "manual" in out

    code, out, err = run(capsys, "export", tmp_path / "p", "--format", "coco", tmp_path / "out.json")
    assert code == 0 and "exported 1 instance on 1 image (the images marked accepted)" in out
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["categories"] == [{"id": 1, "name": "cat", "supercategory": ""},
                                  {"id": 2, "name": "dog", "supercategory": ""}]
    assert data["annotations"][0]["category_id"] == 2

    code, out, err = run(capsys, "export", tmp_path / "p", tmp_path / "s.json", "--all", "--val-fraction", "0.5", "--rle")
    assert code == 0 and (tmp_path / "s_train.json").is_file() and (tmp_path / "s_val.json").is_file()


@pytest.mark.parametrize("args, message", [
    (["stats", "{tmp}/nowhere"], "not a labeler project"),
    (["init", "{tmp}/p", "--images", "{tmp}/nowhere"], "image folder does not exist"),
    (["init", "{tmp}/p", "--images", "{tmp}/empty"], "no images found"),
    (["init", "{tmp}/proj", "--images", "{tmp}/imgs"], "a project already exists here"),
    (["export", "{tmp}/proj", "{tmp}/o.json", "--val-fraction", "1.5"], "--val-fraction"),
    (["import", "{tmp}/proj", "--format", "coco", "{tmp}/bad.json"], "not valid JSON"),
    (["import", "{tmp}/proj", "--format", "labelme", "{tmp}/missing.json"], "file not found"),
])
def test_errors_are_one_line_with_exit_code_2(tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    write_image(tmp_path / "imgs" / "a.png")
    ProjectStore.create(tmp_path / "proj", tmp_path / "imgs").close()
    (tmp_path / "bad.json").write_text("{")
    code, out, err = run(capsys, *[a.format(tmp=tmp_path) for a in args])
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[-1].startswith("labeler: error: ") and message in lines[-1]


def test_demo_creates_the_project_once(tmp_path, capsys):
    code, out, err = run(capsys, "demo", "--dir", tmp_path / "demo", "--no-gui")
    assert code == 0 and str(tmp_path / "demo") in out
    with ProjectStore.open(tmp_path / "demo") as store:
        assert len(store.images()) == 3
        coins = store.image_by_path("coins.png")
        assert len(store.instances(coins.id)) == 16
        assert [c.name for c in store.categories()] == ["coin", "cup", "cat"]
    # A second run reuses it; --reset makes it anew.
    code, out, err = run(capsys, "demo", "--dir", tmp_path / "demo", "--no-gui")
    assert code == 0
    assert not (tmp_path / "demo.partial").exists()
