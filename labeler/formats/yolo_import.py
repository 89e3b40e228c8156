"""YOLO segmentation labels in the Ultralytics layout: the import (yolo.py has the layout,
the export and the decisions). Each line comes back as one instance: the bridged ring is
repaired with shapely's make_valid, which gives back the parts and holes; a 5-value box line
becomes a rectangle proposal to review. A bad label file or yaml stops the import with one
line naming the file; nothing of that import is stored."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import yaml

from .. import geometry
from ..core.entities import ImageRecord, Instance, InstanceStatus, Polygons, Provenance
from ..geometry import validate
from ..imaging import IMAGE_EXTENSIONS
from ..store import ProjectStore
from .common import FormatError, ImageResolver, ImportReport, brief, check_class_name, store_planned
from .yolo import SLACK, YAML_NAME  # the layout's constants


# --- import ----------------------------------------------------------------------------

def import_yolo(store: ProjectStore, paths: Sequence[str | os.PathLike],
                progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import YOLO datasets: each path a data.yaml, or a folder holding one (or holding
    labels/ and images/ without one: names from classes.txt, else the class ids). Label
    files are every .txt below a ``labels`` folder under the yaml's folder; each one's image
    is the file with its stem in the matching ``images`` folder, else the project image at
    the same path less the split folder (a YOLO export of this project's images)."""
    report = ImportReport()
    resolver = ImageResolver(store, report)
    datasets = [_Dataset(Path(p), report) for p in paths]
    total = sum(len(d.label_files) for d in datasets)
    planned, category_names, done = [], [], 0
    for ds in datasets:
        category_names += [n for n in (ds.names or {}).values() if n not in category_names]
        for label in ds.label_files:
            found = resolver.resolve(ds.candidates(label, store), ds.image_name(label), label.name)
            if found is not None:
                record = found[0]
                planned.append((record, ds.read_label(label, record)))
            done += 1
            if progress:
                progress(done, total)
    store_planned(store, resolver, report, planned, category_names)
    return report


class _Dataset:
    """One YOLO dataset: its root, class names and label files."""

    def __init__(self, path: Path, report: ImportReport) -> None:
        self.report = report
        self.yaml = _find_yaml(path)
        root = self.yaml.parent if self.yaml else path
        if self.yaml:
            data = _load_yaml(self.yaml)
            self.names = _names(self.yaml, data.get("names"))
            given = data.get("path")
            if isinstance(given, str) and (self.yaml.parent / given).is_dir():
                root = self.yaml.parent / given
        elif (path / "classes.txt").is_file():
            lines = _read_text(path / "classes.txt").splitlines()
            self.names = {k: check_class_name(path / "classes.txt", n, f"line {k + 1}")
                          for k, n in enumerate(lines) if n.strip()}
        else:
            self.names = None  # each class id is its own name
            report.warn("no data.yaml or classes.txt: classes named by their ids", str(path))
        self.root = root
        self.label_files = sorted(p for p in root.rglob("*.txt")
                                  if "labels" in p.relative_to(root).parts[:-1])
        if not self.label_files:
            raise FormatError(root, "no YOLO label files (.txt under a labels/ folder)")
        self._listings: dict[Path, dict[str, list[Path]]] = {}

    def _split(self, label: Path) -> tuple[tuple[str, ...], tuple[str, ...], str]:
        """(folders before 'labels', folders after it, stem) of a label file."""
        parts = label.relative_to(self.root).parts
        k = len(parts) - 2 - parts[-2::-1].index("labels")
        return parts[:k], parts[k + 1:-1], Path(parts[-1]).stem

    def image_name(self, label: Path) -> str:
        _, after, stem = self._split(label)
        return "/".join(after[1:] + (stem,))

    def candidates(self, label: Path, store: ProjectStore) -> list[Path]:
        """Image files that may be this label's, those inside the image root first (the
        resolver takes the first that exists)."""
        before, after, stem = self._split(label)
        folders = [self.root.joinpath(*before, "images", *after),
                   store.image_root.joinpath(*after[1:]), store.image_root.joinpath(*after)]
        found = [f for folder in folders for f in self._images(folder).get(stem, ())]
        root = store.image_root.resolve()
        return sorted(found, key=lambda f: not f.resolve().is_relative_to(root))

    def _images(self, folder: Path) -> dict[str, list[Path]]:
        if folder not in self._listings:
            listing: dict[str, list[Path]] = {}
            if folder.is_dir():
                for f in sorted(folder.iterdir()):
                    if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file():
                        listing.setdefault(f.stem, []).append(f)
            self._listings[folder] = listing
        return self._listings[folder]

    def read_label(self, path: Path, record: ImageRecord) -> list[tuple[str, Instance]]:
        instances = []
        for n, line in enumerate(_read_text(path).splitlines(), 1):
            tokens = line.split()
            if tokens:
                converted = self._instance(path, n, tokens, record)
                if converted is not None:
                    instances.append(converted)
        return instances

    def _instance(self, path: Path, n: int, tokens: list[str], record: ImageRecord):
        where = f"line {n}"
        if len(tokens) != 5 and len(tokens) < 7:
            raise FormatError(path, f"{where}: {len(tokens)} values; a box has 5 (class x y w h), "
                                    "a polygon at least 7 (class and 3 points)")
        try:
            values = np.array(tokens, dtype=np.float64)
        except ValueError:
            bad = next(t for t in tokens if not _is_number(t))
            raise FormatError(path, f"{where}: {brief(bad)} is not a number") from None
        if not np.isfinite(values).all():
            raise FormatError(path, f"{where}: a value is not a finite number")
        cls, coords = values[0], values[1:]
        if not (cls.is_integer() and cls >= 0) or (self.names is not None and int(cls) not in self.names):
            raise FormatError(path, f"{where}: class {brief(tokens[0])} is not in "
                                    f"{self.yaml.name if self.yaml else 'classes.txt'}'s names")
        if len(tokens) > 5 and len(coords) % 2:
            raise FormatError(path, f"{where}: odd number of coordinates ({len(coords)})")
        if coords.min() < -SLACK or coords.max() > 1 + SLACK:
            raise FormatError(path, f"{where}: coordinates outside [0, 1] (from {coords.min():g} to "
                                    f"{coords.max():g}): not normalised by the image size?")
        name = self.names[int(cls)] if self.names is not None else str(int(cls))
        w, h = record.width, record.height
        status = InstanceStatus.ACCEPTED
        try:
            if len(tokens) == 5:
                cx, cy, bw, bh = coords * (w, h, w, h)
                shape = validate.check_polygons(
                    Polygons.rectangle(cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2), h, w)
                self.report.warn("box without a mask imported as a rectangle proposal to review",
                                 f"{path.name}: {where}")
                status = InstanceStatus.PROPOSED
            else:
                shape = _polygons(coords.reshape(-1, 2) * (w, h), h, w)
        except validate.ShapeError as exc:
            self.report.warn(f"shape rejected ({exc}); line skipped", f"{path.name}: {where}")
            return None
        return name, Instance(None, 0, 0, shape, None, Provenance.manual(), status)


