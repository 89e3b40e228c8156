"""What the command line and the window both do with projects: create one from a folder of
images, import labels, export a dataset, and the one-line summaries they print or show.
No Qt and no torch here: cli.py and gui/project_files.py call these."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from . import formats
from .formats import ExportResult, ImportReport
from .formats.common import add_image_files
from .imaging import find_images, scan_images
from .store import DB_NAME, ProjectError, ProjectStore

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Format:
    """A file format people move labels in or out with, as the CLI and the File menu offer it."""

    key: str  # --format
    name: str
    importer: str | None  # the function's name in labeler.formats (None: export only)
    exporter: str | None
    out: str = "file"  # what an export writes: "file" or "folder"
    default_out: str = ""  # the export's default name after the project's, e.g. "_coco.json"
    splits: bool = False  # takes a validation fraction
    rle: bool = False  # can write every mask as RLE
    import_hint: str = ""


FORMATS = {f.key: f for f in (
    Format("coco", "COCO JSON", "import_coco", "export_coco", "file", "_coco.json", splits=True, rle=True,
           import_hint="A COCO file, a Roboflow export folder (_annotations.coco.json per split) or a folder "
                       "with annotations/*.json."),
    Format("labelme", "labelme JSON", "import_labelme", "export_labelme", "folder", "_labelme",
           import_hint="labelme files (one per image), or folders of them."),
    Format("yolo", "YOLO segmentation (Ultralytics)", "import_yolo", "export_yolo", "folder", "_yolo", splits=True,
           import_hint="A dataset folder with data.yaml, images/ and labels/, or its data.yaml."),
    Format("cvat", "CVAT for images 1.1 XML", "import_cvat", "export_cvat", "file", "_cvat.xml",
           import_hint="CVAT's annotations.xml (CVAT for images 1.1), or a folder holding it."),
    Format("masks", "Mask PNGs (instance ids, classes)", None, "export_masks", "folder", "_masks"),
)}
IMPORT_FORMATS = [k for k, f in FORMATS.items() if f.importer]
EXPORT_FORMATS = [k for k, f in FORMATS.items() if f.exporter]
SCAN_CHUNK = 256  # images read per batch when a project is created (a Cancel waits for one batch at most)


@dataclass
class Created:
    project: Path
    images: int
    skipped: list[str]  # one line per unreadable file


def create_project(project: str | os.PathLike, images_dir: str | os.PathLike, labels: Sequence[str] = (),
                   progress: ProgressFn | None = None) -> Created:
    """A new project for the images under images_dir (recursively). Unreadable files are
    skipped and listed. Nothing is created until every image has been read, so an
    exception from `progress` (a Cancel) leaves no project behind."""
    project, images_dir = Path(project), Path(images_dir)
    if (project / DB_NAME).exists():
        raise ProjectError(f"{project / DB_NAME}: a project already exists here")
    if not images_dir.is_dir():
        raise ProjectError(f"{images_dir}: image folder does not exist")
    files = find_images(images_dir)
    if not files:
        raise ProjectError(f"{images_dir}: no images found (looked for .jpg, .jpeg, .png, .tif, "
                           f".tiff, .bmp, .webp, in subfolders too)")
    infos, errors = [], []
    for start in range(0, len(files), SCAN_CHUNK):
        def read(done: int, _total: int, start: int = start) -> None:
            if progress is not None:
                progress(start + done, len(files))

        found, failed = scan_images(files[start:start + SCAN_CHUNK], progress=read)
        infos += found
        errors += failed
    root = images_dir.resolve()
    inside = []
    for info in infos:  # a link out of the folder: skipped and listed, like an unreadable file
        if Path(info.path).resolve().is_relative_to(root):
            inside.append(info)
        else:
            errors.append(f"{info.path}: a link to {Path(info.path).resolve()}, outside the image folder; skipped")
    if not inside:
        raise ProjectError(f"{images_dir}: no images found inside the folder (links out of it are skipped)")
    try:
        with ProjectStore.create(project, images_dir, labels) as store:
            add_image_files(store, inside)
    except BaseException:  # never leave a half-made project (the next init would say it exists)
        for leftover in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm"):
            (project / leftover).unlink(missing_ok=True)
        raise
    return Created(project.resolve(), len(inside), errors)


def parse_labels(text: str | None) -> list[str]:
    """'cat, dog,,bird' -> ['cat', 'dog', 'bird']."""
    return [s.strip() for s in (text or "").split(",") if s.strip()]


def import_labels(store: ProjectStore, fmt: str, paths: Sequence[str | os.PathLike],
                  progress: ProgressFn | None = None) -> ImportReport:
    """One import, in one transaction: on any error nothing of it is stored."""
    if fmt not in IMPORT_FORMATS:
        raise ProjectError(f"cannot import {fmt!r}; formats: {', '.join(IMPORT_FORMATS)}")
    return getattr(formats, FORMATS[fmt].importer)(store, paths, progress=progress)


def import_summary(report: ImportReport) -> str:
    return (f"imported {_count(report.instances_added, 'instance')} on {_count(report.images_labeled, 'image')} "
            f"({_count(report.images_added, 'image')} new to the project"
            + (f"; new classes: {', '.join(report.categories_added)}" if report.categories_added else "")
            + ")")


def export_dataset(store: ProjectStore, out: str | os.PathLike, *, fmt: str = "coco", all_images: bool = False,
                   val_fraction: float = 0.0, rle: bool = False,
                   progress: ProgressFn | None = None) -> ExportResult:
    """Export in `fmt` (FORMATS): a file or a folder, as the format writes it."""
    if fmt not in EXPORT_FORMATS:
        raise ProjectError(f"cannot export {fmt!r}; formats: {', '.join(EXPORT_FORMATS)}")
    spec = FORMATS[fmt]
    if not 0.0 <= val_fraction < 1.0:
        raise ProjectError(f"--val-fraction must be at least 0 and below 1, got {val_fraction}")
    if val_fraction and not spec.splits:
        raise ProjectError(f"{spec.name} has no validation split; leave --val-fraction out")
    if rle and not spec.rle:
        raise ProjectError(f"{spec.name} has no RLE option; leave --rle out")
    options: dict = {"all_images": all_images, "progress": progress}
    if spec.splits:
        options["val_fraction"] = val_fraction
    if spec.rle:
        options["force_rle"] = rle
    return getattr(formats, spec.exporter)(store, out, **options)


def export_summary(result: ExportResult, all_images: bool) -> str:
    scope = "every image" if all_images else "the images marked accepted"
    return (f"exported {_count(result.annotations, 'instance')} on {_count(result.images, 'image')} "
            f"({scope}) to " + ", ".join(str(f) for f in result.files))


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
