"""The settings that outlive a window: the recent projects, the offline switch and the
assist model's weights folder.

Both are in the user's settings file (settings.py), not in a project: they are about the
person and the machine.
"""

from __future__ import annotations

from pathlib import Path

from .settings import settings

RECENT_KEY = "recent/projects"
RECENT_MAX = 10
OFFLINE_KEY = "model/offline"
ASSIST_MODEL_KEY = "assist/model"


def recent_projects() -> list[Path]:
    """Most recent first. A project that has gone since is still listed (opening it says why
    it cannot, and drops it)."""
    value = settings().value(RECENT_KEY) or []
    if isinstance(value, str):  # an ini file holds a one-item list as a plain string
        value = [value]
    return [Path(p) for p in value if p]


def _save(paths: list[Path]) -> None:
    st = settings()
    st.setValue(RECENT_KEY, [p.as_posix() for p in paths[:RECENT_MAX]])
    st.sync()


def remember_project(project_dir: Path) -> None:
    project_dir = Path(project_dir).resolve()
    _save([project_dir] + [p for p in recent_projects() if p != project_dir])


def forget_project(project_dir: Path) -> None:
    project_dir = Path(project_dir).resolve()
    _save([p for p in recent_projects() if p != project_dir])


def clear_recent_projects() -> None:
    _save([])


def offline() -> bool:
    """True: the model never tries to download weights (for machines that must not reach
    the network). `labeler gui --offline` does the same for one run."""
    return as_bool(settings().value(OFFLINE_KEY, False))


def set_offline(value: bool) -> None:
    st = settings()
    st.setValue(OFFLINE_KEY, bool(value))
    st.sync()


def assist_model() -> str | None:
    """The assist model the person chose (a folder or a name); None: the default."""
    value = settings().value(ASSIST_MODEL_KEY)
    return str(value) if value else None


def set_assist_model(value: str | None) -> None:
    st = settings()
    st.setValue(ASSIST_MODEL_KEY, value or "")
    st.sync()


def as_bool(value) -> bool:
    """A boolean as an ini file gives it back (the string 'true') or as it was set."""
    return value.strip().lower() in ("true", "1", "yes") if isinstance(value, str) else bool(value)


def as_float(value, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):  # absent, or a hand-edited settings file
        return default
