"""What the store raises: one line each, for the window's message and the CLI's error line."""

from __future__ import annotations

import sqlite3

from ..core.errors import UserError


class ProjectError(UserError):
    """A project cannot be created, opened or changed as asked. The message says why."""


class ProjectBusy(ProjectError, sqlite3.OperationalError):
    """Another process held the project's write lock for longer than BUSY_TIMEOUT_S.
    Also an sqlite3.OperationalError, so code that catches SQLite errors still catches it."""
