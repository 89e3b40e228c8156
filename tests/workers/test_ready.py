"""What the worker says about its weights is enough for the window to tell the person which
file to get and where to put it (Model → About the model)."""

from __future__ import annotations

from pathlib import Path

import torch

from labeler.store import ProjectStore
from labeler.workers.suggest import Suggester

from .conftest import make_model_project, tiny_config


def test_ready_names_the_coco_file_the_model_looks_for(tmp_path, monkeypatch):
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))  # an empty cache: no weights anywhere
    try:
        project = make_model_project(tmp_path)
        with ProjectStore.open(project) as store:
            light = Suggester(store, tiny_config(project, model_name="maskrcnn_mobilenet_v3_large_fpn",
                                                 model_overrides={}))
            ready = light.ready()
            light.close()
            tiny = Suggester(store, tiny_config(project)).ready()
    finally:
        torch.hub.set_dir(old)
    name = "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth"
    assert ready.weights_source == "none"
    assert Path(ready.weights_file) == tmp_path / "hub" / "checkpoints" / name
    assert ready.weights_url == f"https://download.pytorch.org/models/{name}"
    assert name in ready.message and str(tmp_path / "hub" / "checkpoints") in ready.message
    assert (tiny.weights_file, tiny.weights_url) == ("", "")  # no COCO weights exist for it
