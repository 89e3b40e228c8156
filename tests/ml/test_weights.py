"""Where weights come from: COCO class matching, head re-mapping, a fake torchvision cache,
checkpoints, and files that are broken or of another architecture."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torchvision
from torchvision.models.detection import FasterRCNN_MobileNet_V3_Large_FPN_Weights

from labeler.ml import (
    MODELS, WeightsError, build_model, coco_class_map, load_model, read_checkpoint, remap_heads,
    save_checkpoint,
)
from labeler.ml.weights import coco_cache_path, coco_categories

HEADS = ("roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.cls_score.bias",
         "roi_heads.mask_predictor.mask_fcn_logits.weight")
BOX_DELTAS = "roi_heads.box_predictor.bbox_pred.weight"
COCO = coco_categories()


def tiny(num_classes: int, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("maskrcnn_tiny", num_classes)


def rows(state: dict, key: str, label: int) -> torch.Tensor:
    per = 4 if key == BOX_DELTAS else 1
    return state[key][label * per:(label + 1) * per]


@pytest.fixture
def hub(tmp_path: Path):
    """An empty torchvision cache of our own, so the machine's real cache plays no part."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub" / "checkpoints"
    torch.hub.set_dir(old)


@dataclasses.dataclass(frozen=True)
class FakeWeights:
    url: str
    meta: dict


@pytest.fixture
def tiny_coco(monkeypatch, hub) -> str:
    """The tiny architecture registered with COCO weights of its own (url + categories)."""
    fake = FakeWeights("https://example.invalid/models/tiny_coco-0123abcd.pth", {"categories": list(COCO)})
    spec = dataclasses.replace(MODELS["maskrcnn_tiny"], name="tiny_coco", coco_weights=fake,
                               coco_has_mask_head=True)
    monkeypatch.setitem(MODELS, "tiny_coco", spec)
    return "tiny_coco"


def test_coco_class_map_matches_names_and_takes_overrides():
    names = ["Cat", "coin", "traffic_light", "cup", "N/A"]
    assert coco_class_map(names) == {"Cat": "cat", "traffic_light": "traffic light", "cup": "cup"}
    mapped = coco_class_map(names, {"coin": "clock", "cup": "", "Cat": "DOG"})
    assert mapped == {"Cat": "dog", "coin": "clock", "traffic_light": "traffic light"}
    with pytest.raises(ValueError, match="unicorn"):
        coco_class_map(names, {"coin": "unicorn"})
    with pytest.raises(ValueError, match="N/A"):
        coco_class_map(names, {"coin": "N/A"})
    with pytest.raises(ValueError, match="dragon"):
        coco_class_map(names, {"dragon": "cat"})


def test_remap_heads_copies_mapped_rows_and_keeps_fresh_ones():
    src_names, dst_names = ["a", "b", "c", "d"], ["c", "x", "a"]
    source = tiny(5, seed=1).state_dict()
    fresh_model = tiny(4, seed=2)
    fresh = {k: v.clone() for k, v in fresh_model.state_dict().items()}
    out = remap_heads(source, src_names, dst_names, {"c": "c", "a": "a"}, fresh_model)
    for key in HEADS + (BOX_DELTAS,):
        assert out[key].shape == fresh[key].shape
        assert torch.equal(rows(out, key, 0), rows(source, key, 0))  # background
        assert torch.equal(rows(out, key, 1), rows(source, key, 3))  # c
        assert torch.equal(rows(out, key, 2), rows(fresh, key, 2))  # x: unmapped, fresh
        assert torch.equal(rows(out, key, 3), rows(source, key, 1))  # a
    key = "backbone.fpn.inner_blocks.0.0.weight"
    assert torch.equal(out[key], source[key])
    with pytest.raises(ValueError, match="classes"):
        remap_heads(source, ["a", "b"], dst_names, {}, fresh_model)
    with pytest.raises(ValueError, match="'z'"):
        remap_heads(source, src_names, dst_names, {"x": "z"}, fresh_model)


