"""The labeling window: the only package that imports PySide6 (tests/test_layering.py checks)."""
