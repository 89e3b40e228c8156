"""The SQLite project store: the only package that writes a project's database."""

from .project_store import DB_NAME, InstanceRow, ProjectError, ProjectStore
from .schema import SCHEMA_VERSION

__all__ = ["DB_NAME", "InstanceRow", "ProjectError", "ProjectStore", "SCHEMA_VERSION"]
