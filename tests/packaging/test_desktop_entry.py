"""packaging/install-desktop-entry.sh into a temporary XDG_DATA_HOME and prefix: the entry and
the icons land where desktops look, Exec names the labeler given (quoted as the Desktop
Entry spec says), and --uninstall removes them again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "packaging" / "install-desktop-entry.sh"
SIZES = (48, 128, 256)

pytestmark = pytest.mark.skipif(sys.platform == "win32" or shutil.which("bash") is None,
                                reason="a freedesktop.org script (bash)")


def fake_labeler(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "labeler"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    return exe


def run(args, data_home: Path, path_dirs=(), **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, XDG_DATA_HOME=str(data_home), HOME=str(data_home.parent / "home"),
               PATH=os.pathsep.join([*map(str, path_dirs), os.environ.get("PATH", "")]))
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, check=False, **kw)


def installed(share: Path) -> list[Path]:
    return [share / "applications" / "labeler.desktop", share / "icons/hicolor/scalable/apps/labeler.svg",
            *[share / f"icons/hicolor/{s}x{s}/apps/labeler.png" for s in SIZES]]


def entry(share: Path) -> dict[str, str]:
    lines = (share / "applications" / "labeler.desktop").read_text().splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if "=" in line)


@pytest.mark.parametrize("xdg", [True, False], ids=["xdg-utils-if-present", "plain-copies"])
def test_user_install_and_uninstall(tmp_path: Path, xdg: bool):
    data = tmp_path / "data"
    exe = fake_labeler(tmp_path / "bin")
    done = run([] if xdg else ["--no-xdg"], data, [exe.parent])
    assert done.returncode == 0, done.stderr
    for path in installed(data):
        assert path.is_file(), path
    assert (data / "icons/hicolor/256x256/apps/labeler.png").read_bytes() == \
        (REPO / "assets/icon/labeler-256.png").read_bytes()
    fields = entry(data)
    assert fields["Exec"] == f'"{exe}" gui %f'
    assert fields["TryExec"] == str(exe)
    assert fields["Icon"] == "labeler" and fields["Type"] == "Application"
    assert not any(k.startswith("MimeType") for k in fields)

    done = run(["--uninstall"] + ([] if xdg else ["--no-xdg"]), data)
    assert done.returncode == 0, done.stderr
    assert not any(p.exists() for p in installed(data))


def test_prefix_install_and_uninstall(tmp_path: Path):
    prefix = tmp_path / "usr-local"
    exe = fake_labeler(tmp_path / "frozen")
    done = run(["--prefix", str(prefix), "--exec", str(exe)], tmp_path / "data")
    assert done.returncode == 0, done.stderr
    for path in installed(prefix / "share"):
        assert path.is_file(), path
    assert not (tmp_path / "data" / "applications" / "labeler.desktop").exists()
    done = run(["--prefix", str(prefix), "--uninstall"], tmp_path / "data")
    assert done.returncode == 0, done.stderr
    assert not any(p.exists() for p in installed(prefix / "share"))


def test_exec_quoting_of_awkward_paths(tmp_path: Path):
    """Spaces, $, backquote, double quote, backslash and % in the path: escaped inside the
    quotes (\\ " ` $ with a backslash, then backslashes doubled for the string), % as %%."""
    exe = fake_labeler(tmp_path / 'my $HOME `x` "q" 50% back\\slash')
    data = tmp_path / "data"
    done = run(["--no-xdg", "--exec", str(exe)], data)
    assert done.returncode == 0, done.stderr
    inner = (str(exe).replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
             .replace("\\", "\\\\").replace("%", "%%"))
    assert entry(data)["Exec"] == f'"{inner}" gui %f'
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(data / "applications" / "labeler.desktop")],
                               capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr


def test_without_labeler_it_says_so_and_installs_nothing(tmp_path: Path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"), PATH=f"{empty}{os.pathsep}/usr/bin{os.pathsep}/bin")
    if any((Path(d) / "labeler").exists() for d in ("/usr/bin", "/bin")):
        pytest.skip("a labeler is installed system-wide")
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "no labeler on PATH" in done.stderr
    assert not (tmp_path / "data" / "applications").exists()


def test_the_shipped_entry_validates():
    if not shutil.which("desktop-file-validate"):
        pytest.skip("desktop-file-validate (desktop-file-utils) is not installed")
    check = subprocess.run(["desktop-file-validate", str(REPO / "packaging" / "labeler.desktop")],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