def _polygons(xy: np.ndarray, height: int, width: int) -> Polygons:
    """One line's vertices (pixels) as parts and holes: the ring, with its bridges, is
    checked (cost bounded) and repaired by shapely's make_valid."""
    validate.check_counts([len(xy)], 1)
    ring = validate.check_polygons(Polygons(((tuple(map(tuple, xy.tolist())),),)), height, width)
    shape = geometry.from_shapely(geometry.to_shapely(ring))
    if shape is None:
        raise validate.EmptyShape("polygon has no area")
    return validate.check_polygons(shape, height, width)


def _find_yaml(path: Path) -> Path | None:
    if path.is_file():
        return path
    if not path.is_dir():
        raise FormatError(path, "not found")
    if (path / YAML_NAME).is_file():
        return path / YAML_NAME
    found = sorted(p for ext in ("*.yaml", "*.yml") for p in path.glob(ext))
    if len(found) > 1:
        raise FormatError(path, f"several YAML files ({', '.join(p.name for p in found[:4])}); give one")
    if found:
        return found[0]
    if not (path / "labels").is_dir():
        raise FormatError(path, "folder has no data.yaml and no labels/ folder")
    return None


def _load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(_read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "malformed"
        raise FormatError(path, f"not valid YAML{at}: {problem}") from None
    if not isinstance(data, dict):
        raise FormatError(path, f"not a YOLO data.yaml (top level is not a mapping: {brief(data)})")
    return data


def _names(path: Path, names: Any) -> dict[int, str]:
    """``names`` as a list or as a mapping from class id (an integer or digits) to name."""
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not names:
        raise FormatError(path, f"'names' must be a list or a mapping of class ids to names, got {brief(names)}")
    out = {}
    for key, name in names.items():
        if isinstance(key, str) and key.strip().isdigit():
            key = int(key)
        if not isinstance(key, int) or isinstance(key, bool) or key < 0:
            raise FormatError(path, f"class id {brief(key)} in 'names' is not a whole number")
        out[key] = check_class_name(path, name if isinstance(name, str) else str(name), f"class {key}")
    return out


def _read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(path, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise FormatError(path, f"cannot be read ({exc.strerror or exc})") from None


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False

