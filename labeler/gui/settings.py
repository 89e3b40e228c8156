"""The window's settings: one ini file per user (window layout, brush, recent projects...)."""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings, QStandardPaths


def settings() -> QSettings:
    """One ini file; LABELER_SETTINGS points elsewhere (tests use a temporary one)."""
    path = os.environ.get("LABELER_SETTINGS") or os.path.join(
        QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation),
        "labeler", "labeler.ini")
    return QSettings(path, QSettings.Format.IniFormat)
