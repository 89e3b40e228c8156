"""Qt-free, torch-free model of a labeling project: entities, commands, undo history."""

from .attributes import AttributeKind, AttributeSpec, Attributes
from .entities import (
    Category, ImageRecord, ImageStatus, Instance, InstanceStatus, MaskRLE, Polygons,
    Provenance, ProvenanceKind, Shape, palette_color,
)
from .history import Histories, History
from . import commands

__all__ = [
    "AttributeKind", "AttributeSpec", "Attributes",
    "Category", "ImageRecord", "ImageStatus", "Instance", "InstanceStatus", "MaskRLE",
    "Polygons", "Provenance", "ProvenanceKind", "Shape", "palette_color",
    "History", "Histories", "commands",
]
