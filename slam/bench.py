"""``democap bench slam``: trajectory accuracy and speed of the SLAM methods per sequence.

Sequences (each skipped with a reason when its inputs are missing):
* ``sim-features-*``: the seeded feature-point simulation (``slam.vio.synthetic``) fed straight
  to the VIO back end: tests the estimator without images (mono-inertial fisheye, stereo).
* ``euroc-micro``: the shared EuRoC V1_01 clip (nearly still: a sanity check only).
* ``virtual-*``: the virtual rig recorded through the real recorder (rendered images), scripted
  tabletop motion or real recorded motion (TUM fr1_xyz / fr2_desk ground truth replayed).
Metrics: ATE RMSE after 4-DoF alignment (all methods here are inertial), rotation RMSE, the
unaligned error in the table-tag frame where a tag defines the world, RPE over 1 s, the share
of frames with a pose, OK frames more than 2 cm off, and frames per second of the whole run.

Methods: ``vio``, ``simple`` and, when the optional ``pyorbslam3`` is installed, ``orbslam3``
(the reference, ``slam.orbslam3``: run in a child process on the same time-corrected frames
and IMU samples, with a vocabulary built from shared photos outside the evaluated sequences).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from democap import geometry
from democap.model import TrackState
from slam import metrics

log = logging.getLogger(__name__)

OK_LIMIT_M = 0.02


@dataclass(frozen=True)
class BenchRow:
    sequence: str
    method: str
    frames: int
    duration_s: float
    ate_cm: float
    rot_deg: float
    unaligned_cm: float  # NaN when the world is not a tag
    rpe_cm: float
    share_pose: float
    ok_bad: int  # frames marked OK with error > 2 cm
    fps: float  # wall clock
    note: str = ""
    cpu_fps: float = float("nan")  # frames per CPU-second of this process (fair on a shared machine)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def evaluate(
    sequence: str,
    method: str,
    t_ns: NDArray[np.int64],
    T_est: NDArray[np.float64],
    state: NDArray[np.uint8],
    T_ref: NDArray[np.float64],
    tag_world: bool,
    seconds: float,
    note: str = "",
    cpu_seconds: float = float("nan"),
) -> BenchRow:
    """Metrics of one estimate against its reference (both (N, 4, 4), same times)."""
    has_pose = state != TrackState.LOST
    n = len(t_ns)
    if has_pose.sum() < 3:
        return _no_metrics(
            sequence,
            method,
            note or "too few poses",
            n,
            _dur(t_ns),
            float(has_pose.mean()),
            n / max(seconds, 1e-9),
            n / cpu_seconds,
        )
    e = metrics.ate(T_est[has_pose], T_ref[has_pose], "4dof")
    unaligned = metrics.ate(T_est[has_pose], T_ref[has_pose], "none") if tag_world else None
    # RPE compares relative motions: unaffected by the global alignment, so the raw estimate is used.
    rpe_t, _ = metrics.rpe(t_ns[has_pose], T_est[has_pose], T_ref[has_pose], 1.0)
    err = (unaligned or e).per_frame_m
    ok = state[has_pose] == TrackState.OK
    return BenchRow(
        sequence,
        method,
        n,
        _dur(t_ns),
        e.ate_rmse_m * 100,
        e.rot_rmse_deg,
        unaligned.ate_rmse_m * 100 if unaligned else float("nan"),
        rpe_t * 100,
        float(has_pose.mean()),
        int(np.sum(ok & (err > OK_LIMIT_M))),
        n / max(seconds, 1e-9),
        note,
        n / cpu_seconds,
    )


def _no_metrics(
    sequence: str,
    method: str,
    note: str,
    frames: int = 0,
    duration_s: float = 0.0,
    share_pose: float = 0.0,
    fps: float = 0.0,
    cpu_fps: float = float("nan"),
) -> BenchRow:
    nan = float("nan")
    return BenchRow(sequence, method, frames, duration_s, nan, nan, nan, nan, share_pose, 0, fps, note, cpu_fps)


def _dur(t_ns: NDArray[np.int64]) -> float:
    return float((t_ns[-1] - t_ns[0]) * 1e-9) if len(t_ns) > 1 else 0.0


# ------------------------------------------------------------------ sequences


def run_sim_features(
    camera: str, stereo: bool, seconds: float, seed: int = 0, methods: Sequence[str] = ()
) -> list[BenchRow]:
    from slam.vio import backend, synthetic

    spec = synthetic.SimSpec(duration_s=seconds, camera=camera, stereo=stereo, seed=seed)
    seq = synthetic.simulate(spec)
    t0, c0 = time.perf_counter(), time.process_time()
    res = backend.run(seq.frames, seq.imu, seq.rig, known_tags={0: np.eye(4)})
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    T_world_nav = geometry.se3_inverse(res.T_nav_tag[0]) if 0 in res.T_nav_tag else np.eye(4)
    name = f"sim-features-{'stereo' if stereo else 'mono'}-{camera}"
    na = [_no_metrics(name, "orbslam3", "n/a: the feature simulation has no images")] if "orbslam3" in methods else []
    return [
        evaluate(
            name,
            "vio (back end only)",
            res.t_ns,
            T_world_nav @ res.T_nav_imu,
            res.state,
            seq.T_world_imu,
            0 in res.T_nav_tag,
            took,
            f"online {res.stats['online_s']:.1f}s batch {res.stats['batch_s']:.1f}s",
            cpu,
        ),
        *na,
    ]


def _reference(session: Any) -> tuple[NDArray[np.int64], NDArray[np.float64]] | None:
    if "reference.pose" not in session.streams:
        return None
    c = session.columns("reference.pose")
    q = np.stack([c["qw"], c["qx"], c["qy"], c["qz"]], axis=1)  # session pose streams are w,x,y,z
    T = geometry.se3(geometry.quat_wxyz_to_matrix(q), np.stack([c["x"], c["y"], c["z"]], axis=1))
    return c["t_host_ns"].astype(np.int64), T


def run_session(
    name: str, session: Any, methods: Sequence[str], settings: Mapping[str, Mapping[str, Any]] | None = None
) -> list[BenchRow]:
    """One row per method on a recorded or imported session; ``settings`` per method name."""
    ref = _reference(session)
    rows = []
    for method in methods:
        est = _estimator(method)
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            traj, summary = est(session, "rig0", (settings or {}).get(method, {}))
        except Exception as e:  # noqa: BLE001 - a failing method is a row in the table, not a crash
            rows.append(_no_metrics(name, method, f"failed: {e}"))
            continue
        took, cpu = time.perf_counter() - t0, time.process_time() - c0
        cpu += float(summary.get("cpu_s", 0.0))  # work done in a child process (ORB-SLAM3)
        if ref is None:
            rows.append(
                _no_metrics(
                    name,
                    method,
                    "no reference",
                    len(traj),
                    _dur(traj.t_ns),
                    float(np.mean(traj.state != TrackState.LOST)),
                    len(traj) / took,
                    len(traj) / cpu,
                )
            )
            continue
        valid, T_ref = metrics.match_reference(traj.t_ns, ref[0], ref[1])
        note = summary.get("reason", "")
        rows.append(
            evaluate(
                name,
                method,
                traj.t_ns[valid],
                traj.T_world_body[valid],
                traj.state[valid],
                T_ref[valid],
                traj.world_anchor == "tag",
                took * valid.mean(),
                note,
                cpu * valid.mean(),
            )
        )
    return rows


def _estimator(method: str) -> Callable[..., Any]:
    if method == "vio":
        from slam.vio.estimator import estimate

        return estimate
    if method == "simple":
        from slam.simple import estimate as simple_estimate

        return simple_estimate
    if method == "orbslam3":
        from slam.orbslam3 import estimate as orbslam3_estimate

        return orbslam3_estimate
    raise ValueError(f"unknown method {method!r}")


#: What the last ``run_bench`` did about ORB-SLAM3 (for the status line under the table).
_orbslam3_last: dict[str, str] = {}


def default_methods() -> list[str]:
    """vio and simple, plus the ORB-SLAM3 reference when pyorbslam3 is installed."""
    from slam.orbslam3 import available

    return ["vio", "simple"] + (["orbslam3"] if available() is None else [])


def orbslam3_status() -> str:
    """One line on ORB-SLAM3 for under the table: which vocabulary it ran with, or why it did not run."""
    if "ran" in _orbslam3_last:
        return _orbslam3_last["ran"]
    from slam.orbslam3 import available

    why = available()
    if why is not None:
        return f"not run: {why}"
    return _orbslam3_last.get("not_run", "not run: not in --methods (add orbslam3)")


def _prepare_orbslam3(methods: Sequence[str], data_root: Path | None) -> dict[str, Any] | str:
    """ORB-SLAM3's settings (its vocabulary, built once before any timing), or why it cannot run."""
    from slam import orbslam3

    why = orbslam3.available()
    if why is not None:
        return why
    if data_root is None:
        return "no shared data folder to build its ORB vocabulary from"
    try:
        info = orbslam3.ensure_vocabulary(data_root)
    except (OSError, ValueError) as e:
        return f"could not build its ORB vocabulary: {e}"
    _orbslam3_last["ran"] = f"reference run with {info.describe()}"
    return {"vocabulary": str(info.path)}


