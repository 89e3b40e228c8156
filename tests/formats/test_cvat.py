"""CVAT for images 1.1 XML: export, import, round trips; CVAT's own mask codec (cvat-sdk)
and datumaro's CVAT reader are the independent checks, each skipped when absent."""

from __future__ import annotations

import collections
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from labeler import geometry
from labeler.core import ImageStatus, Instance, InstanceStatus, MaskRLE, Polygons, Provenance
from labeler.formats import FormatError, import_labelme
from labeler.formats.cvat import cvat_rle, export_cvat
from labeler.formats.cvat_import import import_cvat
from labeler.store import ProjectStore

from .test_coco import label_images

DOCS_RLE = "3, 5, 7, 7, 5, 9, 3, 11, 2, 11, 2, 12, 1, 12, 1, 26, 1, 12, 1, 12, 2, 11, 3, 9, 5, 7, 7, 5, 3"


def label_more(store):
    """label_images, plus on a.png a two-part polygon (dog) and an L-shaped mask in the corner."""
    label_images(store)
    a = store.images()[0]
    store.put_instance(Instance(None, a.id, 2, Polygons.from_flat([[44, 30, 50, 30, 50, 36], [52, 40, 60, 40, 60, 46, 52, 46]])))
    corner = np.zeros((48, 64), np.uint8)
    corner[0:3, 0:2] = 1
    corner[0, 2:6] = 1  # an L: row-major and column-major runs differ
    store.put_instance(Instance(None, a.id, 1, geometry.mask_to_rle(corner), 0.9, Provenance.model(2)))


def xml_file(tmp_path: Path, body: str, meta: str = "<meta><task><labels><label><name>cat</name></label>"
             "</labels></task></meta>", name: str = "in.xml") -> Path:
    path = tmp_path / name
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>{meta}'
                    f"{body}</annotations>")
    return path


def test_export_writes_cvat_xml(store, tmp_path):
    label_more(store)
    result = export_cvat(store, tmp_path / "out.xml")
    assert (result.images, result.annotations) == (1, 5)
    root = ET.parse(tmp_path / "out.xml").getroot()
    assert root.findtext("version") == "1.1"
    assert [(lb.findtext("name"), lb.findtext("type")) for lb in root.iterfind("meta/task/labels/label")] == \
        [("cat", "any"), ("dog", "any")]
    (image,) = root.iterfind("image")
    assert (image.get("name"), image.get("width"), image.get("height")) == ("a.png", "64", "48")
    polygons, masks = image.findall("polygon"), image.findall("mask")
    assert [p.get("points") for p in polygons][0] == "1.00,2.00;11.00,2.00;11.00,7.00;1.00,7.00"
    assert len(polygons) == 3 and len(masks) == 3  # the donut is a mask: CVAT polygons have no holes
    groups = [p.get("group_id") for p in polygons]
    assert groups[0] is None and groups[1] == groups[2] == "1"
    assert [m.get("source") for m in masks] == ["manual", "manual", "auto"]
    donut = masks[0]
    assert [donut.get(k) for k in ("left", "top", "width", "height")] == ["10", "10", "30", "30"]
    corner = masks[2]
    assert corner.get("rle") == "0, 8, 4, 2, 4"  # top-left pixel set: first a run of no zeros
    assert not list(tmp_path.glob(".out.xml.*"))


