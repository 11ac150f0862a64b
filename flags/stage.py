"""The flags stage: observation-gap flags of a session, written to ``stages/flags/``.

``run(session)`` decodes every rig camera once (blur, exposure, hands), reads the
trajectory, IMU, gripper, clock-sync and frame tables, and writes
``stages/flags/flags.json`` (via ``capture.artifacts``) plus one per-frame metrics
table per rig (``<rig>.frames.parquet``: t_ns, sharpness, mean, dark_share,
bright_share, hand_share; written and read only here) for review plots. Flags never
delete data: the export policy decides what they do.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from capture.artifacts import (
    StageRecord,
    commit_stage,
    input_hash,
    is_current,
    read_stage,
    stage_dir,
    trajectory_path,
    write_flags,
)
from capture.artifacts import read_trajectory as _read_trajectory
from capture.session import Session, atomic_write_bytes
from capture.timebase import stream_corrections, stream_times
from democap import geometry
from democap.model import CameraModel, Flag, ImuNoise
from democap.progress import Progress
from flags import detectors
from flags.hands import HandDetector, SkinHandDetector
from flags.image import ImageThresholds, blurred_mask, frame_metrics, is_overexposed, is_underexposed

log = logging.getLogger(__name__)

STAGE = "flags"
VERSION = 1
FLAGS_FILE = "flags.json"


@dataclass(frozen=True)
class FlagSettings:
    """Thresholds of the observation-gap detectors (recorded in the stage's settings hash)."""

    image: ImageThresholds = field(default_factory=ImageThresholds)
    hand_stride: int = 3  # run the hand detector on every n-th frame; frames between inherit
    min_run_frames: int = 2  # image flags need this many frames in a row (one bad frame is noise)
    max_gap_frames: int = 2  # debounce: short clean runs inside a flagged stretch stay flagged
    tracking_min_quality: float = 0.5
    tracking_max_sigma_m: float = 0.02
    clock_sync_threshold_ms: float = 2.0
    dropped_frame_tolerance: float = 1.5  # frame periods
    imu_margin: float = 0.98  # share of the sensor range counted as saturated
    camera: detectors.CameraTolerance = field(default_factory=detectors.CameraTolerance)

    def to_dict(self) -> dict:
        return asdict(self)


def _camera_streams(session: Session, rig: str) -> list[str]:
    return [s for s in session.streams_of("video", rig) if s.endswith(".cam0")] or session.streams_of("video", rig)


def image_flags(
    session: Session,
    stream: str,
    rig: str,
    settings: FlagSettings,
    hand_detector: HandDetector,
    bar: Progress | None = None,
) -> tuple[list[Flag], dict[str, NDArray]]:
    """Blur, exposure and hand flags of one camera stream, plus its per-frame metrics table."""
    t = stream_times(session, stream, session.columns(stream))
    n = len(t)
    sharp = np.zeros(n)
    mean = np.zeros(n)
    dark = np.zeros(n, bool)
    bright = np.zeros(n, bool)
    dark_share = np.zeros(n)
    bright_share = np.zeros(n)
    hand_share = np.full(n, np.nan)
    hand = np.zeros(n, bool)
    last_hand = None
    for i, img in session.frames(stream):
        if i >= n:
            break
        m = frame_metrics(img)
        sharp[i], mean[i], dark_share[i], bright_share[i] = m.sharpness, m.mean, m.dark_share, m.bright_share
        dark[i], bright[i] = is_underexposed(m, settings.image), is_overexposed(m, settings.image)
        if i % max(settings.hand_stride, 1) == 0:
            last_hand = hand_detector.detect(img)
        if last_hand is not None:
            hand[i], hand_share[i] = last_hand.present, last_hand.area_share
        if bar is not None:
            bar.advance()
    blur = blurred_mask(sharp, settings.image, exposure_bad=dark | bright)
    kw: dict[str, Any] = {"min_len": settings.min_run_frames, "max_gap": settings.max_gap_frames}
    out = (
        detectors.mask_flags("observation.blur", t, blur, rig, {"sharpness": sharp}, **kw)
        + detectors.mask_flags(
            "observation.underexposed", t, dark, rig, {"mean_level": mean, "dark_share": dark_share}, **kw
        )
        + detectors.mask_flags(
            "observation.overexposed", t, bright, rig, {"mean_level": mean, "clipped_share": bright_share}, **kw
        )
        + detectors.mask_flags("observation.hand_in_view", t, hand, rig, {"hand_area_share": hand_share}, **kw)
    )
    metrics = {
        "t_ns": t,
        "sharpness": sharp,
        "mean": mean,
        "dark_share": dark_share,
        "bright_share": bright_share,
        "hand_share": hand_share,
    }
    return out, metrics


def signal_flags(
    session: Session,
    rig: str,
    settings: FlagSettings,
    robot_camera: CameraModel | None = None,
    robot_T_tcp_cam: NDArray[np.float64] | None = None,
) -> list[Flag]:
    """Every flag of one rig that needs no image decoding (cheap: usable right after an episode)."""
    out: list[Flag] = []
    cal = session.calibration(rig) if rig in session.rigs else None
    for cam in _camera_streams(session, rig):
        t = stream_times(session, cam)
        out += detectors.dropped_frame_flags(
            t, session.streams[cam].get("rate_hz"), rig, settings.dropped_frame_tolerance
        )
    out += detectors.link_gap_flags(session.manifest.get("gaps", []), rig)
    tp = trajectory_path(session, rig)
    if tp.exists():
        out += detectors.tracking_flags(
            _read_trajectory(tp), rig, settings.tracking_min_quality, settings.tracking_max_sigma_m
        )
    imu = f"{rig}.imu"
    if imu in session.streams:
        c = session.columns(imu)
        if len(c["t_host_ns"]):
            noise = cal.imu if cal is not None and cal.imu is not None else ImuNoise(0, 0, 0, 0, 0)
            out += detectors.imu_saturation_flags(
                stream_times(session, imu, c),
                np.stack([c["gyro_x"], c["gyro_y"], c["gyro_z"]], 1),
                np.stack([c["accel_x"], c["accel_y"], c["accel_z"]], 1),
                rig,
                noise.gyro_range_rad_s,
                noise.accel_range_m_s2,
                settings.imu_margin,
            )
    cs = f"{rig}.clocksync"
    if cs in session.streams:
        c = session.columns(cs)
        if len(c["t_host_send_ns"]):
            u = detectors.clock_sync_uncertainty_ns(
                c["t_host_send_ns"], c["t_device_rx_ns"], c["t_device_tx_ns"], c["t_host_recv_ns"]
            )
            out += detectors.clock_sync_flags(c["t_host_send_ns"], u, rig, settings.clock_sync_threshold_ms * 1e6)
    out += _mapping_uncertainty_flags(session, rig, settings.clock_sync_threshold_ms * 1e6)
    grip = f"{rig}.gripper"
    if grip in session.streams:
        c = session.columns(grip)
        if len(c["t_host_ns"]):
            out += detectors.fiducials_hidden_flags(stream_times(session, grip, c), c["width_m"], rig)
    if robot_camera is not None and cal is not None and cal.cameras:
        cams = _camera_streams(session, rig)
        if cams:
            t = stream_times(session, cams[0])
            rig_T_tcp_cam = geometry.se3_inverse(cal.T_cam_tcp) if cal.T_cam_tcp is not None else None
            out += detectors.camera_mismatch_flags(
                int(t[0]),
                int(t[-1]) + 1,
                rig,
                cal.cameras[0].camera,
                rig_T_tcp_cam,
                robot_camera,
                robot_T_tcp_cam,
                settings.camera,
            )
    return out


def _mapping_uncertainty_flags(session: Session, rig: str, threshold_ns: float) -> list[Flag]:
    """The clock mapping the trajectory stage applied to a rig's streams, when its 1-sigma error is too big."""
    out: list[Flag] = []
    for stream in sorted(s for s in session.streams if s.startswith(rig + ".")):
        corr = stream_corrections(session, stream)
        spec = session.streams[stream]
        if corr.clock is None or corr.clock.uncertainty_ns <= threshold_ns or spec.get("t0_ns") is None:
            continue
        out.append(
            Flag(
                "observation.clock_sync",
                "warn",
                int(spec["t0_ns"]),
                int(spec["t1_ns"]) + 1,
                rig=rig,
                evidence={"uncertainty_ms": corr.clock.uncertainty_ns * 1e-6},
                message=f"{stream}: clock mapping ({corr.clock.method}) uncertain by "
                f"{corr.clock.uncertainty_ns * 1e-6:.1f} ms",
            )
        )
    return out


def _rigs(session: Session) -> list[str]:
    return sorted(set(session.rigs) | {s["rig"] for s in session.streams.values() if s["rig"] != "reference"})


def _write_metrics(path: Path, metrics: dict[str, NDArray]) -> None:
    table = pa.table({k: pa.array(v, pa.int64() if k == "t_ns" else pa.float32()) for k, v in metrics.items()})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


def read_frame_metrics(session: Session, rig: str) -> dict[str, NDArray] | None:
    """The per-frame metrics table the stage wrote for a rig (None before the stage ran)."""
    p = stage_dir(session, STAGE) / f"{rig}.frames.parquet"
    if not p.exists():
        return None
    t = pq.read_table(p)
    return {c: t.column(c).to_numpy() for c in t.column_names}


def run(
    session: Session,
    robot_camera: CameraModel | None = None,
    robot_T_tcp_cam: NDArray[np.float64] | None = None,
    settings: FlagSettings | None = None,
    hand_detector: HandDetector | None = None,
    force: bool = False,
) -> StageRecord:
    """Compute all observation-gap flags of a session; skip when the stage output is current.

    ``robot_camera`` / ``robot_T_tcp_cam``: the camera of the robot the data is for and its
    mount (camera frame to TCP: ``T_tcp_cam``), for the camera-mismatch flag.
    """
    settings = settings or FlagSettings()
    det: HandDetector = hand_detector or SkinHandDetector()
    rigs = _rigs(session)
    streams = sorted(n for n, s in session.streams.items() if s["rig"] in rigs)
    traj = read_stage(session, "trajectory")
    parts = {
        "streams": session.fingerprint(streams),
        "trajectory": dict(traj.outputs) if traj else None,
        "settings": settings.to_dict(),
        "hand_detector": det.name,
        "robot_camera": robot_camera.to_dict() if robot_camera else None,
        "robot_T_tcp_cam": np.asarray(robot_T_tcp_cam).tolist() if robot_T_tcp_cam is not None else None,
        "gaps": session.manifest.get("gaps", []),
    }
    h = input_hash(parts)
    if not force and is_current(session, STAGE, VERSION, h):
        rec = read_stage(session, STAGE)
        assert rec is not None
        return rec
    out_dir = stage_dir(session, STAGE)
    out_dir.mkdir(parents=True, exist_ok=True)
    flags: list[Flag] = []
    files = [FLAGS_FILE]
    n_frames = sum(int(session.streams[c].get("count") or 0) for r in rigs for c in _camera_streams(session, r))
    with Progress(f"flags {session.id}", n_frames) as bar:
        for rig in rigs:
            for cam in _camera_streams(session, rig):
                found, metrics = image_flags(session, cam, rig, settings, det, bar)
                flags += found
                name = f"{rig}.frames.parquet"
                _write_metrics(out_dir / name, metrics)
                files.append(name)
            flags += signal_flags(session, rig, settings, robot_camera, robot_T_tcp_cam)
    flags.sort(key=lambda f: (f.t0_ns, f.kind, f.rig))
    write_flags(out_dir / FLAGS_FILE, flags)
    counts: dict[str, int] = {}
    for f in flags:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    log.info("session %s: %d observation flags", session.id, len(flags))
    return commit_stage(
        session,
        STAGE,
        VERSION,
        h,
        {**settings.to_dict(), "hand_detector": det.name},
        files,
        summary={"flags": len(flags), "by_kind": counts},
    )
