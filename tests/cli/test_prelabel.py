"""`labeler prelabel`: the headless pre-labeling command."""

from __future__ import annotations

from labeler.store import ProjectStore
from labeler.store.proposals import images_needing_suggestions

from ..workers.conftest import make_model_project
from .test_cli import run


def test_prelabel_refuses_an_untrained_model_unless_asked(tmp_path, capsys):
    project = make_model_project(tmp_path)
    code, out, err = run(capsys, "prelabel", str(project), "--model", "maskrcnn_tiny", "--device", "cpu", "--offline")
    assert code == 2 and "no trained weights" in err and "--untrained" in err
    assert "No pretrained weights found" in out
    with ProjectStore.open(project) as store:
        assert all(store.instances(i.id) == [] for i in store.images())


def test_prelabel_runs_resumes_and_reports(tmp_path, capsys):
    project = make_model_project(tmp_path)
    args = ("prelabel", str(project), "--model", "maskrcnn_tiny", "--device", "cpu", "--offline",
            "--untrained", "--batch", "3", "--score-threshold", "0")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert "4 images to pre-label" in out and "pre-labeled 4 images" in out
    assert "pre-labeling: 4/4" in err  # the progress line
    with ProjectStore.open(project) as store:
        assert images_needing_suggestions(store, 0) == []
        assert store.db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 4
    code, out, _ = run(capsys, *args)  # nothing left: a second run resumes with nothing to do
    assert code == 0 and "0 images to pre-label" in out


def test_prelabel_errors_are_clear(tmp_path, capsys):
    project = make_model_project(tmp_path)
    code, _, err = run(capsys, "prelabel", str(project), "--model", "nope")
    assert code == 2 and "nope" in err and "maskrcnn_resnet50_fpn_v2" in err
    code, _, err = run(capsys, "prelabel", str(project), "--weights", str(tmp_path / "missing.pt"))
    assert code == 2 and "missing.pt" in err
    code, _, err = run(capsys, "prelabel", str(project), "--batch", "0")
    assert code == 2 and "--batch" in err


def test_class_map_is_checked_and_saved_in_the_project(tmp_path, capsys):
    from labeler.store.proposals import class_map

    project = make_model_project(tmp_path)
    base = ("prelabel", str(project), "--model", "maskrcnn_tiny", "--device", "cpu", "--offline")
    code, _, err = run(capsys, *base, "--class-map", "square=unicorn")
    assert code == 2 and "unicorn" in err and "not a COCO class" in err
    code, _, err = run(capsys, *base, "--class-map", "triangle=kite")
    assert code == 2 and "triangle" in err
    code, _, err = run(capsys, *base, "--class-map", "square")
    assert code == 2 and "CLASS=COCO_CLASS" in err
    code, out, _ = run(capsys, *base, "--class-map", "square=tv, disk=frisbee")  # then: no weights
    assert "square -> tv, disk -> frisbee" in out
    with ProjectStore.open(project) as store:
        assert class_map(store) == {"square": "tv", "disk": "frisbee"}


def test_refine_masks_puts_every_box_to_the_assist_model(tmp_path, capsys):
    """The tiny random SAM rates its masks about 0.5, so with the shipped rule nothing is
    redrawn (the rule itself is the next test); a missing assist model is one line."""

    project = make_model_project(tmp_path)
    args = ("prelabel", str(project), "--model", "maskrcnn_tiny", "--device", "cpu", "--offline", "--untrained",
            "--score-threshold", "0", "--refine-masks", "random:tiny")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert "(0 masks redrawn by random:tiny)" in out
    code, out, err = run(capsys, "prelabel", str(project), "--offline", "--refine-masks", str(tmp_path / "none"))
    assert code == 2 and "--refine-masks" in err and len(err.strip().splitlines()) == 1


def test_a_refined_mask_replaces_the_detector_s_only_when_it_is_the_same_object(monkeypatch):
    import numpy as np

    import labeler.ml.promptable as promptable
    from labeler.ml.predict import Detection

    model = promptable.PromptModel.load(promptable.TINY_RANDOM)
    rgb = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    box = (20.0, 20.0, 100.0, 80.0)
    sam = model.segment(model.embed(rgb), box, multimask=True)[0].mask
    assert sam.area > 0
    same = Detection(1, 0.9, box, sam.mask.astype(bool), (sam.x, sam.y))
    elsewhere = Detection(2, 0.8, box, np.ones((4, 4), bool), (0, 0))
    monkeypatch.setattr(promptable, "REFINE_MIN_SCORE", 0.0)
    (kept_same, kept_elsewhere), refined = promptable.refine_detections(model, rgb, [same, elsewhere])
    assert refined == 1
    assert kept_elsewhere is elsewhere  # SAM drew another object: the detector's mask stays
    assert (kept_same.label, kept_same.score, kept_same.box) == (1, 0.9, box)
    assert np.array_equal(kept_same.full_mask(96, 128), sam.full().astype(bool))
    monkeypatch.setattr(promptable, "REFINE_MIN_SCORE", 0.99)  # SAM not sure of itself: nothing changes
    assert promptable.refine_detections(model, rgb, [same])[1] == 0
