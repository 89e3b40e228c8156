"""What importers and exporters share: errors, reports, reading JSON, atomic writes, and
finding an annotation file's image inside the project."""

from __future__ import annotations

import json
import os
import reprlib
import tempfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Sequence

from .. import geometry

from ..core.entities import ImageRecord, ImageStatus, Instance, Polygons, Shape
from ..core.errors import UserError
from ..core.names import MAX_NAME_LENGTH, unprintable
from ..geometry import validate
from ..imaging import IMAGE_EXTENSIONS, ImageInfo, ImageReadError, read_image_info
from ..store import AttributeImport, ProjectError, ProjectStore


class FormatError(UserError):
    """Malformed input. The message is one line: the file and what is wrong with it."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass
class ExportResult:
    """What an export wrote (every format's)."""

    files: list[Path]
    images: int
    annotations: int
    warnings: list[str] = field(default_factory=list)  # one line per kind of shape changed or left out


@dataclass
class ImportReport:
    images_added: int = 0
    images_labeled: int = 0
    instances_added: int = 0
    categories_added: list[str] = field(default_factory=list)
    warnings: Counter = field(default_factory=Counter)  # message -> how many times
    examples: dict[str, str] = field(default_factory=dict)  # message -> first example

    def warn(self, message: str, example: str = "") -> None:
        self.warnings[message] += 1
        if example and message not in self.examples:
            self.examples[message] = example

    def warning_lines(self) -> list[str]:
        lines = []
        for message, count in self.warnings.items():
            example = self.examples.get(message)
            suffix = f" (e.g. {example})" if example and count > 1 else (f": {example}" if example else "")
            lines.append(f"{count} x {message}{suffix}" if count > 1 else f"{message}{suffix}")
        return lines


def load_json(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        raise FormatError(path, "file not found") from None
    except IsADirectoryError:
        raise FormatError(path, "is a folder, not a JSON file") from None
    except json.JSONDecodeError as exc:
        raise FormatError(path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise FormatError(path, f"not valid JSON (not UTF-8 text: {exc.reason})") from None
    except MemoryError:
        raise FormatError(path, "too large to read into memory") from None
    except RecursionError:
        raise FormatError(path, "not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # Python refuses integers of more than 4300 digits
        raise FormatError(path, f"not valid JSON ({str(exc).split(':')[0]})") from None


# --- text from a file: class names, image file names, messages ---------------------------

MAX_FILE_NAME_BYTES = 255  # per path component, in UTF-8 (what Linux, macOS and Windows allow)
MAX_PATH_BYTES = 4096
_brief = reprlib.Repr()
_brief.maxstring, _brief.maxother, _brief.maxlong, _brief.maxlevel = 60, 60, 40, 3


def brief(value: Any) -> str:
    """Any value from a file, shortened and quoted for a one-line message: control
    characters and lone surrogates escaped, nesting and length cut."""
    return _brief.repr(value)


def check_class_name(path: Path, name: Any, what: str) -> str:
    """A class name from a file, stripped of surrounding spaces. The whole file is refused
    (FormatError) for a name that is not text, is empty or longer than MAX_NAME_LENGTH, or
    holds control characters (ANSI escapes, newlines, bidi overrides) or lone surrogates:
    such a name would garble every list and terminal it is shown in, or not store at all,
    and rewriting it would make a class nobody named."""
    if not isinstance(name, str) or not name.strip():
        raise FormatError(path, f"{what} has no name")
    if len(name) > MAX_NAME_LENGTH:
        raise FormatError(path, f"{what}: class name longer than {MAX_NAME_LENGTH} characters "
                                f"({len(name):,}): {brief(name)}")
    problem = unprintable(name)
    if problem:
        raise FormatError(path, f"{what}: class name {brief(name)} contains {problem}")
    return name.strip()


def check_file_name(path: Path, name: str, what: str) -> str:
    """An image file name from a file; FormatError for one no file system can hold (NUL,
    control characters, lone surrogates, a component over 255 bytes, over 4096 in all)."""
    encoded = name.encode("utf-8", "surrogatepass")
    if len(encoded) > MAX_PATH_BYTES or any(len(part) > MAX_FILE_NAME_BYTES for part in encoded.split(b"/")):
        raise FormatError(path, f"{what} {brief(name)} is too long for a file name (at most "
                                f"{MAX_FILE_NAME_BYTES} bytes per folder or file name)")
    problem = unprintable(name)
    if problem:
        raise FormatError(path, f"{what} {brief(name)} contains {problem}")
    return name


def annotation_files(paths: Iterable[str | os.PathLike], in_folder: Callable[[Path], list[Path]],
                     none_found: str) -> list[Path]:
    """The files of an import: files as given; for a folder, what `in_folder` finds in it
    (FormatError saying `none_found` when that is nothing)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = in_folder(p)
            if not found:
                raise FormatError(p, none_found)
            files += found
        else:
            files.append(p)
    return files


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 text so that a crash leaves either the old file or the new one, never
    half of one (atomic_files)."""
    write_texts_atomic({Path(path): text})


def write_texts_atomic(texts: dict[Path, str]) -> None:
    """Several UTF-8 files that belong together (a train and a val split), replaced
    together or not at all (atomic_files)."""
    with atomic_files(list(texts)) as files:
        for f, text in zip(files, texts.values()):
            f.write(text.encode("utf-8"))


@contextmanager
def atomic_files(paths: Sequence[Path]) -> Iterator[list[BinaryIO]]:
    """Binary files, one per path, that replace those paths only if the block ends without an
    error. Each is written to a temporary file beside its target (named with this process's
    id, so a later write removes it once the process is gone); at the end all are fsynced,
    and only then renamed into place one right after the other. So an error, or a kill
    before the renames, leaves all the old files (the renames take microseconds, not the
    seconds of writing); after an error the temporary files are removed."""
    temps: list[tuple[BinaryIO, str, Path]] = []
    try:
        paths = [Path(p) for p in paths]
        _remove_orphans(paths)
        for path in paths:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
            temps.append((os.fdopen(fd, "wb"), tmp, path))
        yield [f for f, _, _ in temps]
        for f, _, _ in temps:
            f.flush()
            os.fsync(f.fileno())
            f.close()
        for _, tmp, path in temps:
            os.replace(tmp, path)
    except BaseException:
        for f, tmp, _ in temps:
            f.close()
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        raise


def _remove_orphans(paths: Sequence[Path]) -> None:
    """Make the paths' folders, and remove the temporary files of earlier writes of these
    files whose process is gone (a kill -9 leaves its .tmp behind). A live writer's file, or
    one not named by a pid, is left. Each folder is listed once, however many paths it holds."""
    import psutil

    by_folder: dict[Path, set[str]] = {}
    for path in paths:
        by_folder.setdefault(path.parent, set()).add(path.name)
    for folder, names in by_folder.items():
        folder.mkdir(parents=True, exist_ok=True)
        with os.scandir(folder) as entries:
            leftovers = [e.name for e in entries if e.name.startswith(".") and e.name.endswith(".tmp")]
        for leftover in leftovers:
            parts = leftover[1:-len(".tmp")].rsplit(".", 2)  # ".<name>.<pid>.<mkstemp's 8>.tmp"
            if len(parts) == 3 and parts[0] in names and parts[1].isdigit() and not psutil.pid_exists(int(parts[1])):
                try:
                    (folder / leftover).unlink()
                except OSError:
                    pass


def add_image_files(store: ProjectStore, infos: list[ImageInfo]) -> list[ImageRecord]:
    """Add scanned image files to the project (files already in it are left as they are)."""
    return store.add_images(ImageRecord(None, store.relative_image_path(i.path.resolve()), i.width, i.height)
                            for i in infos)


class ImageResolver:
    """Finds the project image an annotation file means, adding it to the project if the
    file is under the image root but not yet known."""

    def __init__(self, store: ProjectStore, report: ImportReport) -> None:
        self.store = store
        self.report = report
        self._by_path = {im.path: im for im in store.images()}
        self._files_by_name: dict[str, list[Path]] | None = None
        self._pending: dict[str, ImageRecord] = {}

    def resolve(self, candidates: list[Path], name: str, source: str) -> tuple[ImageRecord, Path] | None:
        """The first candidate file that exists; failing that, a unique file under the image
        root with the same name (or the same stem, for a wrong extension)."""
        for candidate in candidates:
            if candidate.is_file():
                return self._record(candidate, source)
        by_name = self._lookup(Path(name).name)
        if len(by_name) == 1:
            return self._record(by_name[0], source)
        stem = Path(name).stem
        by_stem = [p for ext in IMAGE_EXTENSIONS for p in self._lookup(stem + ext)]
        if len(by_stem) == 1:
            self.report.warn("image path does not match the file on disk; matched by name",
                             f"{source}: {name!r} -> {by_stem[0].name}")
            return self._record(by_stem[0], source)
        reason = "ambiguous (several files match)" if len(by_name) > 1 or len(by_stem) > 1 else "not found"
        self.report.warn(f"image {reason}; its annotations were skipped", f"{source}: {name}")
        return None

    def _lookup(self, filename: str) -> list[Path]:
        if self._files_by_name is None:
            from ..imaging import find_images

            self._files_by_name = {}
            for p in find_images(self.store.image_root):
                self._files_by_name.setdefault(p.name.lower(), []).append(p)
        return self._files_by_name.get(filename.lower(), [])

    def _record(self, file: Path, source: str) -> tuple[ImageRecord, Path] | None:
        try:
            rel = self.store.relative_image_path(file.resolve())
        except ProjectError:
            self.report.warn("image is outside the project's image root; its annotations were skipped",
                             f"{source}: {file}")
            return None
        known = self._by_path.get(rel) or self._pending.get(rel)
        if known is not None:
            return known, file
        try:
            info = read_image_info(file)
        except ImageReadError as exc:
            self.report.warn("image unreadable; its annotations were skipped", str(exc))
            return None
        record = ImageRecord(None, rel, info.width, info.height, ImageStatus.UNLABELED)
        self._pending[rel] = record
        return record, file

    def commit_new_images(self) -> dict[str, ImageRecord]:
        """Add the images found during resolution (inside the caller's transaction)."""
        added = self.store.add_images(self._pending.values())
        self.report.images_added += len(added)
        stored = {im.path: im for im in added}
        self._by_path.update(stored)
        self._pending.clear()
        return stored

    def stored(self, record: ImageRecord) -> ImageRecord:
        return self._by_path[record.path]


def store_planned(store: ProjectStore, resolver: ImageResolver, report: ImportReport,
                  planned: list[tuple[ImageRecord, list[tuple[str, Instance]]]],
                  category_names: Sequence[str] = (), attributes: AttributeImport | None = None) -> None:
    """Write what an import found, in one transaction: new images, new categories (by
    name), and each image's instances (given as (category name, instance)). An image that
    already has labels is skipped, so importing the same file twice adds nothing. Every
    name in category_names becomes a category, used or not. With `attributes`, its new
    attribute specs, values and image tags go into the same transaction (its add_image
    must have been given every planned image).

    Other processes (the window, the trainer) write to the same project, so the write lock
    is held only for the SQL: every shape is serialised and measured first, with no lock."""
    staged = store.stage_labels(  # shapes serialised and measured, rows staged: no lock yet
        (record.path, [(name, store.prepare_instance(inst)) for name, inst in named_instances])
        for record, named_instances in planned)
    with store.transaction():  # the one short transaction: all of the import or none of it
        resolver.commit_new_images()
        if attributes is not None:
            attributes.mark()
        written = store.write_staged(staged, category_names)
        if attributes is not None:
            attributes.write()
    report.categories_added += written.categories_added
    report.instances_added += written.instances_added
    report.images_labeled += written.images_labeled
    for path in written.skipped:
        report.warn("image already has labels in the project; not imported again", path)


def checked_shape(make: Callable[[], Shape | None], kind: str, where: str, report: ImportReport) -> Shape | None:
    """An importer's shape, or None with one warning: `make` builds it (validated), returning
    None or raising EmptyShape for a degenerate one, ShapeError for one the project refuses."""
    try:
        made = make()
    except validate.EmptyShape:
        made = None
    except validate.ShapeError as exc:
        report.warn(f"shape rejected ({exc}); skipped", where)
        return None
    if made is None:
        report.warn(f"degenerate {kind} (no area); skipped", where)
    return made


def merge_parts(shapes: list[Shape], record: ImageRecord) -> Shape:
    """One instance from the shapes a file groups together (labelme's and CVAT's group_id),
    checked again as a whole. The parts are counted before any union: 20,000 of them once ran
    86 s and then out of memory."""
    if len(shapes) == 1:
        return shapes[0]  # checked already
    validate.check_counts([], sum(len(s.parts) if isinstance(s, Polygons) else 1 for s in shapes))
    merged = shapes[0]
    for other in shapes[1:]:
        merged = geometry.union(merged, other, record.height, record.width)
    return validate.check_shape(merged, record.height, record.width)
