#!/usr/bin/env bash
# Put labeler in the desktop's application menu (Linux and other freedesktop.org desktops).
#
#   packaging/install-desktop-entry.sh [--user | --prefix DIR] [--exec PATH] [--no-xdg] [--uninstall]
#
#   --user        (default) for you alone: $XDG_DATA_HOME (else ~/.local/share)/applications
#                 and .../icons/hicolor
#   --prefix DIR  for everyone, under DIR/share (e.g. --prefix /usr/local; needs write access)
#   --exec PATH   the labeler to start (default: `labeler` on PATH, e.g. a pip or venv
#                 install, or the frozen build's dist/labeler/labeler); written into the
#                 entry as an absolute path, because a launcher does not see a venv's PATH
#   --no-xdg      plain copies even where xdg-desktop-menu and xdg-icon-resource exist
#   --uninstall   remove the entry and the icons again (same --user/--prefix)
#
# With --user, xdg-desktop-menu and xdg-icon-resource (xdg-utils) are used when present (they
# also refresh the menu); otherwise, and always with --prefix, the files are copied, and
# update-desktop-database / gtk-update-icon-cache run where they exist.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ICONS=$(dirname "$HERE")/assets/icon
ENTRY=$HERE/labeler.desktop
SIZES="48 128 256"
MODE=user
PREFIX=
EXEC=
USE_XDG=1
ACTION=install

die() { echo "install-desktop-entry.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --user) MODE=user; shift ;;
    --prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; MODE=prefix; PREFIX=$2; shift 2 ;;
    --exec) [ $# -ge 2 ] || die "--exec needs a path"; EXEC=$2; shift 2 ;;
    --no-xdg) USE_XDG=0; shift ;;
    --uninstall) ACTION=uninstall; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

if [ "$MODE" = user ]; then
  DATA=${XDG_DATA_HOME:-$HOME/.local/share}
else
  DATA=$PREFIX/share
  USE_XDG=0  # xdg-utils' system mode writes to the first of XDG_DATA_DIRS, not to a prefix
fi
APPS=$DATA/applications
HICOLOR=$DATA/icons/hicolor
if [ "$USE_XDG" = 1 ] && ! { command -v xdg-desktop-menu && command -v xdg-icon-resource; } >/dev/null 2>&1; then
  USE_XDG=0
fi

refresh() {
  if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database -q "$APPS" || true; fi
  if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$HICOLOR/index.theme" ]; then
    gtk-update-icon-cache -q -t "$HICOLOR" || true
  fi
}

if [ "$ACTION" = uninstall ]; then
  if [ "$USE_XDG" = 1 ]; then
    XDG_DATA_HOME=$DATA xdg-desktop-menu uninstall --mode user labeler.desktop || true
    for size in $SIZES; do
      XDG_DATA_HOME=$DATA xdg-icon-resource uninstall --mode user --noupdate --size "$size" labeler || true
    done
    XDG_DATA_HOME=$DATA xdg-icon-resource forceupdate --mode user || true
  fi
  rm -f "$APPS/labeler.desktop" "$HICOLOR/scalable/apps/labeler.svg"
  for size in $SIZES; do rm -f "$HICOLOR/${size}x${size}/apps/labeler.png"; done
  refresh
  echo "removed labeler's desktop entry and icons from $DATA"
  exit 0
fi

# The command the entry starts, as an absolute path.
if [ -z "$EXEC" ]; then
  EXEC=$(command -v labeler) || die "no labeler on PATH: install it (pip install ...) or give --exec PATH"
fi
case "$EXEC" in /*) ;; *) EXEC=$(cd "$(dirname "$EXEC")" && pwd)/$(basename "$EXEC") ;; esac
[ -x "$EXEC" ] && [ ! -d "$EXEC" ] || die "$EXEC is not an executable file"
for size in $SIZES; do [ -f "$ICONS/labeler-$size.png" ] || die "missing $ICONS/labeler-$size.png"; done

# Exec's quoting rules (Desktop Entry spec): inside double quotes, \ " ` $ are escaped with a
# backslash, and then every backslash is doubled again as the value is a string; % is %%.
quoted=$EXEC
quoted=${quoted//\\/\\\\}; quoted=${quoted//\"/\\\"}; quoted=${quoted//\`/\\\`}; quoted=${quoted//\$/\\\$}
quoted=${quoted//\\/\\\\}
quoted=${quoted//%/%%}
tryexec=${EXEC//\\/\\\\}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
while IFS= read -r line; do  # no sed: its replacement text would treat \ and & specially
  case "$line" in
    "#"*) ;;
    "Exec=labeler "*) printf 'Exec="%s" %s\n' "$quoted" "${line#Exec=labeler }" ;;
    TryExec=*) printf 'TryExec=%s\n' "$tryexec" ;;
    *) printf '%s\n' "$line" ;;
  esac
done < "$ENTRY" > "$work/labeler.desktop"
grep -q '^Exec="' "$work/labeler.desktop" || die "could not write Exec into the entry"
if command -v desktop-file-validate >/dev/null 2>&1; then
  desktop-file-validate "$work/labeler.desktop" || die "the entry does not validate"
fi

if [ "$USE_XDG" = 1 ]; then
  for size in $SIZES; do
    XDG_DATA_HOME=$DATA xdg-icon-resource install --mode user --noupdate --novendor --context apps \
      --size "$size" "$ICONS/labeler-$size.png" labeler
  done
  XDG_DATA_HOME=$DATA xdg-icon-resource forceupdate --mode user
  XDG_DATA_HOME=$DATA xdg-desktop-menu install --mode user --novendor "$work/labeler.desktop"
else
  for size in $SIZES; do
    install -D -m 644 "$ICONS/labeler-$size.png" "$HICOLOR/${size}x${size}/apps/labeler.png"
  done
  install -D -m 644 "$work/labeler.desktop" "$APPS/labeler.desktop"
fi
# scalable/ has no xdg-icon-resource equivalent (it takes PNG and XPM): copied either way
[ -f "$ICONS/labeler.svg" ] && install -D -m 644 "$ICONS/labeler.svg" "$HICOLOR/scalable/apps/labeler.svg"
refresh
echo "installed $APPS/labeler.desktop (starts $EXEC) and icons under $HICOLOR"
