"""Kalibr YAML files: EuRoC/ASL ``sensor.yaml``, Kalibr ``camchain.yaml``, ``imu.yaml`` and ``target.yaml``.

The one reader/writer of these formats. Conventions at this boundary:

* ``sensor.yaml``: ``T_BS`` maps sensor points to the body frame (``T_body_sensor``);
  ``intrinsics`` are ``[fu, fv, cu, cv]``; ``distortion_model`` ``radial-tangential``
  (k1, k2, p1, p2) or ``equidistant`` (Kannala-Brandt k1..k4). The files start with
  OpenCV's ``%YAML:1.0`` directive, which PyYAML rejects, so it is stripped.
* ``camchain.yaml``: ``T_cam_imu`` maps IMU points to camera ``camN`` (the inverse of
  democap's ``T_imu_cam``); ``T_cn_cnm1`` maps camera N-1 to camera N;
  ``timeshift_cam_imu`` in seconds with ``t_imu = t_cam + shift`` (democap's
  ``time_offset_ns``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

from democap import geometry
from democap.errors import CalibrationError
from democap.model import CameraCalibration, CameraModel, ImuNoise, RigCalibration

_DIRECTIVE = re.compile(r"^%YAML[: ]?[0-9.]*\s*$", re.MULTILINE)

# Kalibr / EuRoC distortion names -> democap camera model.
_MODEL_FROM_DISTORTION = {
    "radial-tangential": "pinhole-radtan",
    "radtan": "pinhole-radtan",
    "plumb_bob": "pinhole-radtan",
    "equidistant": "fisheye-equidistant",
    "equi": "fisheye-equidistant",
    "fisheye": "fisheye-equidistant",
}


def _load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise CalibrationError(f"cannot read: {e.strerror}", p) from e
    try:
        data = yaml.safe_load(_DIRECTIVE.sub("", text))
    except yaml.YAMLError as e:
        raise CalibrationError(f"not valid YAML: {e}", p) from e
    if not isinstance(data, dict):
        raise CalibrationError("expected a YAML mapping at the top level", p)
    return data


def _matrix4(value: Any, what: str, path: Path) -> NDArray[np.float64]:
    """A 4x4 from either OpenCV-style ``{rows, cols, data}`` or a nested list."""
    if isinstance(value, Mapping):
        data = value.get("data")
        shape = (int(value.get("rows", 4)), int(value.get("cols", 4)))
    else:
        data, shape = value, (4, 4)
    try:
        T = np.asarray(data, dtype=np.float64).reshape(shape)
    except (TypeError, ValueError) as e:
        raise CalibrationError(f"{what} is not a 4x4 matrix", path) from e
    if T.shape != (4, 4) or not np.allclose(T[3], [0, 0, 0, 1]):
        raise CalibrationError(f"{what} is not a homogeneous 4x4 transform", path)
    return T


def _camera_model(d: Mapping[str, Any], path: Path) -> CameraModel:
    try:
        fu, fv, cu, cv = (float(v) for v in d["intrinsics"][:4])
        width, height = (int(v) for v in d["resolution"])
    except (KeyError, TypeError, ValueError) as e:
        raise CalibrationError("camera needs intrinsics [fu, fv, cu, cv] and resolution [w, h]", path) from e
    if d.get("camera_model", "pinhole") != "pinhole":
        raise CalibrationError(
            f"camera_model {d.get('camera_model')!r} is not supported (only pinhole with radtan/equidistant)",
            path,
        )
    dist_name = str(d.get("distortion_model", "radial-tangential"))
    model = _MODEL_FROM_DISTORTION.get(dist_name)
    if model is None:
        raise CalibrationError(
            f"distortion_model {dist_name!r} is not supported; expected {sorted(_MODEL_FROM_DISTORTION)}",
            path,
        )
    coeffs = d.get("distortion_coefficients", d.get("distortion_coeffs", [])) or []
    return CameraModel(
        model=model,  # type: ignore[arg-type]
        width=width,
        height=height,
        fx=fu,
        fy=fv,
        cx=cu,
        cy=cv,
        distortion=tuple(float(c) for c in coeffs),
    )


def _camera_fields(cam: CameraModel, *, euroc: bool) -> dict[str, Any]:
    equi = cam.model == "fisheye-equidistant"
    dist = ("equidistant" if equi else "radial-tangential") if euroc else ("equidistant" if equi else "radtan")
    return {
        "camera_model": "pinhole",
        "intrinsics": [float(cam.fx), float(cam.fy), float(cam.cx), float(cam.cy)],
        "distortion_model": dist,
        ("distortion_coefficients" if euroc else "distortion_coeffs"): [float(c) for c in cam.distortion],
        "resolution": [int(cam.width), int(cam.height)],
    }


# ------------------------------------------------------------ EuRoC sensor.yaml


@dataclass(frozen=True, eq=False)
class EurocSensor:
    """One ``mav0/<sensor>/sensor.yaml``.

    ``T_body_sensor`` (4, 4) maps sensor points to the body frame (EuRoC's ``T_BS``).
    ``camera`` is set for cameras, ``imu_noise`` for IMUs (its ``rate_hz`` equals ``rate_hz``).
    """

    sensor_type: str
    T_body_sensor: NDArray[np.float64]
    rate_hz: float | None = None
    camera: CameraModel | None = None
    imu_noise: ImuNoise | None = None
    comment: str = ""

    @property
    def T_BS(self) -> NDArray[np.float64]:
        """EuRoC's name for ``T_body_sensor``."""
        return self.T_body_sensor


def read_euroc_sensor_yaml(path: str | Path) -> EurocSensor:
    """Read an EuRoC/ASL ``sensor.yaml`` (camera, imu, or any other sensor with ``T_BS``)."""
    p = Path(path)
    d = _load_yaml(p)
    T_BS = _matrix4(d["T_BS"], "T_BS", p) if "T_BS" in d else np.eye(4)
    rate = float(d["rate_hz"]) if d.get("rate_hz") is not None else None
    sensor_type = str(d.get("sensor_type") or ("camera" if "intrinsics" in d else "unknown"))
    comment = str(d.get("comment") or d.get("camera_id") or "")
    camera = imu = None
    if sensor_type == "camera" or "intrinsics" in d:
        sensor_type = "camera"
        camera = _camera_model(d, p)
    elif sensor_type == "imu":
        keys = (
            "gyroscope_noise_density",
            "gyroscope_random_walk",
            "accelerometer_noise_density",
            "accelerometer_random_walk",
        )
        missing = [k for k in keys if k not in d]
        if missing:
            raise CalibrationError(f"imu sensor.yaml lacks {', '.join(missing)}", p)
        if rate is None:
            raise CalibrationError("imu sensor.yaml lacks rate_hz", p)
        imu = ImuNoise(
            gyro_noise_density=float(d["gyroscope_noise_density"]),
            gyro_random_walk=float(d["gyroscope_random_walk"]),
            accel_noise_density=float(d["accelerometer_noise_density"]),
            accel_random_walk=float(d["accelerometer_random_walk"]),
            rate_hz=rate,
        )
    return EurocSensor(sensor_type, T_BS, rate, camera, imu, comment)


def write_euroc_sensor_yaml(path: str | Path, sensor: EurocSensor) -> None:
    """Write a ``sensor.yaml`` that EuRoC tools (and ``read_euroc_sensor_yaml``) read back."""
    d: dict[str, Any] = {"sensor_type": sensor.sensor_type, "comment": sensor.comment}
    d["T_BS"] = {"cols": 4, "rows": 4, "data": [float(v) for v in np.asarray(sensor.T_body_sensor).ravel()]}
    if sensor.rate_hz is not None:
        d["rate_hz"] = float(sensor.rate_hz)
    if sensor.camera is not None:
        d.update(_camera_fields(sensor.camera, euroc=True))
    if sensor.imu_noise is not None:
        n = sensor.imu_noise
        d.update(
            {
                "gyroscope_noise_density": n.gyro_noise_density,
                "gyroscope_random_walk": n.gyro_random_walk,
                "accelerometer_noise_density": n.accel_noise_density,
                "accelerometer_random_walk": n.accel_random_walk,
            }
        )
    Path(path).write_text("%YAML:1.0\n" + yaml.safe_dump(d, sort_keys=False, default_flow_style=None))


# ------------------------------------------------------------- Kalibr camchain


@dataclass(frozen=True, eq=False)
class KalibrCamera:
    """One ``camN`` entry of a camchain. ``T_cam_imu`` / ``T_cn_cnm1`` are None when absent."""

    name: str
    camera: CameraModel
    T_cam_imu: NDArray[np.float64] | None = None
    T_cn_cnm1: NDArray[np.float64] | None = None
    timeshift_cam_imu_s: float = 0.0
    rostopic: str = ""


def read_kalibr_camchain(path: str | Path) -> list[KalibrCamera]:
    """Cameras of a Kalibr ``camchain.yaml`` / ``camchain-imucam.yaml`` in cam0, cam1, ... order."""
    p = Path(path)
    d = _load_yaml(p)
    names = sorted((k for k in d if re.fullmatch(r"cam\d+", str(k))), key=lambda k: int(k[3:]))
    if not names:
        raise CalibrationError("no cam0/cam1/... entries: not a Kalibr camchain", p)
    out = []
    for n in names:
        c = d[n]
        out.append(
            KalibrCamera(
                name=n,
                camera=_camera_model(c, p),
                T_cam_imu=_matrix4(c["T_cam_imu"], f"{n}.T_cam_imu", p) if "T_cam_imu" in c else None,
                T_cn_cnm1=_matrix4(c["T_cn_cnm1"], f"{n}.T_cn_cnm1", p) if "T_cn_cnm1" in c else None,
                timeshift_cam_imu_s=float(c.get("timeshift_cam_imu", 0.0)),
                rostopic=str(c.get("rostopic", "")),
            )
        )
    return out


def rig_from_camchain(cams: list[KalibrCamera], rig_serial: str, imu: ImuNoise | None = None) -> RigCalibration:
    """A RigCalibration from camchain entries. Cameras without ``T_cam_imu`` are chained from cam0 by
    ``T_cn_cnm1``; if cam0 has none either, the IMU frame is taken to be cam0's."""
    T_imu_cams: list[NDArray[np.float64]] = []
    for i, c in enumerate(cams):
        if c.T_cam_imu is not None:
            T_imu_cams.append(geometry.se3_inverse(c.T_cam_imu))
        elif i == 0:
            T_imu_cams.append(np.eye(4))
        elif c.T_cn_cnm1 is not None:
            T_imu_cams.append(T_imu_cams[-1] @ geometry.se3_inverse(c.T_cn_cnm1))
        else:
            raise CalibrationError(f"{c.name} has neither T_cam_imu nor T_cn_cnm1")
    cameras = tuple(
        CameraCalibration(c.name, c.camera, T, int(round(c.timeshift_cam_imu_s * 1e9)))
        for c, T in zip(cams, T_imu_cams, strict=True)
    )
    return RigCalibration(rig_serial=rig_serial, cameras=cameras, imu=imu)


def write_kalibr_camchain(path: str | Path, rig: RigCalibration) -> None:
    """Write a rig's cameras as a Kalibr ``camchain-imucam.yaml``."""
    d: dict[str, Any] = {}
    prev: CameraCalibration | None = None
    for i, c in enumerate(rig.cameras):
        T_cam_imu = geometry.se3_inverse(c.T_imu_cam)
        e: dict[str, Any] = {"T_cam_imu": [[float(v) for v in row] for row in T_cam_imu]}
        if prev is not None:
            T_cn_cnm1 = T_cam_imu @ prev.T_imu_cam
            e["T_cn_cnm1"] = [[float(v) for v in row] for row in T_cn_cnm1]
            e["cam_overlaps"] = [i - 1]
        e.update(_camera_fields(c.camera, euroc=False))
        e["rostopic"] = f"/{c.name}/image_raw"
        e["timeshift_cam_imu"] = c.time_offset_ns * 1e-9
        d[f"cam{i}"] = e
        prev = c
    Path(path).write_text(yaml.safe_dump(d, sort_keys=False, default_flow_style=None))


def read_kalibr_imu_yaml(path: str | Path) -> ImuNoise:
    """Kalibr ``imu.yaml`` (``imu0`` entry or flat) -> ImuNoise."""
    p = Path(path)
    d = _load_yaml(p)
    d = d.get("imu0", d)
    try:
        return ImuNoise(
            gyro_noise_density=float(d["gyroscope_noise_density"]),
            gyro_random_walk=float(d["gyroscope_random_walk"]),
            accel_noise_density=float(d["accelerometer_noise_density"]),
            accel_random_walk=float(d["accelerometer_random_walk"]),
            rate_hz=float(d.get("update_rate", d.get("rate_hz"))),
        )
    except (KeyError, TypeError) as e:
        raise CalibrationError(f"imu yaml lacks {e}", p) from e


def write_kalibr_imu_yaml(path: str | Path, imu: ImuNoise, rostopic: str = "/imu0") -> None:
    d = {
        "rostopic": rostopic,
        "update_rate": float(imu.rate_hz),
        "accelerometer_noise_density": imu.accel_noise_density,
        "accelerometer_random_walk": imu.accel_random_walk,
        "gyroscope_noise_density": imu.gyro_noise_density,
        "gyroscope_random_walk": imu.gyro_random_walk,
    }
    Path(path).write_text(yaml.safe_dump(d, sort_keys=False))


# --------------------------------------------------------------- target.yaml


def read_kalibr_target_yaml(path: str | Path) -> dict[str, Any]:
    """A Kalibr ``target.yaml`` as a plain mapping; ``calib.targets.target_from_dict`` interprets it."""
    return _load_yaml(path)


def write_kalibr_target_yaml(path: str | Path, target: Mapping[str, Any]) -> None:
    Path(path).write_text(yaml.safe_dump(dict(target), sort_keys=False))
