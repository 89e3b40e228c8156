"""Real processes for the orphan and lock tests: start a Python script, read what it prints,
wait (with a generous deadline, never asserting on time) for processes to be gone, and
clean up whatever a failing test leaves behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]

# A trainer-lock holder that stays until killed; argv: project, kind.
HOLDER = r"""
import sys, time
from labeler.workers.lock import TrainerLock
held = TrainerLock(sys.argv[1], kind=sys.argv[2]).acquire()  # kept: a collected lock is released
print("locked", flush=True)
time.sleep(3600)
"""

# A stand-in window: starts a window-kind holder with no lifeline (as a stuck trainer would
# be) and says its pid; argv: project.
WINDOW = r"""
import subprocess, sys, time
holder = subprocess.Popen([sys.executable, "-c", sys.argv[2], sys.argv[1], "window"], stdout=subprocess.PIPE,
                          text=True)
assert holder.stdout.readline().strip() == "locked"
print(holder.pid, flush=True)
time.sleep(3600)
"""


def idle(config, inbox, outbox) -> None:
    """A stand-in worker (light to import): says it is up, then waits for its Shutdown."""
    outbox.put("up")
    inbox.get()


def python(script: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def first_line(proc: subprocess.Popen) -> str:
    """What the script printed first; its stderr in the failure when it printed nothing."""
    line = proc.stdout.readline().strip()  # type: ignore[union-attr]
    if not line:
        proc.wait(timeout=30)
        why = proc.stderr.read()  # type: ignore[union-attr]
        raise AssertionError(f"the script said nothing (exit {proc.returncode}): {why}")
    return line


def holder(project: Path, kind: str = "train") -> subprocess.Popen:
    proc = python(HOLDER, str(project), kind)
    assert first_line(proc) == "locked"
    return proc


def window_with_holder(project: Path) -> tuple[subprocess.Popen, int]:
    """(the stand-in window, the pid of the lock holder it started)."""
    proc = python(WINDOW, str(project), HOLDER)
    return proc, int(first_line(proc))


def running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def still_running(processes, deadline_s: float) -> list[psutil.Process]:
    """Those of `processes` that are still there once they are all gone or the deadline passed."""
    deadline = time.monotonic() + deadline_s
    left = [p for p in processes if running(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in left if running(p)]
    return left


def describe(processes) -> str:
    out = []
    for p in processes:
        try:
            out.append(f"{p.pid} (parent {p.ppid()}): {' '.join(p.cmdline())[:160]}")
        except psutil.Error:
            out.append(str(p.pid))
    return "; ".join(out)


def kill_all(processes) -> None:
    """Cleanup for a failing test: nothing it started may outlive it."""
    for p in processes:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs([p for p in processes if isinstance(p, psutil.Process)], timeout=10)


def kill_and_watch(parent: subprocess.Popen, deadline_s: float) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """SIGKILL `parent` (it has said its first line); returns (its descendants as they were,
    those still running `deadline_s` seconds later). The caller kill_all()s the first list."""
    import signal

    ours = psutil.Process(parent.pid).children(recursive=True)  # the workers, the resource tracker
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=30)
    return ours, still_running(ours, deadline_s=deadline_s)
