"""OpenCV ``FileStorage`` YAML camera files (``calibrateCamera`` sample output, ``stereo_calib``).

The one reader/writer of this format. Keys: ``image_width``, ``image_height``,
``camera_matrix`` (3x3), ``distortion_coefficients`` (k1 k2 p1 p2 [k3], or k1..k4 when
``distortion_model`` is ``fisheye``), ``avg_reprojection_error``. A rig is written as
one camera per key prefix (``cam0_camera_matrix``, ...) plus ``cam0_T_imu_cam`` (maps
camera points to the IMU frame) and ``cam0_time_offset_ns``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from democap.errors import CalibrationError
from democap.model import CameraCalibration, CameraModel, RigCalibration


@dataclass(frozen=True)
class OpenCVCamera:
    camera: CameraModel
    rms_px: float | None = None


def _open(path: Path, mode: int) -> cv2.FileStorage:
    fs = cv2.FileStorage(str(path), mode)
    if not fs.isOpened():
        raise CalibrationError("cannot open as OpenCV YAML", path)
    return fs


def _read_camera(fs: cv2.FileStorage, prefix: str, path: Path) -> OpenCVCamera:
    K = fs.getNode(prefix + "camera_matrix").mat()
    D = fs.getNode(prefix + "distortion_coefficients").mat()
    w, h = fs.getNode(prefix + "image_width"), fs.getNode(prefix + "image_height")
    if K is None or K.shape != (3, 3) or w.empty() or h.empty():
        raise CalibrationError(f"needs {prefix}camera_matrix (3x3), {prefix}image_width and {prefix}image_height", path)
    model_node = fs.getNode(prefix + "distortion_model")
    fisheye = not model_node.empty() and model_node.string() in ("fisheye", "equidistant")
    dist = tuple(float(v) for v in (D.ravel() if D is not None else ()))
    cam = CameraModel(
        "fisheye-equidistant" if fisheye else "pinhole-radtan", int(w.real()), int(h.real()),
        float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), dist,
    )  # fmt: skip
    rms_node = fs.getNode(prefix + "avg_reprojection_error")
    return OpenCVCamera(cam, None if rms_node.empty() else float(rms_node.real()))


def _write_camera(fs: cv2.FileStorage, prefix: str, cam: CameraModel, rms: float | None) -> None:
    fs.write(prefix + "image_width", int(cam.width))
    fs.write(prefix + "image_height", int(cam.height))
    fs.write(prefix + "camera_matrix", cam.K)
    fs.write(prefix + "distortion_model", "fisheye" if cam.model == "fisheye-equidistant" else "plumb_bob")
    fs.write(prefix + "distortion_coefficients", np.asarray(cam.distortion, np.float64).reshape(-1, 1))
    if rms is not None:
        fs.write(prefix + "avg_reprojection_error", float(rms))


def read_opencv_camera(path: str | Path) -> OpenCVCamera:
    p = Path(path)
    fs = _open(p, cv2.FILE_STORAGE_READ)
    try:
        return _read_camera(fs, "", p)
    finally:
        fs.release()


def write_opencv_camera(path: str | Path, camera: CameraModel, rms_px: float | None = None) -> None:
    fs = _open(Path(path), cv2.FILE_STORAGE_WRITE)
    try:
        _write_camera(fs, "", camera, rms_px)
    finally:
        fs.release()


def write_opencv_rig(path: str | Path, rig: RigCalibration) -> None:
    fs = _open(Path(path), cv2.FILE_STORAGE_WRITE)
    try:
        fs.write("rig_serial", rig.rig_serial)
        fs.write("camera_names", ",".join(c.name for c in rig.cameras))
        for c in rig.cameras:
            _write_camera(fs, c.name + "_", c.camera, c.rms_px)
            fs.write(c.name + "_T_imu_cam", np.asarray(c.T_imu_cam, np.float64))
            fs.write(c.name + "_time_offset_ns", float(c.time_offset_ns))
    finally:
        fs.release()


def read_opencv_rig(path: str | Path) -> RigCalibration:
    p = Path(path)
    fs = _open(p, cv2.FILE_STORAGE_READ)
    try:
        names_node = fs.getNode("camera_names")
        if names_node.empty():
            cam = _read_camera(fs, "", p)  # a plain single-camera file
            return RigCalibration("unknown", (CameraCalibration("cam0", cam.camera, np.eye(4), 0, cam.rms_px),))
        cams = []
        for n in names_node.string().split(","):
            c = _read_camera(fs, n + "_", p)
            T = fs.getNode(n + "_T_imu_cam").mat()
            off = fs.getNode(n + "_time_offset_ns")
            cams.append(CameraCalibration(n, c.camera, np.eye(4) if T is None else np.asarray(T, np.float64),
                                          0 if off.empty() else int(round(off.real())), c.rms_px))  # fmt: skip
        serial = fs.getNode("rig_serial")
        return RigCalibration("unknown" if serial.empty() else serial.string(), tuple(cams))
    finally:
        fs.release()