def test_rle_matches_cvat_sdk():
    masks = pytest.importorskip("cvat_sdk.masks")
    rng = np.random.default_rng(5)
    for _ in range(20):
        bitmap = rng.random((rng.integers(1, 30), rng.integers(1, 30))) < rng.random()
        bitmap[0, 0] = rng.random() < 0.5
        ys, xs = np.nonzero(bitmap)
        if not len(ys):
            continue
        crop = bitmap[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        encoded = masks.encode_mask(bitmap)
        assert [int(c) for c in cvat_rle(crop).split(",")] == encoded[:-4]
        assert encoded[-4:] == [xs.min(), ys.min(), xs.max(), ys.max()]


def test_exported_masks_decode_with_cvat_sdk(store, tmp_path):
    masks = pytest.importorskip("cvat_sdk.masks")
    label_more(store)
    export_cvat(store, tmp_path / "out.xml")
    a = store.images()[0]
    wanted = [geometry.to_mask(i.shape, a.height, a.width) for i in store.instances(a.id)
              if isinstance(i.shape, MaskRLE) or i.shape.has_holes]
    for element, mask in zip(ET.parse(tmp_path / "out.xml").getroot().iter("mask"), wanted):
        left, top, w, h = (int(element.get(k)) for k in ("left", "top", "width", "height"))
        encoded = [int(c) for c in element.get("rle").split(",")] + [left, top, left + w - 1, top + h - 1]
        decoded = masks.decode_mask(encoded, image_width=a.width, image_height=a.height)
        assert np.array_equal(decoded, mask.astype(bool))


def test_docs_mask_example_imports(store, tmp_path, image_root):
    path = xml_file(tmp_path, f'<image id="0" name="b.png" width="80" height="60"><mask label="cat" source="manual" '
                              f'occluded="0" rle="{DOCS_RLE}" left="7" top="8" width="13" height="15" z_order="0"/>'
                              f"</image>")
    report = import_cvat(store, [path])
    assert report.instances_added == 1 and not report.warnings
    (inst,) = store.instances(store.images()[1].id)
    mask = geometry.to_mask(inst.shape, 60, 80)
    assert mask.sum() == 149 and mask[8:23, 7:20].sum() == 149
    assert mask[8, 7:20].tolist() == [0] * 3 + [1] * 5 + [0] * 5  # row-major: a round blob
    assert mask[15, 7:20].all()  # the middle row, the run of 26 split over two rows
    masks = pytest.importorskip("cvat_sdk.masks")
    encoded = [int(c) for c in DOCS_RLE.split(",")] + [7, 8, 19, 22]
    assert np.array_equal(masks.decode_mask(encoded, image_width=80, image_height=60), mask.astype(bool))


def best_ious(source: ProjectStore, target: ProjectStore) -> list[float]:
    """For each accepted instance of `source`, the best mask IoU with a same-class instance
    on the same image of `target`."""
    names = {c.id: c.name for c in source.categories()}
    target_names = {c.id: c.name for c in target.categories()}
    by_path = {im.path: im for im in target.images()}
    ious = []
    for im in source.images(ImageStatus.ACCEPTED):
        theirs = target.instances(by_path[im.path].id)
        for inst in source.instances(im.id):
            if inst.status != InstanceStatus.ACCEPTED:
                continue
            same = [t.shape for t in theirs if target_names[t.category_id] == names[inst.category_id]]
            ious.append(float(geometry.mask_iou([inst.shape], same, im.height, im.width).max()) if same else 0.0)
    return ious


def test_round_trip_keeps_every_instance(store, tmp_path, image_root):
    label_more(store)
    export_cvat(store, tmp_path / "out.xml")
    with ProjectStore.create(tmp_path / "back", image_root) as back:
        report = import_cvat(back, [tmp_path / "out.xml"])
        assert (report.images_added, report.instances_added) == (1, 5) and not report.warnings
        assert [c.name for c in back.categories()] == ["cat", "dog"]
        ious = best_ious(store, back)
        assert len(ious) == 5 and min(ious) >= 0.98
        kinds = sorted(type(i.shape).__name__ for i in back.instances(back.images()[0].id))
        assert kinds == ["MaskRLE"] * 3 + ["Polygons"] * 2
        two_parts = [i.shape for i in back.instances(back.images()[0].id)
                     if isinstance(i.shape, Polygons) and len(i.shape.parts) == 2]
        assert len(two_parts) == 1  # the group became one instance again


def test_boxes_and_ellipses_become_polygons(store, tmp_path):
    path = xml_file(tmp_path, '<image id="0" name="a.png" width="64" height="48">'
                              '<box label="cat" occluded="1" xtl="2" ytl="3" xbr="12.5" ybr="9" z_order="2"/>'
                              '<box label="cat" xtl="20" ytl="20" xbr="40" ybr="30" rotation="90"/>'
                              '<ellipse label="cat" cx="50" cy="20" rx="6" ry="3"/></image>')
    report = import_cvat(store, [path])
    assert report.instances_added == 3
    assert list(report.warnings) == ["attribute 'occluded' of class 'cat' not defined in the project: defined as boolean"]
    box, rotated, ellipse = store.instances(store.images()[0].id)
    assert [i.attributes for i in (box, rotated, ellipse)] == [{"occluded": True}, {"occluded": False}, {"occluded": False}]  # CVAT's flag
    box, rotated, ellipse = (i.shape for i in (box, rotated, ellipse))
    assert box == Polygons.rectangle(2, 3, 12.5, 9)
    assert geometry.bbox(rotated) == pytest.approx((25, 15, 10, 20))
    assert geometry.area(ellipse) == pytest.approx(np.pi * 18, rel=0.01)


def test_rotation_is_clockwise_on_screen(store, tmp_path):
    """CVAT draws rotation="30" as SVG rotate(30) about the box centre: clockwise, y down."""
    path = xml_file(tmp_path, '<image id="0" name="a.png" width="64" height="48">'
                              '<box label="cat" xtl="20" ytl="20" xbr="40" ybr="30" rotation="30"/></image>')
    import_cvat(store, [path])
    (inst,) = store.instances(store.images()[0].id)
    t = np.radians(30)
    corner = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) @ [-10, -5] + [30, 25]
    assert min(np.hypot(*(np.array(v) - corner)) for v in inst.shape.parts[0][0]) < 1e-9


