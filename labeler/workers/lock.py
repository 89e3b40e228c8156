"""One trainer per project: an exclusive lock on PROJECT/models/.trainer.lock that says who holds it.

The operating system drops the lock when its holder dies, however it dies. The holder also
writes who it is into the file (pid, kind, when it started), so a refusal names it in one
sentence, and so a trainer left behind by a window that is gone can be told from one that
is working: the first does not block a new start (it is given a few seconds to end by its
lifeline, then ended), a live `labeler train` or the trainer of a live window does.

Process liveness, parents and creation times come from psutil (correct on Windows too,
where there is no signal 0 to probe a pid with, and where a dead parent's pid is not
replaced by init's); a pid is only trusted together with its process's creation time, so a
reused pid is never taken for the old process.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import psutil

from ..core.errors import UserError
from .suggest import MODELS_DIR

LOCK_NAME = ".trainer.lock"
TRAIN, WINDOW = "train", "window"  # `labeler train` | the trainer process of a window
ORPHAN_GRACE_S = 5.0  # how long a window-less trainer gets to end by itself before it is ended
UNKNOWN_WAIT_S = 2.0  # how long a holder that has not written its name yet is waited for
_WINDOWS_LOCK_OFFSET = 1 << 30  # msvcrt locks a byte range; this one is far from the record


@dataclass(frozen=True)
class Holder:
    """Who holds a project's trainer lock."""

    pid: int
    kind: str  # TRAIN | WINDOW
    started: float  # the process's creation time (psutil): tells a reused pid apart
    since: str = ""  # when it took the lock, local time, for people
    parent: int | None = None  # WINDOW: the window's pid...
    parent_started: float | None = None  # ...and its creation time
    host: str = ""  # the machine it runs on (a project on shared storage can be trained from another)

    @classmethod
    def me(cls, kind: str) -> "Holder":
        parent = parent_started = None
        if kind == WINDOW:
            parent = os.getppid()
            parent_started = _created(parent)
        return cls(os.getpid(), kind, _created(os.getpid()) or 0.0, time.strftime("%H:%M"), parent, parent_started,
                   socket.gethostname())

    @property
    def local(self) -> bool:
        """On this machine: its processes can be looked at (else it is taken to be alive)."""
        return not self.host or self.host == socket.gethostname()

    def describe(self) -> str:
        """Who it is, as the subject of a sentence."""
        where = "" if self.local else f" on {self.host}"
        since = f", since {self.since}" if self.since else ""
        if self.kind == WINDOW:
            return (f"the trainer of another labeler window (window pid {self.parent}, trainer pid {self.pid}"
                    f"{where}{since})")
        return f"labeler train (pid {self.pid}{where}{since})"

    def running(self) -> bool:
        """The process that took the lock is still there (not a later one with its pid)."""
        return not self.local or _same(self.pid, self.started)

    def orphaned(self) -> bool:
        """A window's trainer whose window is gone (or is no longer its parent)."""
        if self.kind != WINDOW or self.parent is None or not self.local:
            return False
        if not _same(self.parent, self.parent_started):
            return True
        try:
            return psutil.Process(self.pid).ppid() != self.parent  # POSIX: re-parented when the window died
        except psutil.NoSuchProcess:
            return True
        except psutil.Error:
            return False

    def blocks(self) -> bool:
        """Whether a new trainer must wait for this one."""
        return self.running() and not self.orphaned()


class TrainerBusy(UserError, RuntimeError):
    """Another trainer holds this project's lock. `sentence` says so without the project's
    path; `holder` is who, when it can be watched for its end (None: not known)."""

    def __init__(self, project_dir: Path, sentence: str, holder: Holder | None = None) -> None:
        super().__init__(f"{project_dir}: {sentence}")
        self.sentence, self.holder = sentence, holder


def lock_path(project_dir: str | os.PathLike) -> Path:
    return Path(project_dir) / MODELS_DIR / LOCK_NAME


def read_holder(project_dir: str | os.PathLike) -> Holder | None:
    """The holder named in the lock file; None when there is none (or it is being written).
    Only meaningful while the lock is held: a released lock leaves the file empty."""
    try:
        record = json.loads(lock_path(project_dir).read_bytes() or b"null")
        known = {f.name for f in fields(Holder)}  # a newer labeler may say more
        return Holder(**{k: v for k, v in record.items() if k in known}) if isinstance(record, dict) else None
    except (OSError, ValueError, TypeError):
        return None


class TrainerLock:
    """The project's trainer lock, held for as long as a trainer lives. `kind`: TRAIN for
    `labeler train` (the default), WINDOW for the trainer process a window starts."""

    def __init__(self, project_dir: str | os.PathLike, kind: str = TRAIN) -> None:
        self.project_dir = Path(project_dir)
        self.path = lock_path(project_dir)
        self.kind = kind
        self._file = None

    def acquire(self) -> "TrainerLock":
        """Take the lock, clearing a trainer left behind by a window that is gone; raise
        TrainerBusy naming the holder when a live trainer has it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        unknown_until = time.monotonic() + UNKNOWN_WAIT_S
        ended: Holder | None = None
        while not self._try_lock():
            holder = read_holder(self.project_dir)
            if holder is None or not holder.running():
                # The holder has not written its name yet (or the file is from an older labeler).
                if time.monotonic() < unknown_until:
                    time.sleep(0.1)
                    continue
                raise TrainerBusy(self.project_dir, f"another trainer is training this project (it holds {self.path})")
            if not holder.orphaned():
                raise TrainerBusy(self.project_dir, f"{holder.describe()} is training this project", holder)
            if holder == ended:
                raise TrainerBusy(self.project_dir, f"{holder.describe()} was left behind by a window that is gone, "
                                  "and it could not be ended")
            end_orphan(holder)
            ended = holder
        self._write(Holder.me(self.kind))
        return self

    def _try_lock(self) -> bool:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0)  # Windows: no newline translation
        handle = os.fdopen(os.open(self.path, flags, 0o644), "r+b")
        try:
            if os.name == "nt":
                import msvcrt

                handle.seek(_WINDOWS_LOCK_OFFSET)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def _write(self, holder: Holder) -> None:
        handle = self._file
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(asdict(holder)).encode())
        handle.flush()

    def release(self) -> None:
        if self._file is not None:
            try:
                self._file.seek(0)
                self._file.truncate()  # nobody's name in it: the next holder writes its own
            except OSError:
                pass
            self._file.close()  # closing the file releases the lock
            self._file = None

    def __enter__(self) -> "TrainerLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def end_orphan(holder: Holder, grace: float | None = None) -> None:
    """Give a window-less trainer `grace` seconds to end (its lifeline ends it when its window
    dies), then end it. Returns when it is gone or could not be ended."""
    try:
        process = psutil.Process(holder.pid)
        if not _same(holder.pid, holder.started):
            return
        _, alive = psutil.wait_procs([process], timeout=ORPHAN_GRACE_S if grace is None else grace)
        if alive:
            process.kill()
            psutil.wait_procs([process], timeout=ORPHAN_GRACE_S)
    except psutil.NoSuchProcess:
        pass
    except psutil.Error:  # not ours to end (another user's): acquire says so
        pass


def _created(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _same(pid: int, started: float | None) -> bool:
    """The process `pid` is alive and is the one created at `started`."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(process.create_time() - started) < 0.01
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # it exists; whose it is cannot be told
