"""Reading and writing annotation files: COCO JSON (in and out), labelme JSON (in)."""

from .coco import ExportResult, export_coco, import_coco
from .common import FormatError, ImportReport
from .images import ImageReadError, find_images, read_image_info, scan_images
from .labelme import import_labelme

__all__ = [
    "ExportResult", "FormatError", "ImageReadError", "ImportReport", "export_coco",
    "find_images", "import_coco", "import_labelme", "read_image_info", "scan_images",
]
