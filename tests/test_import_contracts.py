"""The layers (docs/architecture.md) are import-linter contracts in pyproject.toml; this runs
them, shows that they catch a forbidden import, and checks at run time what a static graph
cannot tell apart: imports made inside functions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())"]


def lint(root: Path) -> subprocess.CompletedProcess:
    """lint-imports on the package under root (the first 'labeler' on the path there)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([*LINT, "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True)


def test_the_contracts_hold():
    run = lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


@pytest.mark.parametrize("module, line, broken", [
    # a relative import up the layers (the old AST test ignored relative imports)
    ("workers/protocol.py", "from ..gui.session import Session", "Layers"),
    # the store reaching a model layer: wrong both by layer and because it brings torch
    ("store/effort.py", "from ..ml.engine import evaluate", "The model-free layers import no torch"),
    # Qt inside a function of a headless layer still counts
    ("core/names.py", "def _window():\n    import PySide6.QtCore", "Only the window imports Qt"),
    # transitively: formats -> workers.suggest -> ml -> torch
    ("formats/coco.py", "from ..workers.suggest import Suggester", "The model-free layers import no torch"),
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line, broken):
    shutil.copytree(ROOT / "labeler", tmp_path / "labeler", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "labeler" / module
    target.write_text(target.read_text() + "\n\n" + line + "\n")
    run = lint(tmp_path)
    assert run.returncode != 0, run.stdout
    assert f"{broken}" in run.stdout.split("Broken contracts")[-1], run.stdout
    assert str(tmp_path) in subprocess.run(  # the copy was linted, not the installed package
        [sys.executable, "-c", "import labeler; print(labeler.__file__)"], cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)}, capture_output=True, text=True).stdout


def _loaded(code: str, prefixes: tuple[str, ...]) -> list[str]:
    script = f"import sys; {code}; print(sorted(m for m in sys.modules if m.split('.')[0] in {prefixes!r}))"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert run.returncode == 0, run.stderr
    return eval(run.stdout.strip().splitlines()[-1])


def test_the_command_line_loads_no_qt_until_a_window_is_wanted():
    # cli/window_commands imports the window inside a function, which the contracts allow
    assert _loaded("import labeler.cli, labeler.projects, labeler.demo, labeler.workers.suggest",
                   ("PySide6", "shiboken6")) == []


def test_the_window_loads_no_torch():
    # the window imports worker modules whose functions import torch in the worker processes
    assert _loaded("import labeler.gui.app, labeler.gui.main_window", ("torch", "torchvision", "transformers")) == []
