#!/usr/bin/env bash
# Regenerate docs/screenshots/*.png: every main screen of `democap gui` in a demo home, 1280x800.
# Needs Xvfb on a headless machine (apt-get install xvfb libxcb-cursor0 libxkbcommon-x11-0 ...).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/screenshots}"
# The virtual rig textures its scene with the shared photos when DEMOCAP_TEST_DATA is set; some
# are licensed non-commercial, so pictures committed to the repository use procedural textures.
# (The calibration screen reads the OpenCV chessboard photos, Apache-2.0, through SHOTS_BOARD_DATA.)
export DEMOCAP_SHOTS_BOARD_DATA="${DEMOCAP_TEST_DATA:-$(cd .. && pwd)/shared/data}"
export DEMOCAP_TEST_DATA=/nonexistent/no-shared-photos
if [ -n "${DISPLAY:-}" ]; then
  democap gui --screenshots "$out"
else
  xvfb-run -a -s "-screen 0 1280x800x24" democap gui --screenshots "$out"
fi