def test_coco_weights_from_the_torchvision_cache(tiny_coco, hub):
    coco = tiny(len(COCO), seed=3).state_dict()
    hub.mkdir(parents=True)
    torch.save(coco, hub / "tiny_coco-0123abcd.pth")
    assert coco_cache_path(MODELS[tiny_coco]) == hub / "tiny_coco-0123abcd.pth"
    torch.manual_seed(7)
    loaded = load_model(tiny_coco, ["coin", "cup", "cat"], allow_download=False)
    torch.manual_seed(7)
    reference = build_model(tiny_coco, 4).state_dict()  # the fresh model load_model built
    assert loaded.source == "coco"
    assert loaded.class_map == {"cup": "cup", "cat": "cat"}
    assert loaded.message == ("COCO-pretrained tiny_coco (torchvision cache); 2 of 3 classes "
                              "mapped: coin -> (none), cup -> cup, cat -> cat")
    assert not loaded.model.training
    state = loaded.model.state_dict()
    for key in HEADS + (BOX_DELTAS,):
        assert torch.equal(rows(state, key, 0), rows(coco, key, 0))
        assert torch.equal(rows(state, key, 1), rows(reference, key, 1))  # coin: fresh
        assert torch.equal(rows(state, key, 2), rows(coco, key, COCO.index("cup")))
        assert torch.equal(rows(state, key, 3), rows(coco, key, COCO.index("cat")))
    for key in ("backbone.body.0.0.weight", "rpn.head.conv.0.0.weight", "roi_heads.box_head.fc6.weight"):
        assert torch.equal(state[key], coco[key])


def test_light_model_takes_torchvision_box_only_coco_weights(hub):
    # torchvision's fasterrcnn_mobilenet_v3_large_fpn, as its COCO file holds it: frozen
    # batch norm (no num_batches_tracked) and no mask branch.
    torch.manual_seed(0)
    faster = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_fpn(
        weights=None, weights_backbone=None, num_classes=len(COCO))
    coco = {k: v for k, v in faster.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = hub / Path(FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1.url).name
    hub.mkdir(parents=True)
    torch.save(coco, path)
    loaded = load_model("maskrcnn_mobilenet_v3_large_fpn", ["person", "coin"], allow_download=False)
    assert loaded.source == "coco" and loaded.class_map == {"person": "person"}
    assert "mask head starts untrained" in loaded.message
    state = loaded.model.state_dict()
    for key in ("backbone.body.4.block.0.1.running_var", "rpn.head.cls_logits.weight",
                "roi_heads.box_head.fc7.weight"):
        assert torch.equal(state[key], coco[key])
    assert torch.equal(rows(state, HEADS[0], 1), rows(coco, HEADS[0], COCO.index("person")))


def test_no_weights_anywhere_says_so(tiny_coco):
    loaded = load_model(tiny_coco, ["a", "b"], allow_download=False)
    assert loaded.source == "none" and loaded.class_map == {}
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    assert loaded.message == ("No pretrained weights found: the model starts untrained and "
                              "learns from the labels you accept. To start from COCO weights instead, put "
                              f"tiny_coco-0123abcd.pth in {folder} "
                              "(from https://example.invalid/models/tiny_coco-0123abcd.pth).")
    assert load_model("maskrcnn_tiny", ["a"]).source == "none"  # no COCO weights for tiny


def test_damaged_cache_file_is_named(tiny_coco, hub):
    hub.mkdir(parents=True)
    (hub / "tiny_coco-0123abcd.pth").write_bytes(b"half a download")
    with pytest.raises(WeightsError, match="tiny_coco-0123abcd.pth"):
        load_model(tiny_coco, ["a"], allow_download=False)


def test_checkpoint_round_trip(tmp_path):
    model = tiny(3, seed=4)
    path = tmp_path / "ckpt" / "model.pt"
    save_checkpoint(path, model, "maskrcnn_tiny", ["a", "b"], model_version=3, metrics={"ap": 0.5})
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp file left
    ckpt = read_checkpoint(path)
    assert ckpt["format"] == "labeler-checkpoint-1" and ckpt["class_names"] == ["a", "b"]
    assert ckpt["config"] == model.labeler_config
    loaded = load_model("maskrcnn_tiny", ["a", "b"], checkpoint=path)
    assert loaded.source == "checkpoint" and loaded.extra == {"model_version": 3, "metrics": {"ap": 0.5}}
    assert "model.pt" in loaded.message
    theirs, ours = model.state_dict(), loaded.model.state_dict()
    assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in theirs)
    as_file = load_model("maskrcnn_tiny", ["a", "b"], weights=path)
    assert as_file.source == "file"


def test_checkpoint_heads_follow_class_names(tmp_path):
    model = tiny(3, seed=5)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, "maskrcnn_tiny", ["a", "b"])
    torch.manual_seed(9)
    loaded = load_model("maskrcnn_tiny", ["b", "c"], checkpoint=path)
    torch.manual_seed(9)
    fresh = build_model("maskrcnn_tiny", 3).state_dict()
    saved, state = model.state_dict(), loaded.model.state_dict()
    for key in HEADS + (BOX_DELTAS,):
        assert torch.equal(rows(state, key, 0), rows(saved, key, 0))
        assert torch.equal(rows(state, key, 1), rows(saved, key, 2))  # b
        assert torch.equal(rows(state, key, 2), rows(fresh, key, 2))  # c: new
    assert "new and untrained: c" in loaded.message and "dropped: a" in loaded.message


