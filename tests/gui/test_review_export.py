"""Sessions browser, episode review with keyboard decisions, outlier ranking, export with cancel."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from capture.catalog import Catalog
from capture.session import Session
from democap.model import review_of
from gui.outliers import EpisodeMetrics, motion_metrics, rank


def _open(window, qtbot, sid: str, idx: int):
    loaded: list = []
    window.review.open(sid, idx, "panda", on_done=loaded.append)
    qtbot.waitUntil(lambda: bool(loaded), timeout=60000)  # the first open decimates the robot's meshes
    window.show_screen("Review")
    return loaded[0]


def test_browser_search_and_filter(demo_home, window) -> None:
    panel = window.sessions
    panel.refresh()
    assert len(panel.sessions) == 2 and len(panel.episodes) == 6
    panel.search.setText("drawer")
    assert [e["task"] for e in panel.episodes] == ["open the drawer"]
    panel.search.setText("")
    panel.review_filter.setCurrentText("rejected")
    assert panel.episodes == []


def test_review_reject_trim_accept_by_keyboard(demo_home, window, qtbot) -> None:
    sid = "20260301-090000-demo0"
    d = _open(window, qtbot, sid, 0)
    assert len(d.frames) > 10 and d.traj_p is not None and d.robot == "panda"
    assert d.robot_points is not None and d.robot_points.shape[2] == 3  # FK skeleton per sample
    assert d.robot_meshes is not None and d.T_world_geom is not None  # and the Panda's meshes, posed per sample
    assert d.T_world_geom.shape == (len(d.robot_points), len(d.robot_meshes.links), 4, 4)
    assert any(f.kind == "observation.blur" for f in d.flags)  # frames 20-29 were blurred
    review = window.review
    review.setFocus()
    qtbot.keyClick(review, Qt.Key.Key_R)
    s = Session(demo_home.session_path(sid))
    assert review_of(s.decisions(), 0).status == "rejected"
    cat = Catalog(demo_home)
    try:
        row = cat.db["episodes"].get((sid, 0))
        assert row["review"] == "rejected"  # the catalog follows at once
    finally:
        cat.close()
    review.slider.setValue(5)
    qtbot.keyClick(review, Qt.Key.Key_I)
    review.slider.setValue(review.slider.maximum() - 5)
    qtbot.keyClick(review, Qt.Key.Key_O)
    qtbot.keyClick(review, Qt.Key.Key_T)
    r = review_of(Session(demo_home.session_path(sid)).decisions(), 0)
    assert r.t0_ns == int(d.frame_t_ns[5]) and r.t1_ns == int(d.frame_t_ns[-6])
    # Scrubbing moves the robot and the trajectory marker with the video.
    review.slider.setValue(0)
    view = review.view3d
    assert view.robot_points is not None and len(view.trajectory) > 10
    p0, T0 = view.robot_points.copy(), view.T_world_rig.copy()
    assert view.robot_meshes is d.robot_meshes and view.T_world_geom is not None
    T_world_geom0 = view.T_world_geom.copy()
    image0 = view.grab().toImage()
    review.slider.setValue(review.slider.maximum())
    assert not np.allclose(p0, view.robot_points)
    assert not np.allclose(T0, view.T_world_rig)
    assert not np.allclose(T_world_geom0, view.T_world_geom)
    assert view.grab().toImage() != image0  # the 3-D view redrew the robot and the rig where they now are
    _open(window, qtbot, sid, 1)
    qtbot.keyClick(window.review, Qt.Key.Key_A)
    assert review_of(Session(demo_home.session_path(sid)).decisions(), 1).status == "accepted"


def test_review_falls_back_to_the_stick_figure_and_says_so(demo_home, window, qtbot, monkeypatch) -> None:
    import gui.review_panel as rp
    from democap.errors import RobotError

    def no_meshes(*_a, **_k):
        raise RobotError("mesh files missing", demo_home.root)

    monkeypatch.setattr(rp, "robot_meshes", no_meshes)
    d = _open(window, qtbot, "20260301-090000-demo0", 0)
    view = window.review.view3d
    assert d.robot_points is not None and d.robot_meshes is None and view.robot_meshes is None
    assert view.robot_points is not None and "stick figure" in view.message and "mesh files missing" in view.message
    assert "stick figure" in window.review.scene_legend.text()


def test_outliers_rank_flagged_and_jerky_first() -> None:
    t = np.arange(200) * 10_000_000
    smooth = np.stack([np.linspace(0, 0.3, 200), np.zeros(200), np.zeros(200)], 1)
    rng = np.random.default_rng(0)
    jerky = smooth + rng.normal(0, 0.003, smooth.shape)
    still = np.zeros_like(smooth)
    m = [EpisodeMetrics("s", i, *motion_metrics(t, p), 0, 0) for i, p in enumerate((smooth, smooth, jerky, still))]
    m.append(EpisodeMetrics("s", 9, *motion_metrics(t, smooth), 5, 2))
    order = [x.episode for x in rank(m)]
    assert order[0] == 9  # flags weigh most
    assert set(order[1:3]) == {2, 3}  # then the jerky and the still one
    assert motion_metrics(t, still)[1] == 1.0


def test_rank_in_browser(demo_home, window, qtbot) -> None:
    panel = window.sessions
    panel.refresh()
    got: list = []
    panel.rank_outliers(on_done=got.append)
    qtbot.waitUntil(lambda: bool(got), timeout=30000)
    scores = [m.score for m in got[0]]
    assert len(scores) == 6 and scores == sorted(scores, reverse=True)
    # Each episode's flags.summary verdict is shown beside its review state.
    assert len(panel.verdicts) == 6 and set(panel.verdicts.values()) <= {"usable", "check", "redo"}
    col = panel.E_COLS.index("Verdict")
    assert {panel.e_table.item(r, col).text() for r in range(panel.e_table.rowCount())} == set(panel.verdicts.values())


def test_export_excludes_rejected_and_can_be_cancelled(demo_home, window, qtbot, tmp_path) -> None:
    sid = "20260301-090100-demo1"
    _open(window, qtbot, sid, 2)
    qtbot.keyClick(window.review, Qt.Key.Key_R)
    window.sessions.refresh()
    dlg = window.open_export()
    dlg.format.setCurrentText("lerobot")
    dlg.robot.setCurrentText("panda")
    dlg.out_dir.setText(str(tmp_path / "ds"))
    dlg.split.setValue(0.0)
    progress: list[int] = []
    dlg.progress.valueChanged.connect(progress.append)
    dlg.start()
    qtbot.waitUntil(lambda: dlg.job is None, timeout=120000)
    assert dlg.result is not None, dlg.message.text
    res = dlg.result
    assert (tmp_path / "ds" / "DATASHEET.md").exists()
    assert any(e.session == sid and e.episode == 2 for e in res.excluded)
    assert res.episodes + len(res.excluded) == 6
    assert progress and max(progress) > 0
    # Cancel: the export stops at its next progress step and says so.
    dlg.out_dir.setText(str(tmp_path / "ds2"))
    dlg.start()
    dlg.cancel()
    qtbot.waitUntil(lambda: dlg.job is None, timeout=120000)
    assert dlg.message.status == "warn" and "cancelled" in dlg.message.text
    dlg.close()


def test_an_unprocessed_session_is_processed_from_the_browser(home, window, qtbot) -> None:
    from capture.virtual import record_virtual

    s = record_virtual(home, seconds=3.0, cameras="mono-pinhole")
    panel = window.sessions
    window.show_screen("Sessions")
    panel.refresh()
    assert panel.s_table.item(0, 6).text() == "not processed"
    window.live.robot = "panda"
    panel.s_table.selectRow(0)
    processed: list = []
    panel.process_selected(on_done=processed.append)
    assert not panel.process_btn.isEnabled()
    qtbot.waitUntil(lambda: bool(processed), timeout=180000)
    assert processed == [s.id] and panel.process_btn.isEnabled()
    assert panel.summary.text().startswith(f"Processed {s.id} for panda.")
    assert set(panel.s_table.item(0, 6).text().split(", ")) >= {"trajectory", "retarget/panda", "flags"}
    assert {p.name for p in (s.path / "stages").iterdir()} >= {"trajectory", "retarget", "flags"}
