"""`labeler export --format F` and `labeler import --format F`: every format the command line
offers writes what its own import reads back (the formats' own tests check each format in depth)."""

from __future__ import annotations

import pytest

from labeler import cli, geometry
from labeler.core import ImageRecord, ImageStatus, Instance, Polygons
from labeler.projects import EXPORT_FORMATS, IMPORT_FORMATS
from labeler.store import ProjectStore

from ..conftest import write_image

HOLED = Polygons(((((10, 10), (50, 10), (50, 50), (10, 50)), ((20, 20), (30, 20), (30, 30), (20, 30))),))
TWO_PARTS = Polygons(((((55, 5), (70, 5), (70, 20)),), (((5, 55), (25, 55), (25, 70), (5, 70)),)))


@pytest.fixture
def labeled(tmp_path):
    for k in range(2):
        write_image(tmp_path / "imgs" / f"{k}.png", 80, 80, seed=k)
    with ProjectStore.create(tmp_path / "p", tmp_path / "imgs", ["a", "b"]) as store:
        one, two = store.add_images([ImageRecord(None, "0.png", 80, 80, ImageStatus.ACCEPTED),
                                     ImageRecord(None, "1.png", 80, 80, ImageStatus.ACCEPTED)])
        store.add_instances([Instance(None, one.id, 1, HOLED), Instance(None, two.id, 2, TWO_PARTS)])
    return tmp_path


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_every_format_exports_and_reads_back(labeled, fmt, capsys):
    out = labeled / ("out.json" if fmt == "coco" else "out.xml" if fmt == "cvat" else "out")
    assert cli.main(["export", str(labeled / "p"), "--format", fmt, str(out)]) == 0
    assert "exported 2 instances on 2 images" in capsys.readouterr().out
    assert out.exists()
    if fmt not in IMPORT_FORMATS:
        return
    ProjectStore.create(labeled / f"back_{fmt}", labeled / "imgs").close()
    assert cli.main(["import", str(labeled / f"back_{fmt}"), "--format", fmt, str(out)]) == 0
    with ProjectStore.open(labeled / f"back_{fmt}") as back, ProjectStore.open(labeled / "p") as source:
        names = {c.id: c.name for c in back.categories()}
        for image in source.images():
            (want,) = source.instances(image.id)
            (got,) = back.instances(back.image_by_path(image.path).id)
            assert names[got.category_id] == {1: "a", 2: "b"}[want.category_id]
            iou = geometry.mask_iou([got.shape], [want.shape], 80, 80)[0, 0]
            assert iou >= 0.98, (fmt, image.path, iou)


def test_an_option_the_format_does_not_have_is_one_line(labeled, capsys):
    assert cli.main(["export", str(labeled / "p"), "--format", "cvat", "--val-fraction", "0.5",
                     str(labeled / "o.xml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labeler: error: CVAT for images 1.1 XML has no validation split") and err.count("\n") == 1
    assert not (labeled / "o.xml").exists()
