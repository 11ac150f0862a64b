"""Run every benchmark under bench/ (or those whose name contains an argument) and print their figures.

python bench/run.py            # all
python bench/run.py ik render  # only bench_*ik*.py and bench_*render*.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    wanted = sys.argv[1:]
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not wanted or any(w in p.stem for w in wanted))
    failed = 0
    for s in scripts:
        print(f"\n=== {s.name}", flush=True)
        t = time.monotonic()
        r = subprocess.run([sys.executable, str(s)], cwd=HERE.parent)
        print(
            f"--- {s.name}: {'ok' if r.returncode == 0 else f'FAILED ({r.returncode})'} in {time.monotonic() - t:.1f} s"
        )
        failed += r.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
