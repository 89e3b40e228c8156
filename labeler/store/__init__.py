"""The SQLite project store: the only package that writes a project's database."""

from .attributes import AttributeImport, with_defaults
from .bulk import LabelsWritten, PreparedInstance
from .meta import MetaKey
from .project_store import BUSY_TIMEOUT_S, DB_NAME, InstanceRow, ProjectBusy, ProjectError, ProjectStore
from .schema import SCHEMA_VERSION

__all__ = ["AttributeImport", "BUSY_TIMEOUT_S", "DB_NAME", "InstanceRow", "LabelsWritten", "MetaKey", "PreparedInstance",
           "ProjectBusy", "ProjectError", "ProjectStore", "SCHEMA_VERSION", "with_defaults"]
