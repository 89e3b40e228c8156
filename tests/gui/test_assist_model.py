"""The assisted mask tool (M) with the assist model as a person uses it: the model's worker
starts with the window, encodes the image on screen and the next ones, and answers the
box, the clicks, Tab (its other candidates), Backspace, Enter and Esc. The tiny random
SAM 2.1 runs the real forward pass; without weights the tool says so and uses GrabCut."""

from __future__ import annotations

import numpy as np
import pytest

from labeler.gui.canvas.assist_runs import AssistRun, PromptRun
from labeler.ml.promptable import TINY_RANDOM
from labeler.workers.protocol import AssistConfig

from .conftest import make_project
from .test_window import SHIFT, K, stored


@pytest.fixture
def assisted(tmp_path, open_window, qtbot):
    def open_(**changes):
        settings = dict(model=TINY_RANDOM, device="cpu", allow_download=False, cache_dir=str(tmp_path / "cache"))
        settings.update(changes)
        project = make_project(tmp_path)
        window = open_window(project, assist=AssistConfig(str(project), **settings))
        qtbot.waitUntil(lambda: window.canvas.pixels() is not None)
        return window
    return open_


def test_box_clicks_tab_backspace_and_enter_with_the_model(assisted, person, qtbot):
    window = assisted()
    qtbot.waitUntil(lambda: window.canvas.assist_model is not None, timeout=120_000)
    assert window.assist.label.text() == f"Assist: {TINY_RANDOM}"
    screen = window.session.image.id
    following = window.browser.visible_ids()[1]
    qtbot.waitUntil(lambda: {screen, following} <= set(window.assist.encoded), timeout=60_000)  # encoded ahead

    me = person(window)
    me.key(K.Key_M)
    tool = window.canvas.tool
    me.drag([(60, 50), (200, 160)])
    assert isinstance(tool.run, PromptRun)
    qtbot.waitUntil(lambda: tool.mask is not None and not tool.working, timeout=30_000)
    assert not tool.run.waited  # the image had been encoded ahead: the decoder alone answered
    assert tool.run.candidates == 3 and window.tool_label.toolTip().startswith("Mask 1 of 3")
    first = tool.mask.full()
    me.key(K.Key_Tab)  # the next candidate
    qtbot.waitUntil(lambda: not tool.working)
    assert tool.run.choice == 1 and window.tool_label.toolTip().startswith("Mask 2 of 3")
    assert np.array_equal(tool.mask.full(), tool.run.choices[1][0].full())

    me.click(130, 100)  # a positive click: one mask from the box and the click
    qtbot.waitUntil(lambda: not tool.working, timeout=30_000)
    ((x, y, positive),) = tool.run.clicks
    assert positive and abs(x - 130) < 1.5 and abs(y - 100) < 1.5  # image pixels, as the model is told
    assert tool.run.candidates == 1
    me.click(70, 60, SHIFT)
    qtbot.waitUntil(lambda: not tool.working, timeout=30_000)
    assert [c[2] for c in tool.run.clicks] == [True, False]
    me.key(K.Key_Backspace)
    me.key(K.Key_Backspace)  # both clicks dropped: the box's answer again
    qtbot.waitUntil(lambda: not tool.working, timeout=30_000)
    assert tool.run.clicks == [] and np.array_equal(tool.mask.full(), first)

    assert tool.mask.area > 0
    me.key(K.Key_Return)
    qtbot.waitUntil(lambda: tool.run is None)
    (label,) = stored(window)[0]
    assert str(label.provenance) == "assisted sam"


def test_esc_drops_the_model_s_mask(assisted, person, qtbot):
    window = assisted()
    qtbot.waitUntil(lambda: window.canvas.assist_model is not None, timeout=120_000)
    me = person(window)
    me.key(K.Key_M)
    tool = window.canvas.tool
    me.drag([(60, 50), (200, 160)])
    qtbot.waitUntil(lambda: tool.mask is not None, timeout=30_000)
    me.key(K.Key_Escape)
    assert tool.run is None and stored(window)[0] == []


def test_without_weights_the_window_says_what_to_get_and_m_uses_grabcut(assisted, person, qtbot, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))  # the worker's cache: empty
    window = assisted(model=None)
    said = []
    window.session.message.connect(said.append)
    qtbot.waitUntil(lambda: any("huggingface.co/facebook/sam2.1-hiera-tiny" in s for s in said), timeout=120_000)
    assert window.assist.label.text() == "Assist: GrabCut"
    assert "model.safetensors" in window.assist.label.toolTip()
    me = person(window)
    me.key(K.Key_M)
    me.drag([(60, 50), (200, 160)])
    assert isinstance(window.canvas.tool.run, AssistRun)


def test_a_weights_folder_chosen_in_the_window_is_remembered_and_used(assisted, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    from labeler.gui import preferences
    from labeler.ml.promptable import PromptModel

    folder = tmp_path / "my-sam"
    tiny = PromptModel.load(TINY_RANDOM)
    tiny.model.save_pretrained(folder)
    tiny.processor.save_pretrained(folder)
    window = assisted(model=None, allow_download=False)
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: warned.append(args[2]))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(tmp_path))  # no model there
    window.actions_["assist_weights"].trigger()
    assert "model.safetensors" in warned[-1] and preferences.assist_model() is None
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(folder))
    window.actions_["assist_weights"].trigger()
    assert preferences.assist_model() == str(folder)
    qtbot.waitUntil(lambda: window.canvas.assist_model is not None, timeout=120_000)
    assert window.assist.label.text() == "Assist: my-sam"