def test_fixture_imports_with_warnings(tmp_path, shared_data):
    source = shared_data / "datumaro-coco-fixtures" / "cvat_dataset" / "for_images" / "export_task"
    shutil.copytree(source, tmp_path / "task")
    with ProjectStore.create(tmp_path / "project", tmp_path / "task") as store:
        report = import_cvat(store, [tmp_path / "task"])
        assert (report.images_added, report.instances_added) == (2, 1)
        assert report.categories_added == ["label1", "label2"]
        assert sorted(report.warnings) == sorted([
            "polyline shape has no area; skipped", "points shape has no area; skipped",
            "shape without a label; skipped",
            "attribute 'occluded' of class 'label1' not defined in the project: defined as boolean"])
        (inst,) = store.instances(store.images()[0].id)
        assert inst.shape == Polygons.rectangle(0, 2, 4, 4)
        label1 = store.category_by_name("label1")
        assert [(s.name, s.kind.value, s.choices, s.default) for s in store.attribute_specs(label1.id)] == [
            ("a1", "boolean", (), False), ("a2", "choice", ("v1", "v2", "v3"), "v1"), ("a3", "text", (), "0000"),
            ("a4", "number", (), 0.0), ("occluded", "boolean", (), False)]
        assert inst.attributes == {"a1": True, "a2": "v3", "a3": "0003", "a4": 2.4, "occluded": True}


def test_datumaro_reads_the_export(store, tmp_path, image_root):
    dm = pytest.importorskip("datumaro")
    label_more(store)
    store.set_image_status(store.images()[2].id, ImageStatus.ACCEPTED)  # an empty image too
    (tmp_path / "dm").mkdir()
    (tmp_path / "dm" / "images").symlink_to(image_root)
    export_cvat(store, tmp_path / "dm" / "train.xml")
    dataset = dm.Dataset.import_from(str(tmp_path / "dm"), "cvat")
    labels = dataset.categories()[dm.AnnotationType.label]
    got = {}
    for item in dataset:
        instances = collections.Counter()
        for ann in item.annotations:
            assert isinstance(ann, (dm.Polygon, dm.Mask))
            key = ("group", ann.group) if ann.group else ("annotation", id(ann))
            instances[(labels[ann.label].name, key)] += 1
        got[item.id] = sorted(name for name, _ in instances)
    names = {c.id: c.name for c in store.categories()}
    want = {Path(im.path).with_suffix("").as_posix(): sorted(
        names[i.category_id] for i in store.instances(im.id) if i.status == InstanceStatus.ACCEPTED)
        for im in store.images(ImageStatus.ACCEPTED)}
    assert got == want and sum(map(len, want.values())) == 5


def test_labelme_examples_round_trip(tmp_path, shared_data):
    shutil.copytree(shared_data / "labelme-examples" / "instance_segmentation" / "data_annotated", tmp_path / "images")
    with ProjectStore.create(tmp_path / "first", tmp_path / "images") as first:
        report = import_labelme(first, [tmp_path / "images"])
        assert report.instances_added > 0
        result = export_cvat(first, tmp_path / "out.xml")
        assert result.annotations == report.instances_added
        with ProjectStore.create(tmp_path / "second", tmp_path / "images") as second:
            back = import_cvat(second, [tmp_path / "out.xml"])
            assert back.instances_added == report.instances_added and not back.warnings
            ious = best_ious(first, second)
            assert len(ious) == report.instances_added and min(ious) >= 0.98


