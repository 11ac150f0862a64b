#!/usr/bin/env bash
# Set up democap on a fresh machine (Python 3.11 + apt), cached, then run it.
#   bash tools/run.sh demo [ARGS]   install, then `democap demo ARGS` on the virtual rig
#   bash tools/run.sh test [ARGS]   install, then the test suite (what .ci/run runs)
#   bash tools/run.sh democap ARGS  install, then any democap command
# Installs are cached under ~/.cache/democap (venv keyed by a hash of pyproject.toml).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${DEMOCAP_CACHE:-$HOME/.cache/democap}"
MODE="${1:-demo}"
shift || true
T_START=$(date +%s)
phase() { echo "== [$(( $(date +%s) - T_START ))s] $*" >&2; }

# ---------------------------------------------------------------- system packages
# libusb for pyrealsense2; Qt's xcb platform and Xvfb for screenshots; fonts for plots.
APT_PKGS=(libusb-1.0-0 libgl1 libegl1 libglib2.0-0 libfontconfig1 libxkbcommon0 libxkbcommon-x11-0
          libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
          libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 xvfb xauth fonts-dejavu-core)
missing=()
for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  phase "apt: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
phase "system packages ready"

# ------------------------------------------------------------------ python venv
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' || {
  echo "democap needs Python 3.11 (found $("$PY" --version 2>&1))" >&2; exit 2; }
HASH=$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)
VENV="$CACHE/venv-$HASH"
if [ ! -f "$VENV/.complete" ]; then
  phase "python: creating $VENV (first run downloads the dependencies)"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip setuptools wheel
  "$VENV/bin/pip" install -q -e "$ROOT[dev]"
  touch "$VENV/.complete"
else
  # The venv may have been made from another checkout: point the editable install here.
  "$VENV/bin/pip" install -q --no-deps --no-build-isolation -e "$ROOT" >/dev/null
fi
phase "python environment ready ($VENV)"
export PATH="$VENV/bin:$PATH"
export DEMOCAP_TEST_DATA="${DEMOCAP_TEST_DATA:-$(cd "$ROOT/.." && pwd)/shared/data}"

case "$MODE" in
  demo)
    phase "running: democap demo $*"
    democap demo "$@"
    ;;
  test)
    export QT_QPA_PLATFORM=offscreen MPLBACKEND=Agg
    # lerobot (for the export compatibility test) pins torch < 2.11: it gets its own cached venv,
    # never the app's. The name must match tests/export/test_lerobot_compat.py.
    LEROBOT_REQ="lerobot==0.4.4"
    LEROBOT_VENV="$CACHE/lerobot-venv-$(printf %s "$LEROBOT_REQ" | sha256sum | cut -c1-10)"
    if ! "$LEROBOT_VENV/bin/python" -c "import lerobot" >/dev/null 2>&1; then
      phase "lerobot: creating $LEROBOT_VENV (first run: several GB, a few minutes)"
      "$PY" -m venv "$LEROBOT_VENV"
      "$LEROBOT_VENV/bin/pip" install -q --upgrade pip
      "$LEROBOT_VENV/bin/pip" install -q "$LEROBOT_REQ"
    fi
    export DEMOCAP_LEROBOT_VENV_CREATE=1
    phase "lerobot compatibility venv ready"
    phase "running the test suite"
    cd "$ROOT"
    python -m pytest -q "$@"
    ;;
  democap)
    democap "$@"
    ;;
  *)
    echo "usage: bash tools/run.sh demo|test|democap [ARGS]" >&2; exit 2 ;;
esac
phase "done"
