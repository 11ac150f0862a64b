"""SLAM benchmark: `python bench/bench_slam.py [--seconds 60] [--quick]` prints the table of `democap bench slam`.

Speed figures live here, not in tests. Sequences and metrics: see ``slam/bench.py``.
"""

from __future__ import annotations

import argparse
import logging

from slam import bench


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--quick", action="store_true", help="skip the rendered virtual-rig sequences")
    p.add_argument("--sequences", help="comma-separated names (see slam/bench.py)")
    p.add_argument("--methods", help="comma-separated; default: vio, simple and orbslam3 when installed")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    seqs = args.sequences.split(",") if args.sequences else bench.default_sequences(args.seconds, args.quick)
    print(bench.format_header(), flush=True)
    bench.run_bench(
        seqs,
        args.seconds,
        args.methods.split(",") if args.methods else bench.default_methods(),
        bench.data_root_default(),
        on_row=lambda r: print(bench.format_row(r), flush=True),
    )
    print(f"ORB-SLAM3: {bench.orbslam3_status()}")


if __name__ == "__main__":
    main()
