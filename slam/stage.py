"""The trajectory stage: session -> ``stages/trajectory/<rig>.parquet`` (+ PNG) for every rig.

Estimators share one signature, ``estimate(session, rig, settings) -> (Trajectory, summary)``,
and are chosen by name. The stage records its inputs' hashes (the rig's camera and IMU
streams, its calibration, the method and settings) so ``democap process`` re-runs it
only when one of them changed.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from capture.artifacts import (
    StageRecord,
    commit_stage,
    input_hash,
    is_current,
    read_stage,
    stage_dir,
    write_trajectory,
)
from capture.session import Session
from democap.errors import StageError
from democap.model import Trajectory

log = logging.getLogger(__name__)

STAGE = "trajectory"
VERSION = 1

#: name -> "module:function"; the first importable entry of DEFAULT_ORDER is the default.
ESTIMATORS = {"simple": "slam.simple:estimate", "vio": "slam.vio:estimate"}
#: VIO first: on every benchmark sequence it marks no wrong pose 'ok'. The simple estimator
#: takes over for a rig VIO cannot track (no gyro, e.g. a TUM RGB-D import), and says so.
DEFAULT_ORDER = ("vio", "simple")

Estimator = Callable[[Session, str, Mapping[str, Any]], tuple[Trajectory, dict[str, Any]]]


def estimator(name: str) -> Estimator:
    if name not in ESTIMATORS:
        raise StageError(f"unknown trajectory method {name!r}; choose from {', '.join(ESTIMATORS)}")
    mod, fn = ESTIMATORS[name].split(":")
    try:
        return getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        raise StageError(f"trajectory method {name!r} is not available ({e})") from e


def default_method() -> str:
    for name in DEFAULT_ORDER:
        try:
            estimator(name)
            return name
        except StageError:
            continue
    return "simple"


def stage_inputs(session: Session, method: str, settings: Mapping[str, Any]) -> str:
    streams = [n for n, s in session.streams.items() if s["kind"] in ("video", "imu") and s["rig"] != "reference"]
    calibs = {r: session.manifest["rigs"][r].get("calibration") for r in session.rigs}
    parts = {
        "stage": STAGE,
        "version": VERSION,
        "streams": session.fingerprint(streams),
        "calibrations": calibs,
        "method": method,
        "settings": dict(settings),
    }
    if settings.get("map"):
        from slam.maps.join import map_content_id

        parts["map"] = map_content_id(session, str(settings["map"]))  # a rebuilt map makes the stage stale
    return input_hash(parts)


def _keep_map(session: Session, settings: Mapping[str, Any]) -> dict[str, Any]:
    """A session tracked in a map stays in it: ``process`` and ``process --pending`` give no
    settings, and re-running without the map would silently move it to another world.
    Pass ``map=""`` to drop it."""
    out = dict(settings)
    if "map" not in out:
        rec = read_stage(session, STAGE)
        if rec is not None and rec.settings.get("map"):
            out["map"] = rec.settings["map"]
    return out


def is_stale(session: Session, method: str | None = None, settings: Mapping[str, Any] | None = None) -> bool:
    m = method or default_method()
    return not is_current(session, STAGE, VERSION, stage_inputs(session, m, _keep_map(session, settings or {})))


def run(
    session: Session, settings: Mapping[str, Any] | None = None, method: str | None = None, force: bool = False
) -> StageRecord:
    settings = _keep_map(session, settings or {})
    explicit = method is not None
    method = method or default_method()
    h = stage_inputs(session, method, settings)
    if not force and is_current(session, STAGE, VERSION, h):
        log.info("trajectory of %s is up to date", session.id)
        rec = read_stage(session, STAGE)
        assert rec is not None
        return rec
    est = estimator(method)
    out = stage_dir(session, STAGE)
    out.mkdir(parents=True, exist_ok=True)
    files, summary = [], {}
    rigs = [r for r in session.rigs if session.streams_of("video", r)]
    if not rigs:
        raise StageError(f"session {session.id} has no camera stream to track", session.path)
    for rig in rigs:
        _check_camera_sizes(session, rig)
        try:
            traj, info = est(session, rig, settings)
        except StageError as e:
            if explicit or method == "simple":
                raise
            log.warning("%s %s: %s; using the simple estimator", session.id, rig, e)
            traj, info = estimator("simple")(session, rig, settings)
            info["fallback_from"] = {"method": method, "reason": str(e)}
        write_trajectory(out / f"{rig}.parquet", traj)
        files.append(f"{rig}.parquet")
        try:
            from slam.plots import plot_trajectory

            plot_trajectory(traj, out / f"{rig}.png", title=f"{session.id} {rig} ({method})")
            files.append(f"{rig}.png")
        except Exception as e:  # noqa: BLE001 - a plot must never fail the stage
            log.warning("trajectory plot failed: %s", e)
        summary[rig] = info
        if info.get("reason"):
            log.warning("%s %s: %s", session.id, rig, info["reason"])
    corrections: dict[str, Any] = {}
    for r in summary:
        corrections.update(summary[r].pop("corrections", {}))  # keyed by stream
    return commit_stage(session, STAGE, VERSION, h, {"method": method, **settings}, files, summary, corrections)


def _check_camera_sizes(session: Session, rig: str) -> None:
    """A calibration for another resolution would silently put every ray in the wrong place."""
    calib = session.calibration(rig)
    if calib is None:
        return
    for cam in calib.cameras:
        spec = session.streams.get(f"{rig}.{cam.name}")
        if spec and (spec.get("width"), spec.get("height")) != (cam.camera.width, cam.camera.height):
            raise StageError(
                f"{rig}.{cam.name} is {spec.get('width')}x{spec.get('height')} but its calibration "
                f"{session.manifest['rigs'][rig].get('calibration', '')[:19]} is for "
                f"{cam.camera.width}x{cam.camera.height}; calibrate this camera mode",
                session.path,
            )
