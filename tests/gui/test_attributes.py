"""Attributes and tags in the window: Alt+n and the form set them, undo restores them, and
the store holds what the panel shows."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QInputDialog, QLineEdit

from labeler.core import AttributeKind, AttributeSpec, Instance, Polygons
from labeler.store import ProjectStore

K = Qt.Key
ALT, CTRL = Qt.KeyboardModifier.AltModifier, Qt.KeyboardModifier.ControlModifier
SPECS = [AttributeSpec("occluded", AttributeKind.BOOLEAN), AttributeSpec("colour", "choice", ("red", "green")),
         AttributeSpec("truncated", AttributeKind.BOOLEAN), AttributeSpec("note", "text")]


def stored(window):
    with ProjectStore.open(window.store.project_dir) as other:
        return [i.attributes for i in other.instances(window.session.image.id)]


def with_two_cats(project):
    with ProjectStore.open(project) as store:
        cat = store.category_by_name("cat")
        store.set_attribute_specs(cat.id, SPECS)
        image = store.images()[0]
        for k in (0, 100):
            store.put_instance(Instance(None, image.id, cat.id, Polygons.rectangle(10 + k, 10, 60 + k, 60)))
    return project


def test_alt_keys_toggle_the_booleans_of_the_selection_and_undo(project, open_window, person):
    window = open_window(with_two_cats(project))
    me = person(window)
    window.session.select(list(window.session.instances))
    me.key(K.Key_1, ALT)
    assert stored(window) == [{"occluded": True}] * 2
    me.key(K.Key_2, ALT)  # the second boolean is "truncated", not the choice between them
    assert stored(window) == [{"occluded": True, "truncated": True}] * 2
    me.key(K.Key_1, ALT)
    assert stored(window) == [{"occluded": False, "truncated": True}] * 2
    me.key(K.Key_Z, CTRL)
    me.key(K.Key_Z, CTRL)
    assert stored(window) == [{"occluded": True}] * 2
    me.key(K.Key_3, ALT)
    assert "no boolean attribute 3" in window.statusBar().currentMessage()
    assert stored(window) == [{"occluded": True}] * 2


def test_the_form_shows_and_sets_attributes_through_commands(project, open_window):
    window = open_window(with_two_cats(project))
    first = next(iter(window.session.instances))
    window.session.select([first])
    form = window.instance_panel.attributes
    assert list(form.fields) == ["occluded", "colour", "truncated", "note"]
    assert isinstance(form.fields["occluded"], QCheckBox) and not form.fields["occluded"].isChecked()
    form.fields["colour"].setCurrentText("green")  # type: ignore[attr-defined]
    line = form.fields["note"]
    assert isinstance(line, QLineEdit)
    line.setText("behind a car")
    line.editingFinished.emit()
    assert stored(window)[0] == {"colour": "green", "note": "behind a car"}
    assert isinstance(form.fields["colour"], QComboBox) and form.fields["colour"].currentText() == "green"
    form.fields["occluded"].setChecked(True)  # type: ignore[attr-defined]
    assert stored(window)[0] == {"colour": "green", "note": "behind a car", "occluded": True}
    window.session.undo()
    window.session.undo()
    assert stored(window)[0] == {"colour": "green"}
    assert form.fields["note"].text() == ""  # type: ignore[attr-defined]
    assert stored(window)[1] == {}


def test_image_tags_by_the_dialog_and_undo(project, open_window, person, monkeypatch):
    window = open_window(project)
    me = person(window)
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("night, blurry", True)))
    me.key(K.Key_T)
    image_id = window.session.image.id
    with ProjectStore.open(window.store.project_dir) as other:
        assert other.image_tags(image_id) == ("blurry", "night")
    assert "blurry, night" in window.instance_panel.attributes.tags.text()
    window.session.undo()
    with ProjectStore.open(window.store.project_dir) as other:
        assert other.image_tags(image_id) == ()


def test_defining_a_class_attribute_from_the_dialog(project, open_window, monkeypatch):
    from labeler.gui.widgets import attribute_editor

    window = open_window(project)

    def accept(dialog):
        dialog.add_row("occluded", "boolean", "")
        dialog.add_row("colour", "choice", "red, green")
        return attribute_editor.QDialog.DialogCode.Accepted

    monkeypatch.setattr(attribute_editor.SpecDialog, "exec", accept)
    window.actions_["class_attributes"].trigger()
    cat = window.session.current_category()
    assert window.store.attribute_specs(cat.id) == (SPECS[0], SPECS[1])
    assert window.session.attribute_specs(cat.id) == (SPECS[0], SPECS[1])