def test_coco_state_dict_as_a_named_file(tmp_path):
    coco = tiny(len(COCO), seed=6).state_dict()
    path = tmp_path / "coco.pth"
    torch.save(coco, path)
    loaded = load_model("maskrcnn_tiny", ["dog", "coin"], weights=path, class_map={"coin": "clock"})
    assert loaded.source == "file" and loaded.class_map == {"dog": "dog", "coin": "clock"}
    state = loaded.model.state_dict()
    assert torch.equal(rows(state, HEADS[0], 2), rows(coco, HEADS[0], COCO.index("clock")))


def test_broken_files_raise_weights_error_naming_them(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"definitely not torch")
    missing = tmp_path / "missing.pt"
    classifier = tmp_path / "classifier.pt"  # another architecture altogether
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), classifier)
    for path in (corrupt, missing, classifier):
        with pytest.raises(WeightsError, match=str(path.name)):
            load_model("maskrcnn_tiny", ["a"], weights=path)
    with pytest.raises(WeightsError, match="corrupt.pt"):
        load_model("maskrcnn_tiny", ["a"], checkpoint=corrupt)
    unsafe = tmp_path / "unsafe.pt"  # weights_only refuses arbitrary objects
    torch.save({"format": "labeler-checkpoint-1", "path": Path("x")}, unsafe)
    with pytest.raises(WeightsError, match="unsafe.pt"):
        read_checkpoint(unsafe)


def test_checkpoint_of_another_shape_or_model_is_refused(tmp_path):
    model = tiny(3)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, "maskrcnn_tiny", ["a", "b"])
    ckpt = read_checkpoint(path)
    ckpt["model"]["backbone.fpn.layer_blocks.0.0.weight"] = torch.zeros(3, 3)
    torch.save(ckpt, path)
    with pytest.raises(WeightsError, match="model.pt.*in the file"):
        load_model("maskrcnn_tiny", ["a", "b"], checkpoint=path)
    del ckpt["model"]["backbone.fpn.layer_blocks.0.0.weight"]
    torch.save(ckpt, path)
    with pytest.raises(WeightsError, match="model.pt.*missing"):
        load_model("maskrcnn_tiny", ["a", "b"], checkpoint=path)
    with pytest.raises(WeightsError, match="maskrcnn_tiny, not of maskrcnn_mobilenet"):
        load_model("maskrcnn_mobilenet_v3_large_fpn", ["a", "b"], checkpoint=path)


def test_save_checkpoint_refuses_what_cannot_be_read_back(tmp_path):
    model = tiny(3)
    with pytest.raises(TypeError, match="note"):
        save_checkpoint(tmp_path / "m.pt", model, "maskrcnn_tiny", ["a", "b"], note=object())
    with pytest.raises(ValueError, match="3 class names"):
        save_checkpoint(tmp_path / "m.pt", model, "maskrcnn_tiny", ["a", "b", "c"])
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_write_killed_half_way_leaves_the_old_file(tmp_path):
    """SIGKILL in the middle of torch.save: the old checkpoint is still there and loads; the
    next save removes the dead writer's temporary file."""
    import subprocess
    import sys

    path = tmp_path / "models" / "v1.pt"
    save_checkpoint(path, tiny(3, seed=1), "maskrcnn_tiny", ["a", "b"], note="old")
    script = (
        "import os, signal, sys, torch\n"
        "from labeler.ml import build_model, save_checkpoint\n"
        "def half(obj, f, *args, **kwargs):\n"
        "    f.write(b'PK' * 1000); f.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
        "torch.save = half\n"
        "save_checkpoint(sys.argv[1], build_model('maskrcnn_tiny', 3), 'maskrcnn_tiny', ['a', 'b'], note='new')\n")
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True)
    assert done.returncode == -9, done.stderr
    leftovers = [p for p in path.parent.iterdir() if p != path]
    assert len(leftovers) == 1 and leftovers[0].stat().st_size == 2000  # it did write half a file
    assert read_checkpoint(path)["note"] == "old"
    assert load_model("maskrcnn_tiny", ["a", "b"], checkpoint=path).source == "checkpoint"
    save_checkpoint(path, tiny(3, seed=2), "maskrcnn_tiny", ["a", "b"], note="newer")
    assert [p.name for p in path.parent.iterdir()] == ["v1.pt"]
    assert read_checkpoint(path)["note"] == "newer"


def test_no_model_named_takes_the_checkpoints_model(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(path, tiny(3), "maskrcnn_tiny", ["a", "b"])
    loaded = load_model(None, ["a", "b"], checkpoint=path)
    assert (loaded.model_name, loaded.spec, loaded.source) == ("maskrcnn_tiny", MODELS["maskrcnn_tiny"], "checkpoint")
