"""Kill -9 the running app in the middle of a session: every edit it had committed is there
when the project is opened again, and the half-drawn shape is simply not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from labeler.core.entities import ImageStatus
from labeler.store import ProjectStore

REPO = Path(__file__).resolve().parents[2]

SESSION = r"""
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
app = QApplication([])
from labeler.store import ProjectStore
from labeler.gui.main_window import MainWindow
from tests.gui.conftest import Person

window = MainWindow(ProjectStore.open(sys.argv[1]))
window.resize(1000, 700)
window.show()
window.activateWindow()
while QApplication.activeWindow() is not window:  # window shortcuts need an active window
    app.processEvents()
window.canvas.setFocus()
window.canvas.fit()
me = Person(None, window)
me.key(Qt.Key.Key_P)
for xy in [(50, 50), (150, 60), (140, 160)]:
    me.click(*xy)
me.key(Qt.Key.Key_Return)
print("committed", len(window.session.instances), flush=True)
me.key(Qt.Key.Key_R)
me.drag([(200, 200), (260, 250)])
print("committed", len(window.session.instances), flush=True)
me.key(Qt.Key.Key_P)
me.click(300, 20)
me.click(350, 30)  # left unfinished
print("drawing", flush=True)
app.exec()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_session_loses_no_committed_edit(project: Path, tmp_path: Path):
    env = dict(os.environ, LABELER_SETTINGS=str(tmp_path / "kill.ini"),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", SESSION, str(project)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line.strip())
            if line.strip() == "drawing":
                break
        assert lines == ["committed 1", "committed 2", "drawing"], proc.stderr.read()  # type: ignore[union-attr]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    with ProjectStore.open(project) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        image = store.images()[0]
        instances = store.instances(image.id)
        assert len(instances) == 2  # the polygon and the rectangle; not the half-drawn one
        assert [i.shape.vertex_count for i in instances] == [3, 4]
        assert store.get_image(image.id).status == ImageStatus.IN_REVIEW
