"""PySide6 6.12.0 on Python 3.11 drops a reference to None on every call of a method that
returns void; after some tens of thousands of calls the app aborts ('deallocating None').
pyproject.toml excludes that build; this test catches it (or a new one like it) early. A
few hundred calls are enough to see the leak and far too few to crash the process."""

from __future__ import annotations

import sys

import pytest

QtGui = pytest.importorskip("PySide6.QtGui")


def test_void_qt_calls_keep_none_refcount():
    color = QtGui.QColor(10, 20, 30)
    pen = QtGui.QPen()
    before = sys.getrefcount(None)
    for k in range(300):
        color.setAlpha(k % 256)
        pen.setWidthF(1.0 + k % 3)
    after = sys.getrefcount(None)
    # Unrelated code can take or drop a few references; the broken build loses 600 here.
    assert abs(after - before) < 50, f"None refcount went from {before} to {after}"
