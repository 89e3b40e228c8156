"""The simulated annotator: what each kind of suggestion costs, and `labeler simulate` end to end."""

from __future__ import annotations

import re
from pathlib import Path

from labeler.core import InstanceStatus, Polygons, Provenance
from labeler.core.entities import Instance
from labeler.ml.synthetic import write_shapes_dataset
from labeler.store import ProjectStore
from labeler.store.effort import effort_summary
from labeler.store.training import versions
from labeler.workers.simulate import Block, Tally, drawing_cost, overall_ratio, review, table

from ..cli.test_cli import run

H = W = 100
SQUARE = Polygons.rectangle(10, 10, 50, 50)


def suggestion(shape, category=1, score=0.9):
    return Instance(7, 1, category, shape, score, Provenance.model(1), InstanceStatus.PROPOSED)


def test_each_kind_of_suggestion_costs_what_it_should():
    exact = review([suggestion(SQUARE)], [(1, SQUARE)], H, W)
    assert [(d.kind, d.actions) for d in exact] == [("accepted", 1)]
    wrong_class = review([suggestion(SQUARE, category=2)], [(1, SQUARE)], H, W)
    assert [(d.kind, d.actions) for d in wrong_class] == [("accepted", 2)]  # accept + relabel
    shifted = review([suggestion(Polygons.rectangle(18, 10, 58, 50))], [(1, SQUARE)], H, W)  # IoU 0.67
    assert [d.kind for d in shifted] == ["corrected"]
    assert 1 < shifted[0].actions <= drawing_cost(SQUARE, H, W) + 1
    missed = review([suggestion(Polygons.rectangle(70, 70, 90, 90))], [(1, SQUARE)], H, W)
    assert sorted((d.kind, d.actions) for d in missed) == [("drawn", 4), ("rejected", 1)]
    # Two suggestions for one object: the better-scored one matches, the other is rejected.
    double = review([suggestion(SQUARE, score=0.5), suggestion(Polygons.rectangle(11, 11, 50, 50), score=0.8)],
                    [(1, SQUARE)], H, W)
    assert sorted(d.kind for d in double) == ["accepted", "rejected"]
    assert next(d for d in double if d.kind == "accepted").suggestion.score == 0.8


def test_table_and_ratio():
    blocks = [Block(1, 2, 0, Tally(2, 5, 0, 0, 5, 0, 40, 40)), Block(3, 4, 1, Tally(2, 5, 3, 1, 1, 2, 20, 40))]
    text = table(blocks)
    assert text.splitlines()[0].split()[:3] == ["images", "model", "instances"]
    assert text.splitlines()[-1].split()[:2] == ["all", "10"]
    assert overall_ratio(blocks) == 60 / 80


def test_simulate_command_end_to_end(tmp_path, capsys):
    gt = write_shapes_dataset(tmp_path / "data", 6)
    work = tmp_path / "work"
    code, out, err = run(capsys, "simulate", str(gt), "--images", str(gt.parent / "images"), "--start-with", "2",
                         "--retrain-every", "2", "--model", "maskrcnn_tiny", "--device", "cpu", "--offline",
                         "--budget", "2", "--batch", "1", "--score-threshold", "0.01", "--project", str(work))
    assert code == 0, err
    assert re.search(r"^ratio: \d+\.\d\d$", out, re.M), out
    rows = [line.split() for line in out.splitlines() if re.match(r"\s*\d+-\d+\s", line)]
    assert rows[0][:2] == ["1-2", "v0"]  # the first images by hand, with no model yet
    assert rows[0][-1] == "1.00"
    assert "round v1: promoted" in err
    with ProjectStore.open(work / "simulation") as store:
        assert len(versions(store)) == 2  # a round after images 2 and 4 (not after the last)
        assert all(i.status.value == "accepted" for i in store.images())
        assert sum(e.images for e in effort_summary(store)) == 6


def test_simulate_without_a_model_to_learn_costs_exactly_drawing_by_hand(tmp_path, capsys):
    gt = write_shapes_dataset(tmp_path / "data", 3)
    code, out, err = run(capsys, "simulate", str(gt), "--images", str(gt.parent / "images"), "--start-with", "5",
                         "--model", "maskrcnn_tiny", "--device", "cpu", "--offline")
    assert code == 0, err
    assert "ratio: 1.00" in out


def test_simulate_says_what_is_wrong_with_its_input(tmp_path, capsys):
    code, _, err = run(capsys, "simulate", str(tmp_path / "missing.json"), "--images", str(tmp_path))
    assert code == 2 and "missing.json: no such file" in err
    gt = write_shapes_dataset(tmp_path / "data", 2)
    code, _, err = run(capsys, "simulate", str(gt), "--images", str(tmp_path / "elsewhere"))
    assert code == 2 and "elsewhere" in err
    assert not Path(tmp_path / "elsewhere").exists()


def test_simulate_reads_real_coco_ground_truth(shared_data, tmp_path, capsys):
    """labelme's own COCO output (VOC images, 21 classes): imported, replayed by hand, counted."""
    coco = shared_data / "labelme-examples" / "instance_segmentation" / "data_dataset_coco"
    code, out, err = run(capsys, "simulate", coco / "annotations.json", "--images", coco, "--start-with", "10",
                         "--model", "maskrcnn_tiny", "--device", "cpu", "--offline", "--project", tmp_path / "work")
    assert code == 0, err
    assert "simulating 3 images, 21 classes" in err
    total = next(line.split() for line in out.splitlines() if line.split()[:1] == ["all"])
    assert int(total[1]) == 12 and total[-1] == "1.00"  # 12 instances, all drawn by hand
