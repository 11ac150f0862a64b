"""`democap bench slam` plumbing on the cheapest sequence (no timing asserted)."""

from __future__ import annotations

import argparse

from slam import bench
from slam.cli import add_commands


def test_bench_row_and_table() -> None:
    rows = bench.run_bench(["sim-features-stereo-pinhole"], 4.0, ["vio"], None)
    assert len(rows) == 1
    r = rows[0]
    assert r.frames == 120 and r.share_pose == 1.0 and r.ok_bad == 0
    assert r.ate_cm < 1.0 and r.unaligned_cm < 1.5 and r.rot_deg < 1.0
    table = bench.format_table(rows)
    assert "sim-features-stereo-pinhole" in table and "ATE cm" in table


def test_cli_registers_bench_slam() -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["bench", "slam", "--quick", "--seconds", "5"])
    assert args.quick and args.seconds == 5.0 and callable(args.func)
