"""``democap bench slam``: the SLAM benchmark table (thin over ``slam.bench``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_commands(sub: Any) -> None:
    bench = sub.add_parser("bench", help="benchmarks")
    bsub = bench.add_subparsers(dest="bench_topic", required=True)
    p = bsub.add_parser("slam", help="trajectory accuracy and speed of the SLAM methods per sequence")
    p.add_argument("--sequences", help="comma-separated sequence names (default: all available)")
    p.add_argument("--seconds", type=float, default=60.0, help="length of simulated/virtual sequences (s)")
    p.add_argument("--methods", default="vio,simple", help="estimators to compare (vio, simple)")
    p.add_argument("--quick", action="store_true", help="only the fast sequences (no rendered virtual rig)")
    p.add_argument("--data", help="shared real data folder (default: $DEMOCAP_TEST_DATA or ../shared/data)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=_bench_slam)


def _bench_slam(args: argparse.Namespace) -> int:
    from slam import bench

    data = Path(args.data) if args.data else bench.data_root_default()
    seqs = args.sequences.split(",") if args.sequences else bench.default_sequences(args.seconds, args.quick)
    as_json = getattr(args, "json", False)
    if not as_json:
        print(bench.format_header(), flush=True)
    rows = bench.run_bench(
        seqs,
        args.seconds,
        args.methods.split(","),
        data,
        on_row=None if as_json else lambda r: print(bench.format_row(r), flush=True),
    )
    if as_json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        print(f"ORB-SLAM3: {bench.orbslam3_status()}")
    return 0
