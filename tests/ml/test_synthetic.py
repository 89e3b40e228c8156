"""Synthetic shapes: the labels are exactly the drawn pixels, and the dataset and project
writers store them faithfully."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from labeler import geometry
from labeler.core.entities import ImageStatus, InstanceStatus, ProvenanceKind
from labeler.imaging import decode_image
from labeler.ml.synthetic import (
    CLASSES, make_shapes_project, shapes_samples, shapes_scene, write_shapes_dataset,
)
from labeler.store import ProjectStore


@pytest.mark.parametrize("seed", range(12))
def test_labels_are_the_drawn_pixels(seed):
    image, truth = shapes_scene(160, 128, seed)
    assert image.shape == (128, 160, 3) and image.dtype == np.uint8
    drawn = (image != image[0, 0]).any(axis=2)  # plain background: every other pixel is a shape
    labeled = np.zeros_like(drawn)
    for _, shape in truth:
        mask = geometry.to_mask(shape, 128, 160).astype(bool)
        assert mask.any() and not (labeled & mask).any()  # shapes do not overlap
        labeled |= mask
    assert (drawn == labeled).all()


def test_scene_classes_counts_sizes_and_determinism():
    counts = []
    for seed in range(20):
        image, truth = shapes_scene(160, 128, seed, count=(2, 4))
        again, truth_again = shapes_scene(160, 128, seed, count=(2, 4))
        assert np.array_equal(image, again) and truth == truth_again
        counts.append(len(truth))
        for name, shape in truth:
            assert name in CLASSES
            _, _, w, h = geometry.bbox(shape)
            assert 0.05 * 128 <= max(w, h) <= 0.31 * 128
    assert min(counts) >= 2 and max(counts) <= 4 and len(set(counts)) > 1


def test_texture_keeps_the_layout_and_the_labels():
    plain, truth = shapes_scene(160, 128, 3)
    textured, truth_textured = shapes_scene(160, 128, 3, texture=True)
    assert truth == truth_textured
    assert not np.array_equal(plain, textured)
    mask = geometry.to_mask(truth[0][1], 128, 160).astype(bool)
    inside, outside = textured[mask].astype(float).mean(0), textured[~mask].astype(float).mean(0)
    assert np.abs(inside - outside).max() > 20  # the shape still stands out


def test_coco_dataset_matches_the_scenes(tmp_path):
    path = write_shapes_dataset(tmp_path, 3, width=96, height=64, seed=5)
    coco = json.loads(path.read_text())
    assert [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])] == list(CLASSES)
    api = COCO(str(path))
    for entry in coco["images"]:
        file = tmp_path / entry["file_name"]
        assert decode_image(file).shape == (64, 96, 3)
        _, truth = shapes_scene(96, 64, 5 + entry["id"] - 1)
        anns = api.loadAnns(api.getAnnIds(imgIds=[entry["id"]]))
        assert [CLASSES[a["category_id"] - 1] for a in anns] == [name for name, _ in truth]
        for ann, (_, shape) in zip(anns, truth):
            assert ann["iscrowd"] == 0 and ann["area"] > 0
            assert np.array_equal(api.annToMask(ann), geometry.to_mask(shape, 64, 96))
            x, y, w, h = ann["bbox"]
            assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= 96 and y + h <= 64


def test_project_holds_the_accepted_ground_truth(tmp_path):
    project = make_shapes_project(tmp_path, 4, width=96, height=64, accepted=2)
    assert project == tmp_path / "project"
    with ProjectStore.open(project) as store:
        assert [c.name for c in store.categories()] == list(CLASSES)
        images = sorted(store.images(), key=lambda im: im.path)
        assert [im.status for im in images] == [ImageStatus.ACCEPTED] * 2 + [ImageStatus.UNLABELED] * 2
        names = {c.id: c.name for c in store.categories()}
        for n, image in enumerate(images):
            instances = store.instances(image.id)
            _, truth = shapes_scene(96, 64, n)
            if n >= 2:
                assert instances == []
                continue
            assert [(names[i.category_id], i.shape) for i in instances] == truth
            assert all(i.status == InstanceStatus.ACCEPTED and i.provenance.kind == ProvenanceKind.MANUAL
                       for i in instances)


def test_samples_use_one_based_labels(tmp_path):
    samples = shapes_samples(tmp_path, 2, width=96, height=64)
    _, truth = shapes_scene(96, 64, 0)
    assert samples[0].labels == tuple(CLASSES.index(name) + 1 for name, _ in truth)
    assert samples[0].shapes == tuple(shape for _, shape in truth)
    assert samples[1].path.is_file() and (samples[1].width, samples[1].height) == (96, 64)
