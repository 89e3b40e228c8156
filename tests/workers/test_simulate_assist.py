"""`labeler simulate --assist grabcut [--no-model]`: the simulated person's box and clicks,
NoC@85 / NoC@90, what is accepted, and what the options refuse."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from labeler import geometry
from labeler.assist.clicker import box_of, iou, next_click
from labeler.assist.grabcut import GrabCutSegmenter
from labeler.core import InstanceStatus, Polygons
from labeler.core.entities import ProvenanceKind
from labeler.ml.synthetic import write_shapes_dataset
from labeler.store import ProjectStore
from labeler.workers.assist_sim import attempt

from ..cli.test_cli import run

# What `labeler simulate` printed before --assist existed (commit HEAD of this change) for
# write_shapes_dataset(root, 3) with --start-with 5: --assist none must print it unchanged.
BEFORE_ASSIST = (
    "images  model  instances  accepted  corrected  drawn  rejected  actions  by hand  per instance  ratio\n"
    "   1-3     v0         11         0          0     11         0       74       74          6.73   1.00\n"
    "   all                11         0          0     11         0       74       74          6.73   1.00\n"
    "ratio: 1.00\n")

RED = (40, 50, 210)  # BGR


def checker_scene(h: int = 160, w: int = 200) -> np.ndarray:
    """A textured blue/grey checkerboard (8 px squares, a little noise), BGR."""
    yy, xx = np.mgrid[:h, :w]
    checker = ((yy // 8 + xx // 8) % 2).astype(bool)
    image = np.where(checker[..., None], np.array((200, 90, 40), np.uint8), np.array((130, 130, 130), np.uint8))
    return np.clip(image + np.random.default_rng(0).normal(0, 6, image.shape), 0, 255).astype(np.uint8)


def write_coco(root: Path, images: list[tuple[str, np.ndarray, list[tuple[str, Polygons]]]]) -> Path:
    """root/<name>.png for each image and root/annotations.json (polygons) for their instances."""
    root.mkdir(parents=True, exist_ok=True)
    names = sorted({name for _, _, items in images for name, _ in items})
    coco = {"images": [], "annotations": [],
            "categories": [{"id": k, "name": n} for k, n in enumerate(names, 1)]}
    for image_id, (file_name, pixels, items) in enumerate(images, 1):
        assert cv2.imwrite(str(root / file_name), pixels)
        h, w = pixels.shape[:2]
        coco["images"].append({"id": image_id, "file_name": file_name, "width": w, "height": h})
        for name, shape in items:
            coco["annotations"].append({
                "id": len(coco["annotations"]) + 1, "image_id": image_id, "category_id": names.index(name) + 1,
                "segmentation": [ring for part in shape.to_json() for ring in part],
                "bbox": list(geometry.bbox(shape)), "area": geometry.area(shape), "iscrowd": 0})
    (root / "annotations.json").write_text(json.dumps(coco))
    return root / "annotations.json"


def disk(cx: float, cy: float, r: float) -> Polygons:
    t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    return Polygons(((tuple(zip((cx + r * np.cos(t)).round(2).tolist(), (cy + r * np.sin(t)).round(2).tolist())),),))


def total_row(out: str) -> dict[str, str]:
    lines = out.splitlines()
    header = re.split(r"\s{2,}", lines[0].strip())
    row = next(line for line in lines if line.split()[:1] == ["all"])
    values = row.split()
    return dict(zip(header, values[:1] + [""] + values[1:]))  # the total row has no model


def test_flat_shapes_cost_a_box_each_and_the_noc_lines_come_before_the_ratio(tmp_path, capsys):
    gt = write_shapes_dataset(tmp_path / "data", 3)  # flat shapes on a plain background
    code, out, err = run(capsys, "simulate", gt, "--images", gt.parent / "images", "--assist", "grabcut",
                         "--no-model", "--project", tmp_path / "work")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:7] == ["images", "model", "instances", "accepted", "corrected", "assisted", "drawn"]
    total = total_row(out)
    assert (total["instances"], total["assisted"], total["drawn"], total["by hand"]) == ("11", "11", "0", "74")
    assert int(total["actions"]) < 2 * 11  # about one box per instance, against 74 vertices by hand
    assert [line.split(":")[0] for line in lines[-3:]] == ["NoC@85", "NoC@90", "ratio"]
    noc85, noc90 = (float(line.split()[1]) for line in lines[-3:-1])
    assert 1.0 <= noc85 <= noc90 < 2.0
    ratio = float(re.fullmatch(r"ratio: (\d+\.\d\d)", lines[-1]).group(1))
    assert ratio == pytest.approx(int(total["actions"]) / 74, abs=0.005) and ratio < 0.3
    assert "no model, every instance with grabcut" in err
    with ProjectStore.open(tmp_path / "work" / "simulation") as store:
        accepted = [i for image in store.images() for i in store.instances(image.id, (InstanceStatus.ACCEPTED,))]
        assert len(accepted) == 11
        assert all(i.provenance.kind is ProvenanceKind.ASSISTED and i.provenance.tool == "grabcut" for i in accepted)


def test_an_object_grabcut_cannot_get_also_pays_its_polygon(tmp_path, capsys):
    """A square with the very texture of the background around it (nothing to see) and a
    red disk: the disk is made with the box, the hidden square never reaches 0.85 in 20
    actions, so it costs those 20 and its 4 vertices by hand as well."""
    image = checker_scene()
    cv2.circle(image, (150, 100), 20, RED, -1, lineType=cv2.LINE_8)
    hidden = Polygons.rectangle(20, 20, 60, 60)
    gt = write_coco(tmp_path / "data", [("a.png", image, [("hidden", hidden), ("disk", disk(150, 100, 20))])])
    code, out, err = run(capsys, "simulate", gt, "--images", gt.parent, "--assist", "grabcut", "--no-model")
    assert code == 0, err
    total = total_row(out)
    assert (total["instances"], total["assisted"], total["drawn"]) == ("2", "1", "1")
    disk_actions = int(total["actions"]) - (20 + 4)
    assert 1 <= disk_actions <= 3
    assert int(total["by hand"]) == 4 + geometry.simplify(disk(150, 100, 20), 1.0).vertex_count
    noc85 = float(re.search(r"^NoC@85: (\S+)$", out, re.M).group(1))
    assert noc85 == pytest.approx((disk_actions + 20) / 2)  # the hidden square counts 20
    assert re.search(r"^NoC@90: \d+\.\d\d$", out, re.M)


def test_attempt_measures_past_0_85_but_charges_up_to_it_and_matches_the_whole_image_clicker():
    """The clicks run on the segmenter's crop; they are the clicks of the whole image (here
    the object touches the image border, which counts as border)."""
    image = checker_scene()
    truth = np.zeros(image.shape[:2], np.uint8)
    cv2.circle(truth, (40, 60), 40, 1, -1)  # a red disk touching the left edge ...
    image[truth > 0] = RED
    truth[50:75, 75:125] = 1  # ... and a part of it with the background's texture: clicks to make
    a = attempt("grabcut", image, truth, accept_iou=0.85, measure_iou=0.95, max_actions=20)
    # The same protocol on the whole image, straight from the library.
    segmenter, clicks = GrabCutSegmenter(), []
    pred = segmenter.start(image, box_of(truth)).full()
    ious = [iou(truth, pred)]
    while len(ious) < 20 and ious[-1] < 0.95:
        click = next_click(truth, pred, clicks)
        if click is None:
            break
        clicks.append(click)
        pred = segmenter.add_click(click.x + 0.5, click.y + 0.5, click.positive).full()
        ious.append(iou(truth, pred))
    assert a.ious == tuple(ious)
    assert len(a.ious) > a.noc(0.85)  # it clicked on past 0.85 ...
    assert a.charged == a.noc(0.85) < a.noc(0.95)  # ... and charged only up to it
    assert iou(truth, a.kept.full()) >= 0.85 and a.kept.full().shape == truth.shape


def test_assist_none_prints_what_it_printed_before(tmp_path, capsys):
    gt = write_shapes_dataset(tmp_path / "data", 3)
    base = ("simulate", gt, "--images", gt.parent / "images", "--start-with", "5", "--offline")
    for extra in ((), ("--assist", "none")):
        code, out, err = run(capsys, *base, *extra)
        assert code == 0, err
        assert out == BEFORE_ASSIST
    code, out, err = run(capsys, "simulate", gt, "--images", gt.parent / "images", "--no-model")
    assert code == 0, err
    assert out == BEFORE_ASSIST  # no model and no assist: everything by hand, the same figures


def test_no_model_imports_no_torch(tmp_path):
    gt = write_shapes_dataset(tmp_path / "data", 1)
    script = ("import sys; from labeler.cli import main; "
              f"code = main(['simulate', {str(gt)!r}, '--images', {str(gt.parent / 'images')!r}, "
              "'--assist', 'grabcut', '--no-model']); "
              "print('torch imported' if 'torch' in sys.modules else 'no torch'); sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "no torch"
    assert re.search(r"^ratio: \d\.\d\d$", proc.stdout, re.M)


@pytest.mark.parametrize("extra, named", [
    (["--no-model", "--model", "maskrcnn_tiny"], "--model"),
    (["--no-model", "--start-with", "3"], "--start-with"),
    (["--no-model", "--budget", "5"], "--budget"),
    (["--no-model", "--device", "cpu"], "--device"),
    (["--no-model", "--score-threshold", "0.3"], "--score-threshold"),
    (["--limit", "0"], "--limit"),
])
def test_options_that_do_not_go_together_get_one_line(tmp_path, capsys, extra, named):
    gt = write_shapes_dataset(tmp_path / "data", 1)
    code, out, err = run(capsys, "simulate", gt, "--images", gt.parent / "images", "--assist", "grabcut", *extra)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("labeler: error: ") and named in err


def test_assist_sam_drives_the_assist_model_through_the_same_protocol(tmp_path, capsys):
    """The tiny random SAM 2.1: the figures mean nothing, the mechanics are the real ones."""
    gt = write_shapes_dataset(tmp_path / "data", 2)
    code, out, err = run(capsys, "simulate", gt, "--images", gt.parent / "images", "--assist", "sam",
                         "--assist-model", "random:tiny", "--no-model", "--project", tmp_path / "work")
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines[-3:]] == ["NoC@85", "NoC@90", "ratio"]
    assert "assist model: random:tiny" in err and "every instance with sam" in err
    total = total_row(out)
    assert int(total["assisted"]) + int(total["drawn"]) == int(total["instances"]) > 0
    with ProjectStore.open(tmp_path / "work" / "simulation") as store:
        accepted = [i for image in store.images() for i in store.instances(image.id, (InstanceStatus.ACCEPTED,))]
    assert len(accepted) == int(total["instances"])
    assisted = [i for i in accepted if i.provenance.kind is ProvenanceKind.ASSISTED]
    assert len(assisted) == int(total["assisted"]) and all(i.provenance.tool == "sam" for i in assisted)


def test_assist_sam_without_its_weights_is_one_line(tmp_path, capsys, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    gt = write_shapes_dataset(tmp_path / "data", 1)
    code, out, err = run(capsys, "simulate", gt, "--images", gt.parent / "images", "--assist", "sam",
                         "--no-model", "--offline")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "model.safetensors" in err and "sam2.1-hiera-tiny" in err


def test_with_a_model_the_missed_instances_are_assisted_and_learned_from(tmp_path, capsys):
    gt = write_shapes_dataset(tmp_path / "data", 3)
    work = tmp_path / "work"
    code, out, err = run(capsys, "simulate", gt, "--images", gt.parent / "images", "--assist", "grabcut",
                         "--start-with", "1", "--retrain-every", "1", "--model", "maskrcnn_tiny", "--device", "cpu",
                         "--offline", "--budget", "1", "--batch", "1", "--score-threshold", "0.99",
                         "--project", work)
    assert code == 0, err
    assert "round v1:" in err and "what the model misses with grabcut" in err
    assert out.splitlines()[-1].startswith("ratio: ")
    assert out.splitlines()[-3].startswith("NoC@85: ")
    with ProjectStore.open(work / "simulation") as store:
        first = store.images()[0]
        made = store.instances(first.id, (InstanceStatus.ACCEPTED,))
        assert made and all(i.provenance.kind is ProvenanceKind.ASSISTED for i in made)
        assert all(i.status.value == "accepted" for i in store.images())


def test_simulate_with_grabcut_on_real_voc_images(shared_data, tmp_path, capsys):
    """labelme's COCO output of 3 VOC images, the first one only (2 people and a bottle)."""
    coco = shared_data / "labelme-examples" / "instance_segmentation" / "data_dataset_coco"
    code, out, err = run(capsys, "simulate", coco / "annotations.json", "--images", coco, "--assist", "grabcut",
                         "--no-model", "--limit", "1")
    assert code == 0, err
    total = total_row(out)
    assert total["instances"] == "3" and int(total["assisted"]) + int(total["drawn"]) == 3
    assert int(total["actions"]) < int(total["by hand"]) / 2  # real photos: fewer actions than the vertices
    assert [line.split(":")[0] for line in out.splitlines()[-3:]] == ["NoC@85", "NoC@90", "ratio"]


def test_images_the_ground_truth_names_but_that_are_missing_are_reported(tmp_path, capsys):
    gt = write_shapes_dataset(tmp_path / "data", 2)
    coco = json.loads(gt.read_text())
    coco["images"][1]["file_name"] = "images/gone.png"
    gt.write_text(json.dumps(coco))
    code, out, err = run(capsys, "simulate", gt, "--images", gt.parent, "--assist", "grabcut", "--no-model")
    assert code == 0, err
    assert "warning: image not found" in err and "gone.png" in err
    assert "simulating 1 images" in err
