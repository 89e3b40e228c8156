"""The COCO class map: checked before it is saved, kept by category id (so a renamed class
keeps its entry), and an older project's name-keyed map converted when it is opened."""

from __future__ import annotations

import json

import pytest

from labeler.core.coco_classes import match_coco_classes
from labeler.core.entities import Category
from labeler.core.errors import UserError
from labeler.store import DB_NAME, SCHEMA_VERSION, ProjectStore, project_store
from labeler.store.meta import MetaKey, get_meta, set_meta
from labeler.store.proposals import class_map, parse_class_map, save_class_map


def test_a_renamed_class_keeps_its_entry(tmp_path, image_root):
    with ProjectStore.create(tmp_path / "p", image_root, ["coin", "mug"]) as store:
        assert save_class_map(store, parse_class_map("coin=clock, mug=")) == {"coin": "clock"}
        coin = store.category_by_name("coin")
        store.update_category(Category(coin.id, "penny", coin.color))
        assert class_map(store) == {"penny": "clock", "mug": ""}
        names = [c.name for c in store.categories()]
        assert match_coco_classes(names, class_map(store)) == {"penny": "clock"}  # nothing raises
    with ProjectStore.open(tmp_path / "p") as store:
        assert class_map(store) == {"penny": "clock", "mug": ""}


def test_the_map_is_saved_by_id_with_the_coco_names_as_coco_spells_them(store):
    used = save_class_map(store, {"cat": "", "dog": "CAT"})
    assert used == {"dog": "cat"}
    ids = {c.name: c.id for c in store.categories()}
    assert json.loads(get_meta(store.db, MetaKey.CLASS_MAP)) == {str(ids["cat"]): "", str(ids["dog"]): "cat"}


@pytest.mark.parametrize("text, named", [("cat=unicorn", "unicorn"), ("bird=cat", "bird"),
                                         ("cat=N/A", "N/A"), ("cat", "CLASS=COCO_CLASS")])
def test_a_bad_map_is_one_line_naming_the_entry_and_the_old_map_stays(store, text, named):
    save_class_map(store, {"cat": "dog"})
    before = get_meta(store.db, MetaKey.CLASS_MAP)
    with pytest.raises(UserError, match=named) as caught:
        save_class_map(store, parse_class_map(text))
    assert "\n" not in str(caught.value)
    assert get_meta(store.db, MetaKey.CLASS_MAP) == before
    assert class_map(store) == {"cat": "dog"}


def test_an_old_project_with_a_map_by_name_is_converted_when_opened(tmp_path, image_root, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(project_store, "MIGRATIONS", project_store.MIGRATIONS[:4])
        m.setattr(project_store, "SCHEMA_VERSION", 4)
        with ProjectStore.create(tmp_path / "old", image_root, ["coin", "mug", "toy"]) as old:
            with old.transaction():  # as labeler up to schema 4 wrote it; "bowl" was renamed since,
                # and the window saved "toy=unicorn" unchecked
                set_meta(old.db, MetaKey.CLASS_MAP, json.dumps({"coin": "clock", "mug": "", "bowl": "cup",
                                                                "toy": "unicorn"}))
    with ProjectStore.open(tmp_path / "old") as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert (tmp_path / "old" / f"{DB_NAME}.v4.bak").is_file()
        ids = {c.name: c.id for c in store.categories()}
        assert json.loads(get_meta(store.db, MetaKey.CLASS_MAP)) == {str(ids["coin"]): "clock", str(ids["mug"]): ""}
        assert class_map(store) == {"coin": "clock", "mug": ""}
    with ProjectStore.open(tmp_path / "old") as store:  # converted once: reopening changes nothing
        assert class_map(store) == {"coin": "clock", "mug": ""}
