"""Observation-gap detectors on signals: tracking, frame timing, IMU, clock sync, gripper, camera.

Pure functions: arrays and records in, ``Flag`` lists out. Each flag carries its span
(``[t0_ns, t1_ns)`` on the same host clock as the input timestamps), severity and the
evidence a reviewer needs. Image-based detectors (blur, exposure, hands) are per frame
in ``flags/image.py`` and ``flags/hands.py``; ``mask_flags`` turns their per-frame
verdicts into spans.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from democap import geometry
from democap.model import FLAG_KINDS, CameraModel, Flag, Severity, TrackState, Trajectory, spans_from_mask


def close_gaps(mask: NDArray[np.bool_], max_gap: int) -> NDArray[np.bool_]:
    """Fill unflagged runs of at most ``max_gap`` samples between flagged ones (debounce)."""
    m = np.asarray(mask, dtype=bool).copy()
    if max_gap <= 0 or not m.any():
        return m
    idx = np.flatnonzero(m)
    gaps = np.diff(idx)
    for a, g in zip(idx[:-1], gaps, strict=True):
        if 1 < g <= max_gap + 1:
            m[a + 1 : a + g] = True
    return m


def mask_flags(
    kind: str,
    t_ns: NDArray[np.int64],
    mask: NDArray[np.bool_],
    rig: str,
    evidence: Mapping[str, NDArray[np.float64]] | None = None,
    severity: Severity | None = None,
    min_len: int = 1,
    max_gap: int = 0,
    message: str = "",
) -> list[Flag]:
    """Flags for the runs of a per-sample mask; evidence arrays are summarised (mean) per run."""
    m = close_gaps(mask, max_gap)
    out = []
    for t0, t1, sl in spans_from_mask(t_ns, m):
        if sl.stop - sl.start < min_len:
            continue
        ev: dict[str, float] = {"samples": float(sl.stop - sl.start), "seconds": (t1 - t0) * 1e-9}
        for k, v in (evidence or {}).items():
            vals = np.asarray(v, dtype=np.float64)[sl]
            vals = vals[np.isfinite(vals)]
            if len(vals):
                ev[k] = float(np.mean(vals))
        out.append(
            Flag(
                kind,
                severity or FLAG_KINDS[kind].default_severity,
                t0,
                t1,
                rig=rig,
                evidence=ev,
                message=message or FLAG_KINDS[kind].description,
            )
        )
    return out


# ---------------------------------------------------------------------- tracking


def tracking_flags(traj: Trajectory, rig: str, min_quality: float = 0.5, max_sigma_m: float = 0.02) -> list[Flag]:
    """Lost tracking (error) and degraded tracking (interpolated, relocalised, low quality, large sigma)."""
    lost = traj.state == TrackState.LOST
    sigma = traj.sigma().astype(np.float64)
    degraded = ~lost & (
        (traj.state == TrackState.INTERPOLATED)
        | (traj.state == TrackState.RELOCALISED)
        | (traj.quality < min_quality)
        | (np.nan_to_num(sigma, nan=0.0) > max_sigma_m)
    )
    ev = {"quality": traj.quality.astype(np.float64), "sigma_m": sigma}
    return mask_flags("observation.tracking_lost", traj.t_ns, lost, rig, ev) + mask_flags(
        "observation.tracking_degraded", traj.t_ns, degraded, rig, ev
    )


# ------------------------------------------------------------------ frame timing


def dropped_frame_flags(t_ns: NDArray[np.int64], rate_hz: float | None, rig: str, tolerance: float = 1.5) -> list[Flag]:
    """Gaps between consecutive frames longer than ``tolerance`` frame periods.

    The span covers the hole ``[t_before, t_after)``; evidence says how many frames are missing.
    """
    t = np.asarray(t_ns, dtype=np.int64)
    if len(t) < 2:
        return []
    period = 1e9 / rate_hz if rate_hz else float(np.median(np.diff(t)))
    dt = np.diff(t).astype(np.float64)
    out = []
    for i in np.flatnonzero(dt > tolerance * period):
        missing = round(dt[i] / period) - 1
        out.append(
            Flag(
                "observation.dropped_frames",
                "warn",
                int(t[i]),
                int(t[i + 1]),
                rig=rig,
                evidence={"missing_frames": float(max(missing, 1)), "gap_s": dt[i] * 1e-9, "period_s": period * 1e-9},
                message=f"{max(missing, 1)} frame(s) missing",
            )
        )
    return out


def link_gap_flags(gaps: list[Mapping[str, object]], rig: str) -> list[Flag]:
    """Recorded link drops (session manifest ``gaps``) as dropped-frame flags."""
    out = []
    for g in gaps:
        if g.get("rig") != rig:
            continue
        t0, t1 = int(g["t0_ns"]), int(g["t1_ns"])  # type: ignore[call-overload]
        if t1 > t0:
            out.append(
                Flag(
                    "observation.dropped_frames",
                    "warn",
                    t0,
                    t1,
                    rig=rig,
                    evidence={"gap_s": (t1 - t0) * 1e-9},
                    message=f"link gap: {g.get('reason', '')}",
                )
            )
    return out


# ------------------------------------------------------------------------- IMU


def imu_saturation_flags(
    t_ns: NDArray[np.int64],
    gyro: NDArray[np.float64],
    accel: NDArray[np.float64],
    rig: str,
    gyro_range_rad_s: float,
    accel_range_m_s2: float,
    margin: float = 0.98,
) -> list[Flag]:
    """Samples whose gyro (N, 3) or accel (N, 3) component reaches ``margin`` of the sensor's range."""
    g = np.abs(np.asarray(gyro, dtype=np.float64)).max(axis=1)
    a = np.abs(np.asarray(accel, dtype=np.float64)).max(axis=1)
    sat = (g >= margin * gyro_range_rad_s) | (a >= margin * accel_range_m_s2)
    return mask_flags(
        "observation.imu_saturation", t_ns, sat, rig, {"gyro_peak_rad_s": g, "accel_peak_m_s2": a}, max_gap=5
    )


