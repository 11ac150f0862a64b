#!/usr/bin/env bash
# Regenerate docs/screenshots/*.png: every main screen of `democap gui` in a demo home, 1280x800.
# Needs Xvfb on a headless machine (apt-get install xvfb libxcb-cursor0 libxkbcommon-x11-0 ...).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/screenshots}"
if [ -n "${DISPLAY:-}" ]; then
  democap gui --screenshots "$out"
else
  xvfb-run -a -s "-screen 0 1280x800x24" democap gui --screenshots "$out"
fi
