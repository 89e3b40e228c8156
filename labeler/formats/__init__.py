"""Reading and writing annotation files: COCO JSON, YOLO segmentation and CVAT for images
1.1 XML (in and out), labelme JSON (in and out), mask PNGs (out). projects.FORMATS lists them
as the command line and the File menu offer them."""

from .coco import export_coco, import_coco
from .common import ExportResult, FormatError, ImportReport
from .cvat import export_cvat
from .cvat_import import import_cvat
from .labelme import import_labelme
from .labelme_export import export_labelme
from .masks import export_masks
from .yolo import export_yolo
from .yolo_import import import_yolo

__all__ = [
    "ExportResult", "FormatError", "ImportReport", "export_coco", "export_cvat", "export_labelme",
    "export_masks", "export_yolo", "import_coco", "import_cvat", "import_labelme", "import_yolo",
]