def test_size_mismatch_skips_the_image(store, tmp_path):
    path = xml_file(tmp_path, '<image id="0" name="a.png" width="65" height="48">'
                              '<polygon label="cat" points="1,1;9,1;9,9"/></image>'
                              '<image id="1" name="b.png" width="80" height="60">'
                              '<polygon label="cat" points="1,1;9,1;9,9"><attribute name="x">1</attribute></polygon>'
                              '<tag label="cat"/><tag label="cat"/></image>')
    report = import_cvat(store, [path])
    assert report.instances_added == 1
    assert set(report.warnings) == {"image size in the file differs from the image on disk; skipped",
                                    "attribute 'x' of class 'cat' not defined in the project: defined as number"}
    b = store.images()[1]
    (inst,) = store.instances(b.id)
    assert inst.attributes == {"x": 1.0} and store.image_tags(b.id) == ("cat",)


MALFORMED = {
    "not xml": ("just text", None),
    "wrong root": ('<?xml version="1.0"?><coco/>', None),
    "doctype": ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><annotations>&x;</annotations>', None),
    "missing width": ('<image id="0" name="a.png" height="48"/>', "'width' must be an integer"),
    "points not numbers": ('<image id="0" name="a.png" width="64" height="48">'
                           '<polygon label="cat" points="1,1;a,1;9,9"/></image>', "must be numbers"),
    "points not pairs": ('<image id="0" name="a.png" width="64" height="48">'
                         '<polygon label="cat" points="1,1,2;9,9"/></image>', "x0,y0;x1,y1"),
    "rle sum": ('<image id="0" name="a.png" width="64" height="48"><mask label="cat" rle="0, 5" left="0" '
                'top="0" width="2" height="2"/></image>', "add up to 5"),
    "crop outside": ('<image id="0" name="a.png" width="64" height="48"><mask label="cat" rle="0, 4" left="63" '
                     'top="0" width="2" height="2"/></image>', "outside the image"),
    "bad label": ('<image id="0" name="a.png" width="64" height="48"><polygon label="a&#x202e;b" '
                  'points="1,1;9,1;9,9"/></image>', "contains"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_is_one_line_and_imports_nothing(store, tmp_path, case):
    body, problem = MALFORMED[case]
    good = xml_file(tmp_path, '<image id="0" name="b.png" width="80" height="60">'
                              '<polygon label="new" points="1,1;9,1;9,9"/></image>', name="good.xml")
    if problem is None:
        bad = tmp_path / "bad.xml"
        bad.write_text(body)
    else:
        bad = xml_file(tmp_path, body, name="bad.xml")
    with pytest.raises(FormatError) as info:
        import_cvat(store, [good, bad])
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(bad))
    if problem:
        assert problem in message
    assert not list(store.instance_rows()) and [c.name for c in store.categories()] == ["cat", "dog"]


def test_progress_error_writes_nothing(store, tmp_path):
    label_more(store)
    calls = []

    def stop(done, total):
        calls.append((done, total))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_cvat(store, tmp_path / "out.xml", progress=stop)
    assert calls and not list(tmp_path.glob("*out.xml*"))
    seen = []
    export_cvat(store, tmp_path / "out.xml", all_images=True, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (6, 6)


def test_names_are_escaped(tmp_path):
    root = tmp_path / "images"
    from ..conftest import write_image

    write_image(root / 'a&b <"c">.png', 20, 10)
    with ProjectStore.create(tmp_path / "p", root, ['fish & "chips" <x>']) as store:
        path = xml_file(tmp_path, '<image id="0" name="a&amp;b &lt;&quot;c&quot;&gt;.png" width="20" height="10">'
                                  '<polygon label="fish &amp; &quot;chips&quot; &lt;x&gt;" points="1,1;9,1;9,9"/>'
                                  '</image>', meta="<meta/>")
        assert import_cvat(store, [path]).instances_added == 1
        export_cvat(store, tmp_path / "out.xml")
        image = ET.parse(tmp_path / "out.xml").getroot().find("image")
        assert image.get("name") == 'a&b <"c">.png'
        assert image.find("polygon").get("label") == 'fish & "chips" <x>'
