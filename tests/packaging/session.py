"""Start labeler's window as a person would (a separate process, offscreen), wait until it is
really open, end it with a signal and check that it ended cleanly. Shared by
test_sigterm.py (the installed package) and test_frozen_app.py (the PyInstaller build).

"Open" is read from what the app writes, never from a clock: the window puts the project
on the recent list (the settings file, LABELER_SETTINGS) right after it is shown, and the
assist model's worker writes each image embedding it computes to the cache folder
(XDG_CACHE_HOME). A clean end: the exit status a shell gives for the signal (128 + N, as
labeler/gui/app.py documents), no traceback, the window's settings saved (its closeEvent
ran, as on File > Quit) and none of its worker processes left.
"""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

HANG_GUARD_S = 300  # only so that a hung app fails the test instead of hanging CI; not a speed check


@dataclass
class Ended:
    returncode: int
    stdout: str
    stderr: str
    workers: list[psutil.Process]  # the app's child processes just before the signal
    described: dict[int, str]  # pid: "parent pid, command line", as they were then


def app_env(tmp: Path, frozen: bool = False) -> dict[str, str]:
    """Offscreen, with its own settings file and caches; a frozen app gets no PYTHONPATH (it
    must run on what it carries)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LABELER_SETTINGS=str(tmp / "settings.ini"),
               XDG_CACHE_HOME=str(tmp / "cache"), XDG_DATA_HOME=str(tmp / "data"))
    if frozen:
        for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            env.pop(name, None)
    return env


def settings(tmp: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(tmp / "settings.ini")
    except configparser.Error:  # caught while Qt writes it: read again next time
        pass
    return parser


def embeddings(tmp: Path) -> list[Path]:
    return sorted((tmp / "cache" / "labeler" / "embeddings").glob("*.safetensors"))


def wait_until(proc: subprocess.Popen, opened, what: str) -> None:
    """Until opened() is true; fails (with the app's stderr) if the app ends first."""
    deadline = time.monotonic() + HANG_GUARD_S
    while not opened():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the app ended (status {proc.returncode}) before {what}:\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"no {what} after {HANG_GUARD_S} s (hung?):\n{err}")
        time.sleep(0.2)


def run_window(command: list[str], project: Path, tmp: Path, sig=signal.SIGTERM, with_assist: bool = False,
               cwd: Path | None = None, env: dict[str, str] | None = None) -> Ended:
    """Open `project` with `command` (e.g. [labeler, "gui"]), wait until the window is open
    (and, with_assist, until the assist worker has encoded an image), send `sig`, and wait
    for the end."""
    proc = subprocess.Popen([*command, str(project)], cwd=cwd or tmp, env=env or app_env(tmp),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        recent = project.resolve().as_posix()
        wait_until(proc, lambda: recent in settings(tmp).get("recent", "projects", fallback=""),
                   "the window opened the project")
        if with_assist:
            wait_until(proc, lambda: bool(embeddings(tmp)), "the assist worker encoded an image")
        workers = psutil.Process(proc.pid).children(recursive=True)
        described = {p.pid: _describe(p) for p in workers}
        proc.send_signal(sig)
        try:
            out, err = proc.communicate(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {HANG_GUARD_S} s after signal {sig}: the signal "
                                 "is not handled") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return Ended(proc.returncode, out, err, workers, described)


def assert_clean_end(ended: Ended, tmp: Path, sig=signal.SIGTERM) -> None:
    assert ended.returncode == 128 + sig, (ended.returncode, ended.stderr)
    assert "Traceback" not in ended.stderr, ended.stderr
    # the window's closeEvent ran (File > Quit's path): it saves the layout
    assert settings(tmp).get("window", "geometry", fallback=None), "the window's settings were not saved"
    # The workers are stopped and joined by the window (workers/client.py stop): none may be
    # running once the app has exited. multiprocessing's resource tracker is not joined: it
    # ends when it reads end-of-file from the app's pipe, i.e. just after the app is gone, so
    # it only has to end (within ORPHAN_GRACE_S, a bound on a leak, not a speed check).
    trackers = [p for p in ended.workers if "multiprocessing.resource_tracker" in ended.described[p.pid]]
    workers = [p for p in ended.workers if p not in trackers]
    left = [p for p in workers if _running(p)]
    _, lingering = psutil.wait_procs([p for p in trackers if _running(p)], timeout=ORPHAN_GRACE_S)
    left += [p for p in lingering if _running(p)]
    assert not left, "worker processes left running: " + "; ".join(
        f"{p.pid} (then: {ended.described[p.pid][:200]}; now: {_describe(p)[:100]})" for p in left)


ORPHAN_GRACE_S = 30


def _running(process: psutil.Process) -> bool:
    """The same process (not a reused pid) and not a zombie."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _describe(process: psutil.Process) -> str:
    try:
        return f"parent {process.ppid()}, {process.status()}, {' '.join(process.cmdline())}"
    except psutil.Error as exc:
        return type(exc).__name__
