"""Recording the simulated rig from the live screen, then the per-episode verdict."""

from __future__ import annotations

import numpy as np

from devices import base
from gui.live_panel import LiveFeed, live_episode_check


def test_feed_counts_dropped_frames_from_gaps_in_arrival() -> None:
    feed = LiveFeed()
    feed.frame_period_ns["rig0.cam0"] = 1e9 / 30
    img = np.zeros((4, 4), np.uint8)
    t = [0, 1, 2, 5, 6, 9]  # frames 3, 4, 7 and 8 never came
    for k in t:
        feed.observe(base.CameraFrame("rig0", "cam0", int(k * 1e9 / 30), -1, 0, img))
    assert feed.frame_counts["rig0.cam0"] == len(t)
    assert feed.dropped["rig0.cam0"] == 4


def test_record_mark_episode_and_get_a_verdict(window, qtbot, home) -> None:
    from capture.catalog import Catalog
    from gui.sources import SimulatedRigSource, SourceChoice

    live = window.live
    window.show_screen("Live")
    live.set_choices([SourceChoice("sim", lambda: [SimulatedRigSource(seed=3, seconds=6.0)], {"kind": "virtual-rig"})])
    live.task_edit.setText("pick the cup")
    sessions: list = []
    live.recording_finished.connect(sessions.append)
    verdicts: list = []
    live.verdicts_ready.connect(verdicts.append)
    live.start_recording(seconds=4.0)
    assert live.recording
    qtbot.waitUntil(lambda: live.recorder is not None, timeout=20000)
    qtbot.wait(1000)
    if not live.in_episode:  # Space toggles the current state, which the sim's trigger may have set
        live.toggle_episode()
    assert live.in_episode
    qtbot.wait(800)
    live.toggle_episode()
    assert not live.in_episode
    live_checks = [live.verdicts.item(i).text() for i in range(live.verdicts.count())]
    assert any("live check" in t for t in live_checks)  # at once, before the session is processed
    qtbot.waitUntil(lambda: bool(sessions), timeout=60000)
    s = sessions[0]
    assert not live.recording
    assert s.streams_of("video") == ["rig0.cam0"]
    n_frames = len(s.columns("rig0.cam0")["t_host_ns"])
    assert n_frames >= 40  # 15 fps for ~4 s
    assert live.feed.frame_counts["rig0.cam0"] == n_frames  # the screen saw every frame written
    assert sum(live.feed.dropped.values()) == 0
    # Live VIO drew a trajectory (how many poses depends on the CPU left over; see test_live_tracking.py).
    assert len(live.trail) > 0 and live.track_state in ("ok", "interpolated", "lost")
    operator = [e for e in s.episodes if e.task == "pick the cup"]
    assert s.episodes and (operator or any(e.source for e in s.episodes))
    qtbot.waitUntil(lambda: bool(verdicts), timeout=120000)
    rows = verdicts[0]
    assert rows, live.rec_light.text
    assert {r[1]["verdict"] for r in rows} <= {"usable", "check", "redo"}
    assert live.verdicts.count() == len(rows)
    cat = Catalog(home)
    try:
        assert [r["id"] for r in cat.sessions()] == [s.id]
    finally:
        cat.close()


def test_live_episode_check() -> None:
    class F:
        def __init__(self, kind: str, severity: str) -> None:
            self.kind, self.severity = kind, severity

    assert live_episode_check((0, 0, 0), (0, 100, 0), []) == ("usable", [])
    assert live_episode_check((0, 0, 0), (2, 100, 0), [])[0] == "check"
    assert live_episode_check((0, 0, 0), (10, 100, 0), [])[0] == "redo"
    assert live_episode_check((0, 0, 1), (0, 100, 2), [])[0] == "redo"
    status, reasons = live_episode_check((0, 0, 0), (0, 50, 0), [F("embodiment.unreachable", "error")])
    assert status == "redo" and "unreachable" in reasons[0]


def test_drops_and_link_gaps_show_as_they_happen(window) -> None:
    live = window.live
    feed = live.feed
    feed.frame_period_ns["rig0.cam0"] = 1e9 / 30
    img = np.zeros((8, 8), np.uint8)
    for k in (0, 1, 2, 6):
        feed.observe(base.CameraFrame("rig0", "cam0", int(k * 1e9 / 30), -1, 0, img))
    live._tick()
    assert live.frames_light.status == "error" and "3 frame(s) dropped" in live.frames_light.text
    assert live.m_dropped.value.text() == "3"
    feed.observe(base.LinkGap("rig0", 100, 200_000_000, "rig silent"))
    live._tick()
    assert live.sync_light.status == "error" and "link gap" in live.sync_light.text


def test_live_feasibility_flags_a_window_out_of_reach(home) -> None:
    from gui.live_panel import live_feasibility

    n = 20
    t_ns = np.arange(n, dtype=np.int64) * 50_000_000
    T = np.repeat(np.eye(4)[None], n, axis=0)
    T[:, :3, 3] = [3.0, 0.0, 0.5]  # 3 m from the Panda's base: no arm follows that
    T[:, 0, 3] += np.linspace(0, 0.1, n)
    flags = live_feasibility("panda", home, t_ns, T)
    assert any(f.kind == "embodiment.unreachable" and f.severity == "error" for f in flags)


def test_a_recording_stopped_by_a_full_disk_says_so_and_is_not_processed(window, home) -> None:
    from capture.session import Session, SessionWriter, StreamSpec

    w = SessionWriter(home.sessions, source={"kind": "virtual-rig"})
    imu = w.add_table(StreamSpec("rig0.imu", "imu", "rig0", "imu", 400.0))
    imu.append(t_host_ns=1, t_device_ns=1, gyro_x=0.0, gyro_y=0.0, gyro_z=0.0, accel_x=0.0, accel_y=0.0, accel_z=9.8)
    w.update(stopped={"reason": "disk_full", "message": "only 3 MB left free on the disk", "after_s": 3.7})
    session = Session(w.close())
    live = window.live
    verdicts: list = []
    live.verdicts_ready.connect(verdicts.append)
    live._recorded(session)
    assert live.rec_light.status == "error"
    assert "disk is full" in live.rec_light.text and session.id in live.rec_light.text
    assert "3.7 s" in live.rec_light.text
    assert verdicts == [[]] and not (session.path / "stages").exists(), "no stage wrote onto the full disk"
