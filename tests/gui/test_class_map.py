"""Model > Which COCO class each class takes: the window saves only a map the store accepts,
and a refused one is said and changes nothing (the model worker is not restarted)."""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog, QMessageBox

from labeler.store.proposals import class_map


def test_the_window_refuses_a_bad_class_map_and_keeps_the_old_one(project, open_window, monkeypatch):
    window = open_window(project)
    asked, warned, restarts = [], [], []
    answer = ["cat=unicorn"]

    def get_text(*args, **kwargs):
        asked.append(kwargs["text"])
        return answer[0], True

    monkeypatch.setattr(QInputDialog, "getText", get_text)
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *rest: warned.append(text))
    monkeypatch.setattr(window.models, "restart_model", lambda *args: restarts.append(args))

    window.actions_["class_map"].trigger()
    assert asked == ["cat=cat, dog=dog"]  # what COCO weights would use now
    assert len(warned) == 1 and "unicorn" in warned[0] and "not a COCO class" in warned[0]
    assert class_map(window.store) == {} and restarts == []

    answer[0] = "cat=dog, dog="
    window.actions_["class_map"].trigger()
    assert class_map(window.store) == {"cat": "dog", "dog": ""} and len(restarts) == 1
    answer[0] = "bird=cat"
    window.actions_["class_map"].trigger()
    assert asked[-1] == "cat=dog, dog="
    assert "bird" in warned[-1] and class_map(window.store) == {"cat": "dog", "dog": ""}
    assert len(restarts) == 1
