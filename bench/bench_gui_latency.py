"""Event-loop latency of the desktop app while recording the virtual rig and while a review plays.

A 10 ms QTimer measures how late each tick fires; lateness is what an operator feels as a
sluggish UI. Prints p50 / p95 / max per scenario (target: p95 <= 50 ms). Offscreen by default.

    python bench/bench_gui_latency.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402


class LatencyProbe:
    def __init__(self, interval_ms: int = 10) -> None:
        from PySide6.QtCore import QTimer

        self.interval_s = interval_ms / 1000
        self.late_ms: list[float] = []
        self._last = time.monotonic()
        from PySide6.QtCore import Qt

        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.monotonic()
        self.late_ms.append(max(0.0, (now - self._last - self.interval_s) * 1000))
        self._last = now

    def start(self) -> None:
        self.late_ms.clear()
        self._last = time.monotonic()
        self.timer.start()

    def stop(self) -> np.ndarray:
        self.timer.stop()
        return np.array(self.late_ms)


def report(name: str, late: np.ndarray, extra: str = "") -> None:
    p50, p95 = np.percentile(late, [50, 95]) if len(late) else (float("nan"),) * 2
    print(
        f"{name:<26} ticks {len(late):5d}  lateness p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
        f"max {late.max() if len(late) else float('nan'):7.1f} ms  {'OK' if p95 <= 50 else 'OVER 50 ms'}  {extra}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()

    from democap.home import Home
    from gui.app import _app, seed_demo_home, wait_for
    from gui.main_window import MainWindow
    from gui.sources import SimulatedRigSource, SourceChoice

    app = _app()  # noqa: F841 - the application must stay referenced
    home = Home.resolve(tempfile.mkdtemp(prefix="democap-bench-gui-"))
    seed_demo_home(home)
    win = MainWindow(home)
    win.resize(1280, 800)
    win.show()
    wait_for(lambda: False, 0.5)
    probe = LatencyProbe()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    # 0. Baseline: the window idle. On a shared machine this shows how late the OS alone makes a timer.
    probe.start()
    wait_for(lambda: False, min(args.seconds, 5.0))
    report("idle (baseline)", probe.stop())

    # 1. Recording the simulated rig (camera 320x240 @ 15 fps, IMU 200 Hz), previews and live VIO (its own
    #    process) on; then again with the live feasibility light for the Panda (IK on a decimated window of
    #    the VIO poses every 2 s in the helper process).
    live = win.live
    win.show_screen("Live")
    live.set_choices(
        [SourceChoice("sim", lambda: [SimulatedRigSource(seed=0, seconds=args.seconds + 30)], {"kind": "virtual-rig"})]
    )
    for robot in ("(none)", "panda"):
        live.robot_combo.setCurrentText(robot)
        probe.start()
        live.start_recording()
        wait_for(lambda: False, args.seconds)
        late = probe.stop()
        rec = live.recorder
        frames = sum(live.feed.frame_counts.values())
        tracker = live.tracker
        vio = "no live tracking"
        if tracker is not None:
            err = np.median(live.truth_errors_m) * 100 if live.truth_errors_m else float("nan")
            vio = (
                f"live VIO {tracker.frames_tracked}/{tracker.frames_seen} frames "
                f"({tracker.rates_hz()[0]:.1f} Hz), state {live.track_state}, median error vs truth {err:.1f} cm"
            )
        report(
            f"recording, robot {robot}",
            late,
            f"(frames {frames}, dropped {sum(live.feed.dropped.values())}, preview {live.preview_hz:.1f} Hz, "
            f"writer queue peak {rec.stats.queue_max}; {vio})",
        )
        live.stop_recording()
        wait_for(lambda: not live.recording, 60)
        win.jobs.wait(180000)  # processing of the recorded session

    # 2. Review playing an episode (video, trajectory, robot skeleton and joint cursor follow).
    loaded: list = []
    win.review.open("20260301-090000-demo0", 0, "panda", on_done=loaded.append)
    win.show_screen("Review")
    wait_for(lambda: bool(loaded), 60)
    probe.start()

    def keep_playing() -> bool:
        if not win.review.playing:
            win.review.slider.setValue(0)
            win.review.toggle_play()
        return False

    wait_for(keep_playing, args.seconds)
    late = probe.stop()
    report("review playing", late)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    win.review.stop()
    win.close()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Skip interpreter teardown: PySide6 can crash while garbage-collecting widgets at exit.
    os._exit(code)
