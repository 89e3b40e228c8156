"""Image embeddings on disk, under a size cap: the assist model's encoder runs once per image
and model, not once per visit.

One safetensors file per (model, image file) (no pickle: a cache file is only ever read as
tensors); the key hashes the model's name, the file's absolute path, size and modification
time, so an image edited on disk is encoded again. Float16 on disk: a SAM 2.1 embedding
is 8.4 MB instead of 16.8. When the files pass the cap, the least recently used go first
(a read touches its file). Writes go to a temporary name and are renamed into place, so a
crash never leaves half a file under a real name; an unreadable file is deleted and
counts as a miss.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

SUFFIX = ".safetensors"


def default_cache_dir() -> Path:
    """The user's cache folder for labeler's embeddings (XDG on Linux, Caches on macOS,
    LOCALAPPDATA on Windows)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "labeler" / "embeddings"


def cache_key(model: str, image_path: Path) -> str:
    """The model, the file (path, size, time) and how its pixels are decoded (PIXEL_RULE: a
    change of rule, such as applying EXIF orientation, must not reuse older embeddings)."""
    from ..imaging import PIXEL_RULE

    stat = image_path.stat()
    text = f"{model}\0{PIXEL_RULE}\0{image_path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    def __init__(self, folder: Path, cap_bytes: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.cap = max(0, int(cap_bytes))
        self._sizes: dict[Path, int] = {}
        for path in self.folder.glob("*" + SUFFIX):
            try:
                self._sizes[path] = path.stat().st_size
            except OSError:
                pass

    @property
    def total(self) -> int:
        return sum(self._sizes.values())

    def _path(self, key: str) -> Path:
        return self.folder / (key + SUFFIX)

    def get(self, key: str) -> dict | None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = self._path(key)
        if path not in self._sizes and not path.is_file():
            return None
        try:
            tensors = load_file(path)
            os.utime(path)  # recently used
            return tensors
        except (OSError, SafetensorError, ValueError):
            self._forget(path)
            return None

    def put(self, key: str, tensors: dict) -> None:
        from safetensors.torch import save_file

        path = self._path(key)
        partial = path.with_name(path.name + f".{os.getpid()}.part")
        try:
            save_file(tensors, partial)
            os.replace(partial, path)
            self._sizes[path] = path.stat().st_size
        except OSError:  # a full disk or a read-only cache: the embedding is simply not kept
            partial.unlink(missing_ok=True)
            return
        self._trim(keep=path)

    def _trim(self, keep: Path) -> None:
        if self.total <= self.cap:
            return
        def used(p: Path) -> float:
            try:
                return p.stat().st_mtime
            except OSError:
                return 0.0
        for path in sorted(self._sizes, key=used):
            if self.total <= self.cap:
                break
            if path != keep:
                self._forget(path)
        if self.total > self.cap:  # the cap is smaller than one embedding: keep none
            self._forget(keep)

    def _forget(self, path: Path) -> None:
        self._sizes.pop(path, None)
        try:
            path.unlink()
        except OSError:
            pass
