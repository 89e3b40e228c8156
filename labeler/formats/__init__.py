"""Reading and writing annotation files: COCO JSON (in and out), labelme JSON (in)."""

from .coco import ExportResult, export_coco, import_coco
from .common import FormatError, ImportReport
from .labelme import import_labelme

__all__ = [
    "ExportResult", "FormatError", "ImportReport", "export_coco", "import_coco", "import_labelme",
]
