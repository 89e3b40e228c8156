"""ARCHITECTURE.md rule 1: only labeler/gui imports Qt; core, geometry, store and formats
import no torch either (they must stay light and run anywhere)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "labeler"
QT = {"PySide6", "PyQt5", "PyQt6", "qtpy", "shiboken6"}
TORCH = {"torch", "torchvision"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_gui_imports_qt():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if "gui" not in p.relative_to(PACKAGE).parts and imported_modules(p) & QT]
    assert offenders == []


def test_model_free_layers_import_no_torch():
    layers = ("core", "geometry", "store", "formats", "assist")
    offenders = [str(p.relative_to(PACKAGE)) for layer in layers for p in (PACKAGE / layer).rglob("*.py")
                 if imported_modules(p) & TORCH]
    assert offenders == []


def test_headless_entry_points_load_no_qt_at_run_time():
    code = ("import sys, labeler.cli, labeler.store, labeler.formats, labeler.geometry, labeler.demo; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in %r); print(bad); "
            "sys.exit(1 if bad else 0)" % (QT,))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
