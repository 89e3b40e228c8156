#!/usr/bin/env bash
# Build the one-folder desktop app with PyInstaller (labeler.spec):
#   packaging/build.sh [--venv DIR] [--out DIR] [--reuse-venv]
# DIR defaults: --venv /tmp/pkg-venv, --out /tmp/pkg-build (the app: OUT/dist/labeler/labeler).
# The build environment is its own virtual environment with a normal install of a copy of
# this checkout (so the bundle holds the installed package, its assets from the wheel's
# data-files, and nothing of .venv); PyInstaller runs from OUT, never inside the checkout.
# PYTHON picks the interpreter (default python3; it needs a shared libpython, e.g. pyenv
# with --enable-shared). TORCH_INDEX installs torch and torchvision from that index first,
# e.g. PyTorch's CPU-only wheels (no CUDA libraries, a much smaller app):
#   TORCH_INDEX=https://download.pytorch.org/whl/cpu packaging/build.sh --venv /tmp/pkg-venv-cpu --out /tmp/pkg-build-cpu
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
VENV=/tmp/pkg-venv
OUT=/tmp/pkg-build
REUSE=0
PYTHON=${PYTHON:-python3}
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) VENV=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --reuse-venv) REUSE=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"

if [ "$REUSE" = 0 ] || [ ! -x "$VENV/bin/pyinstaller" ]; then
  rm -rf "$VENV" "$OUT/src"
  mkdir -p "$OUT/src"
  # a copy of the checkout without its virtual environment and build leftovers: pip builds
  # the wheel in the source folder, which must not be the checkout
  tar -C "$REPO" --exclude=./.venv --exclude=./.git --exclude='*.egg-info' --exclude=__pycache__ \
      --exclude=./build --exclude=./dist -cf - . | tar -xf - -C "$OUT/src"
  "$PYTHON" -m venv "$VENV"
  if [ -n "${TORCH_INDEX:-}" ]; then
    "$VENV/bin/python" -m pip install torch torchvision --index-url "$TORCH_INDEX"
  fi
  "$VENV/bin/python" -m pip install "$OUT/src" "pyinstaller>=6.22,<6.23" "pyinstaller-hooks-contrib>=2026.1"
fi

start=$(date +%s)
cd "$OUT"
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath "$OUT/dist" --workpath "$OUT/build" "$HERE/labeler.spec" 2>&1 | tee "$OUT/pyinstaller.log"
end=$(date +%s)
echo "build.sh: PyInstaller took $((end - start)) s; the app: $OUT/dist/labeler/labeler"
du -sh "$OUT/dist/labeler"