# ------------------------------------------------------------------ clock sync


def clock_sync_uncertainty_ns(
    t_host_send_ns: NDArray[np.int64],
    t_device_rx_ns: NDArray[np.int64],
    t_device_tx_ns: NDArray[np.int64],
    t_host_recv_ns: NDArray[np.int64],
) -> NDArray[np.float64]:
    """Per exchange, half the round trip minus the device's turnaround: the offset's error bound."""
    rtt = (np.asarray(t_host_recv_ns) - np.asarray(t_host_send_ns)) - (
        np.asarray(t_device_tx_ns) - np.asarray(t_device_rx_ns)
    )
    return np.maximum(rtt.astype(np.float64), 0.0) / 2.0


def clock_sync_flags(
    t_ns: NDArray[np.int64], uncertainty_ns: NDArray[np.float64], rig: str, threshold_ns: float
) -> list[Flag]:
    """Spans where the clock-sync uncertainty exceeds the threshold."""
    u = np.asarray(uncertainty_ns, dtype=np.float64)
    return mask_flags("observation.clock_sync", t_ns, u > threshold_ns, rig, {"uncertainty_ms": u * 1e-6}, max_gap=2)


# -------------------------------------------------------------------- gripper


def fiducials_hidden_flags(
    t_ns: NDArray[np.int64], width_m: NDArray[np.float64], rig: str, max_gap: int = 2
) -> list[Flag]:
    """Spans where the gripper width is unknown (NaN: finger fiducials not seen)."""
    unknown = ~np.isfinite(np.asarray(width_m, dtype=np.float64))
    return mask_flags("observation.fiducials_hidden", t_ns, unknown, rig, max_gap=max_gap)


# --------------------------------------------------------------- camera mismatch


@dataclass(frozen=True)
class CameraTolerance:
    """How far the rig camera may differ from the robot's before it is flagged."""

    fov_deg: float = 8.0
    aspect: float = 0.03  # relative
    translation_m: float = 0.02
    rotation_deg: float = 8.0


def camera_mismatch(
    rig_camera: CameraModel,
    rig_T_tcp_cam: NDArray[np.float64] | None,
    robot_camera: CameraModel,
    robot_T_tcp_cam: NDArray[np.float64] | None,
    tol: CameraTolerance = CameraTolerance(),
) -> tuple[dict[str, float], list[str]]:
    """Compare the rig's camera with the robot's: returns (evidence, reasons it differs)."""
    ev: dict[str, float] = {}
    reasons: list[str] = []
    fov_rig, fov_robot = rig_camera.horizontal_fov_deg(), robot_camera.horizontal_fov_deg()
    ev["fov_rig_deg"], ev["fov_robot_deg"] = fov_rig, fov_robot
    if abs(fov_rig - fov_robot) > tol.fov_deg:
        reasons.append(f"horizontal field of view {fov_rig:.0f} deg vs robot {fov_robot:.0f} deg")
    a_rig = rig_camera.width / rig_camera.height
    a_robot = robot_camera.width / robot_camera.height
    ev["width_rig"], ev["height_rig"] = float(rig_camera.width), float(rig_camera.height)
    ev["width_robot"], ev["height_robot"] = float(robot_camera.width), float(robot_camera.height)
    if abs(a_rig / a_robot - 1) > tol.aspect:
        reasons.append(f"aspect ratio {a_rig:.3f} vs robot {a_robot:.3f}")
    elif (rig_camera.width, rig_camera.height) != (robot_camera.width, robot_camera.height):
        reasons.append(
            f"resolution {rig_camera.width}x{rig_camera.height} vs robot "
            f"{robot_camera.width}x{robot_camera.height} (same aspect: resized on export)"
        )
    ev["distortion_model_differs"] = float(rig_camera.model != robot_camera.model)
    if rig_camera.model != robot_camera.model:
        reasons.append(f"distortion model {rig_camera.model} vs robot {robot_camera.model}")
    if rig_T_tcp_cam is not None and robot_T_tcp_cam is not None:
        d = geometry.se3_inverse(np.asarray(robot_T_tcp_cam)) @ np.asarray(rig_T_tcp_cam)
        dt = float(np.linalg.norm(d[:3, 3]))
        dr = float(np.degrees(geometry.rotation_angle(d[:3, :3])))
        ev["mount_translation_m"], ev["mount_rotation_deg"] = dt, dr
        if dt > tol.translation_m or dr > tol.rotation_deg:
            reasons.append(f"camera mount differs from the robot's by {dt * 100:.1f} cm, {dr:.0f} deg")
    return ev, reasons


def camera_mismatch_flags(
    t0_ns: int,
    t1_ns: int,
    rig: str,
    rig_camera: CameraModel,
    rig_T_tcp_cam: NDArray[np.float64] | None,
    robot_camera: CameraModel,
    robot_T_tcp_cam: NDArray[np.float64] | None,
    tol: CameraTolerance = CameraTolerance(),
) -> list[Flag]:
    """One flag over the whole recording when the cameras differ beyond resizing."""
    ev, reasons = camera_mismatch(rig_camera, rig_T_tcp_cam, robot_camera, robot_T_tcp_cam, tol)
    real = [r for r in reasons if "resized on export" not in r]
    if not reasons or t1_ns <= t0_ns:
        return []
    severity: Severity = "warn" if real else "info"
    return [
        Flag("observation.camera_mismatch", severity, t0_ns, t1_ns, rig=rig, evidence=ev, message="; ".join(reasons))
    ]
