"""labeler.assist is Qt-free and torch-free (the GUI runs it on a thread, `labeler simulate`
headless): importing it loads neither, transitively."""

from __future__ import annotations

import subprocess
import sys


def test_assist_loads_no_qt_and_no_torch():
    code = ("import sys, labeler.assist; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'torch', 'torchvision', 'PySide6', 'shiboken6', 'PyQt5', 'PyQt6', 'qtpy'}); "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