def default_sequences(seconds: float, quick: bool) -> list[str]:
    seqs = ["sim-features-mono-fisheye", "sim-features-stereo-pinhole", "euroc-micro"]
    if not quick:
        seqs += ["virtual-stereo-pinhole", "virtual-mono-fisheye", "virtual-tum-fr1_xyz", "virtual-tum-fr2_desk"]
    return seqs


def run_bench(
    sequences: Sequence[str],
    seconds: float,
    methods: Sequence[str],
    data_root: Path | None,
    on_row: Callable[[BenchRow], None] | None = None,
) -> list[BenchRow]:
    rows: list[BenchRow] = []
    _orbslam3_last.clear()
    settings: dict[str, dict[str, Any]] = {}
    if "orbslam3" in methods:
        prepared = _prepare_orbslam3(methods, data_root)
        if isinstance(prepared, str):
            _orbslam3_last["not_run"] = f"not run: {prepared}"
            methods = [m for m in methods if m != "orbslam3"]
        else:
            settings["orbslam3"] = prepared

    def emit(new: list[BenchRow]) -> None:
        for r in new:
            rows.append(r)
            if on_row is not None:
                on_row(r)

    with tempfile.TemporaryDirectory(prefix="democap-bench-slam-") as tmp:
        from democap.home import Home

        home = Home.resolve(Path(tmp) / "home")
        for name in sequences:
            log.info("bench slam: %s", name)
            if name.startswith("sim-features-"):
                _, _, mode, camera = name.split("-", 3)
                emit(run_sim_features(camera, mode == "stereo", seconds, methods=methods))
            elif name == "euroc-micro":
                folder = (data_root or Path()) / "euroc_v1_01_easy_micro"
                if not folder.is_dir():
                    emit([_no_metrics(name, "-", f"skipped: no {folder}")])
                    continue
                from capture.importers.euroc import import_euroc

                emit(run_session(name, import_euroc(folder, home), methods, settings))
            elif name.startswith("virtual-"):
                from capture.virtual import record_virtual

                rest = name[len("virtual-") :]
                if rest.startswith("tum-"):
                    gt = {"fr1_xyz": "freiburg1_xyz-groundtruth.txt", "fr2_desk": "fr2_desk_groundtruth.txt"}[rest[4:]]
                    motion = (data_root or Path()) / "trajectory_eval_tum_rgbd" / gt
                    if not motion.is_file():
                        emit([_no_metrics(name, "-", f"skipped: no {motion}")])
                        continue
                    session = record_virtual(home, seconds=seconds, motion=str(motion), cameras="stereo-pinhole")
                else:
                    session = record_virtual(home, seconds=seconds, motion="pick_place", cameras=rest)
                emit(run_session(name, session, methods, settings))
            else:
                raise ValueError(f"unknown sequence {name!r}")
    return rows


def format_header() -> str:
    head = (
        f"{'sequence':30s} {'method':20s} {'frames':>6s} {'ATE cm':>7s} {'rot deg':>7s} {'unalgn cm':>9s} "
        f"{'RPE1s cm':>8s} {'pose %':>6s} {'OK>2cm':>6s} {'fps':>6s} {'cpu fps':>7s}  note"
    )
    return head + "\n" + "-" * len(head)


def format_row(r: BenchRow) -> str:
    return (
        f"{r.sequence:30s} {r.method:20s} {r.frames:6d} {r.ate_cm:7.3f} {r.rot_deg:7.3f} "
        f"{r.unaligned_cm:9.3f} {r.rpe_cm:8.3f} {100 * r.share_pose:6.1f} {r.ok_bad:6d} "
        f"{r.fps:6.1f} {r.cpu_fps:7.1f}  {r.note}"
    )


def format_table(rows: Sequence[BenchRow]) -> str:
    return "\n".join([format_header(), *(format_row(r) for r in rows)])


def data_root_default() -> Path | None:
    env = os.environ.get("DEMOCAP_TEST_DATA")
    p = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return p if p.is_dir() else None
