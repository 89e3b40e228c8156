"""The window used like a person uses it: keys and mouse on the canvas, then the store is
checked (every edit is in the database as soon as it is made)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from labeler.core.entities import ImageStatus, Instance, MaskRLE, Polygons, Provenance
from labeler.geometry import area
from labeler.store import ProjectStore

K = Qt.Key
CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier


def stored(window):
    """What the database holds for the image on screen (read through a second connection)."""
    with ProjectStore.open(window.store.project_dir) as other:
        return other.instances(window.session.image.id), other.get_image(window.session.image.id)


def vertices(instance):
    return sorted(instance.shape.parts[0][0])


def close_to(a, b, tol=1.5):
    return all(abs(p - q) <= tol for u, v in zip(a, b) for p, q in zip(u, v))


def test_draw_polygon_by_clicks_then_undo_and_redo(project, open_window, person):
    window = open_window(project)
    me = person(window)
    me.key(K.Key_P)
    assert window.canvas.tool.name == "polygon"
    for x, y in [(50, 50), (150, 60), (140, 160), (60, 150)]:
        me.click(x, y)
    me.click(51, 51)  # the first vertex closes it
    instances, image = stored(window)
    assert len(instances) == 1
    assert close_to(vertices(instances[0]), sorted([(50, 50), (150, 60), (140, 160), (60, 150)]))
    assert instances[0].provenance == Provenance.manual()
    assert image.status == ImageStatus.IN_REVIEW  # the first edit starts the review
    assert window.session.selection == (instances[0].id,)

    me.key(K.Key_Z, CTRL)
    instances, image = stored(window)
    assert instances == [] and image.status == ImageStatus.UNLABELED
    me.key(K.Key_Z, CTRL | SHIFT)
    assert len(stored(window)[0]) == 1
    me.key(K.Key_Z, CTRL)
    me.key(K.Key_Y, CTRL)
    assert len(stored(window)[0]) == 1


def test_polygon_keys_backspace_enter_escape_and_freehand(project, open_window, person):
    window = open_window(project)
    me = person(window)
    me.key(K.Key_P)
    for x, y in [(20, 20), (120, 20), (300, 250), (120, 120)]:
        me.click(x, y)
    me.key(K.Key_Backspace)  # (120, 120) goes
    me.key(K.Key_Return)
    (triangle,) = stored(window)[0]
    assert close_to(vertices(triangle), sorted([(20, 20), (120, 20), (300, 250)]))

    me.click(200, 20)
    me.click(250, 20)
    me.key(K.Key_Escape)  # cancelled: nothing stored
    assert len(stored(window)[0]) == 1

    arc = [(150 + 60 * t / 30, 150 + 40 * (t % 2)) for t in range(31)]
    me.drag(arc)  # dragging adds vertices freehand
    me.click(150, 250)
    me.key(K.Key_Enter)
    instances = stored(window)[0]
    assert len(instances) == 2 and instances[1].shape.vertex_count > 6


def test_rectangle_tool(project, open_window, person):
    window = open_window(project)
    me = person(window)
    me.key(K.Key_R)
    me.drag([(30, 40), (100, 100), (130, 90)])
    (rect,) = stored(window)[0]
    assert close_to(vertices(rect), sorted([(30, 40), (130, 40), (130, 90), (30, 90)]))
    me.drag([(10, 10), (10.2, 10.1)])  # a click is not a rectangle
    assert len(stored(window)[0]) == 1


def add_square(project, x0=100, y0=100, x1=200, y1=200, image_index=0, category=1):
    with ProjectStore.open(project) as store:
        image = store.images()[image_index]
        return store.put_instance(Instance(None, image.id, category, Polygons.rectangle(x0, y0, x1, y1)))


def test_drag_vertex_insert_on_edge_delete_vertex_move_shape(project, open_window, person):
    square = add_square(project)
    window = open_window(project)
    me = person(window)
    me.click(150, 150)  # select
    assert window.session.selection == (square.id,)
    me.drag([(200, 200), (220, 210), (240, 230)])  # a vertex
    (inst,) = stored(window)[0]
    assert (240.0, 230.0) in [tuple(round(c) for c in v) for v in inst.shape.parts[0][0]]
    assert close_to(sorted(inst.shape.parts[0][0]), sorted([(100, 100), (200, 100), (240, 230), (100, 200)]))
    me.key(K.Key_Z, CTRL)
    assert stored(window)[0][0].shape == square.shape
    me.key(K.Key_Z, CTRL | SHIFT)
    assert stored(window)[0][0].shape != square.shape
    me.key(K.Key_Z, CTRL)

    me.drag([(150, 100), (150, 80)])  # press on an edge inserts a vertex there
    inst = stored(window)[0][0]
    assert inst.shape.vertex_count == 5 and (150.0, 80.0) in [tuple(map(round, v)) for v in inst.shape.parts[0][0]]

    me.click(150, 80, SHIFT)  # shift-click deletes it
    assert stored(window)[0][0].shape.vertex_count == 4
    me.hover(100, 200)
    me.key(K.Key_Delete)  # Del removes the highlighted vertex
    assert stored(window)[0][0].shape.vertex_count == 3

    before = stored(window)[0][0].shape.parts[0][0]
    me.drag([(170, 130), (180, 135), (190, 140)])  # inside: the shape moves
    after = stored(window)[0][0].shape.parts[0][0]
    assert close_to([(x + 20, y + 10) for x, y in before], after)
    for _ in range(3):
        me.key(K.Key_Z, CTRL)
    assert stored(window)[0][0].shape.vertex_count == 5


def test_edit_hole_vertices(project, open_window, person):
    ring = ((100.0, 100.0), (300.0, 100.0), (300.0, 250.0), (100.0, 250.0))
    hole = ((150.0, 150.0), (250.0, 150.0), (200.0, 200.0))
    with ProjectStore.open(project) as store:
        image = store.images()[0]
        store.put_instance(Instance(None, image.id, 1, Polygons(((ring, hole),))))
    window = open_window(project)
    me = person(window)
    me.click(120, 120)
    me.drag([(200, 200), (200, 220)])
    shape = stored(window)[0][0].shape
    assert shape.has_holes and (200, 220) in [tuple(map(round, v)) for v in shape.parts[0][1]]


def test_brush_paints_and_eraser_erases_one_step_each(project, open_window, person):
    window = open_window(project)
    me = person(window)
    window.brush_slider.setValue(10)
    me.key(K.Key_B)
    me.drag([(100, 100), (150, 100), (200, 100)])
    (mask,) = stored(window)[0]
    assert isinstance(mask.shape, MaskRLE)
    painted = area(mask.shape)
    assert painted == pytest.approx(100 * 20 + 3.1416 * 100, rel=0.1)  # a 100 px stroke, radius 10

    me.key(K.Key_BracketRight)  # bigger brush for the second stroke
    assert window.canvas.brush_radius > 10
    me.drag([(150, 80), (150, 130)])  # adds to the selected instance
    grown = stored(window)[0]
    assert len(grown) == 1 and area(grown[0].shape) > painted

    me.key(K.Key_E)
    me.drag([(100, 100), (130, 100)])
    erased = stored(window)[0][0]
    assert area(erased.shape) < area(grown[0].shape)

    me.key(K.Key_Z, CTRL)  # undo the erase (one stroke, one step)
    assert area(stored(window)[0][0].shape) == area(grown[0].shape)
    me.key(K.Key_Z, CTRL)  # undo the second brush stroke
    assert area(stored(window)[0][0].shape) == painted
    me.key(K.Key_Z, CTRL | SHIFT)
    me.key(K.Key_Z, CTRL | SHIFT)
    assert area(stored(window)[0][0].shape) == area(erased.shape)


def test_brush_on_a_selected_polygon_keeps_it_a_polygon(project, open_window, person):
    square = add_square(project)
    window = open_window(project)
    me = person(window)
    me.click(150, 150)
    me.key(K.Key_B)
    me.drag([(200, 150), (240, 150)])
    inst = stored(window)[0][0]
    assert isinstance(inst.shape, Polygons) and area(inst.shape) > area(square.shape)


def test_switch_images_with_a_and_d_close_reopen_and_find_every_edit(project, open_window, person):
    window = open_window(project)
    me = person(window)
    first = window.session.image.id
    me.key(K.Key_R)
    me.drag([(10, 10), (60, 60)])
    me.key(K.Key_D)
    second = window.session.image.id
    assert second != first
    me.drag([(20, 20), (90, 70)])
    me.key(K.Key_A)
    assert window.session.image.id == first
    assert len(window.session.instances) == 1
    me.key(K.Key_A)  # at the first image: stays, says so
    assert window.session.image.id == first
    window.close()

    again = open_window(project)
    assert again.session.image.id == first  # the last image is remembered
    with ProjectStore.open(project) as store:
        assert len(store.instances(first)) == 1 and len(store.instances(second)) == 1


def test_accept_image_goes_to_next_unreviewed(project, open_window, person):
    window = open_window(project)
    me = person(window)
    ids = window.browser.visible_ids()
    assert window.session.image.id == ids[0]
    me.key(K.Key_Return, CTRL)
    with ProjectStore.open(project) as store:
        assert store.get_image(ids[0]).status == ImageStatus.ACCEPTED
    assert window.session.image.id == ids[1]
    me.key(K.Key_A)
    me.key(K.Key_Z, CTRL)  # marking accepted is undoable too
    with ProjectStore.open(project) as store:
        assert store.get_image(ids[0]).status == ImageStatus.UNLABELED


def test_number_keys_pick_class_and_relabel_selection(project, open_window, person):
    square = add_square(project, category=1)
    window = open_window(project)
    me = person(window)
    me.click(150, 150)
    me.key(K.Key_2)
    inst = stored(window)[0][0]
    assert inst.category_id == 2 and window.session.current_category_id == 2
    me.key(K.Key_Z, CTRL)
    assert stored(window)[0][0].category_id == square.category_id
    me.key(K.Key_Escape)  # nothing selected: 1 only picks the class for new shapes
    me.key(K.Key_1)
    me.key(K.Key_R)
    me.drag([(10, 10), (40, 40)])
    assert {i.category_id for i in stored(window)[0]} == {1}
    me.key(K.Key_9)  # no class 9: a message, nothing changes
    assert window.session.current_category_id == 1


def test_instance_list_and_canvas_select_each_other_and_hide(project, open_window, person):
    a = add_square(project, 10, 10, 60, 60)
    b = add_square(project, 100, 100, 200, 200)
    window = open_window(project)
    me = person(window)
    table = window.instance_list
    assert table.model().rowCount() == 2
    me.click(150, 150)
    assert [i.row() for i in table.selectionModel().selectedRows()] == [1]
    table.selectRow(0)
    assert window.session.selection == (a.id,)
    model = table.model()
    model.setData(model.index(1, 0), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert b.id in window.session.hidden
    assert window.canvas.hit(window.canvas.mapToScene(me.at(150, 150))) is None  # hidden: not hit
    me.key(K.Key_H)
    assert window.session.visible_instances() == []
    me.key(K.Key_H)
    assert [i.id for i in window.session.visible_instances()] == [a.id]


def test_delete_instance_and_undo(project, open_window, person):
    square = add_square(project)
    window = open_window(project)
    me = person(window)
    me.click(150, 150)
    me.hover(150, 150)  # no vertex under the cursor: Del deletes the instance
    me.key(K.Key_Delete)
    assert stored(window)[0] == []
    me.key(K.Key_Z, CTRL)
    assert stored(window)[0][0].id == square.id


def test_missing_image_shows_an_error_in_the_window(project, open_window, qtbot):
    with ProjectStore.open(project) as store:
        path = store.image_path(store.images()[0])
    path.unlink()
    window = open_window(project)
    qtbot.waitUntil(lambda: window.canvas.notice.text() != "")
    assert "img0.png" in window.canvas.notice.text()
    assert "img0.png" in window.statusBar().currentMessage()


def test_layout_persists(project, open_window):
    window = open_window(project)
    window.resize(900, 640)
    window.instance_dock.hide()
    window.brush_slider.setValue(33)
    window.close()
    again = open_window(project)
    assert again.brush_slider.value() == 33
    assert not again.instance_dock.isVisible()


def test_shortcut_sheet_lists_every_action_key(project, open_window):
    from labeler.gui.actions import ACTIONS
    from labeler.gui.widgets.shortcut_sheet import ShortcutSheet

    window = open_window(project)
    sheet = ShortcutSheet(window)
    keys = {sheet.table.item(r, 0).text() for r in range(sheet.table.rowCount())}
    for spec in ACTIONS:
        if spec.keys:  # menu-only actions have none
            assert " / ".join(spec.keys) in keys
    assert window.actions_["shortcuts"].shortcuts()[0].toString() == "F1"
