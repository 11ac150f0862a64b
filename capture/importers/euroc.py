"""Import an EuRoC/ASL folder (cam0/cam1/imu0, ground truth) into a new session.

Timestamps: EuRoC stamps every sensor on the VI-sensor's hardware clock. That clock is
both the raw device time and, for lack of a host, the session's host time
(``clock_domain: dataset``). Ground truth becomes the ``reference.pose`` stream
(quaternion columns qw,qx,qy,qz). Images are stored losslessly (FFV1) by default
because the source is lossless.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from capture.importers import dataset_writer, finish_import
from capture.session import Session, StreamSpec, add_reference_poses, imu_columns
from democap import geometry
from democap.errors import ImportFormatError
from democap.formats.euroc import read_euroc
from democap.formats.kalibr import read_euroc_sensor_yaml
from democap.geometry import se3_inverse
from democap.home import Home
from democap.model import CameraCalibration, RigCalibration
from democap.progress import Progress


def euroc_calibration(folder_root: Path, cameras: dict, imu_yaml: Path | None) -> RigCalibration:
    """Rig calibration from the sensor.yaml files: T_imu_cam = T_BS_imu^-1 T_BS_cam."""
    imu_noise = None
    T_body_imu = np.eye(4)
    if imu_yaml is not None:
        imu_sensor = read_euroc_sensor_yaml(imu_yaml)
        imu_noise = imu_sensor.imu_noise
        T_body_imu = imu_sensor.T_body_sensor
    cams = []
    for name, cam in cameras.items():
        if cam.sensor_yaml is None:
            raise ImportFormatError("camera has no sensor.yaml (needed for intrinsics)", folder_root / name)
        s = read_euroc_sensor_yaml(cam.sensor_yaml)
        if s.camera is None:
            raise ImportFormatError("sensor.yaml does not describe a camera", cam.sensor_yaml)
        cams.append(CameraCalibration(name, s.camera, se3_inverse(T_body_imu) @ s.T_body_sensor))
    return RigCalibration(
        rig_serial="euroc-vi-sensor",
        cameras=tuple(cams),
        imu=imu_noise,
        notes=f"from EuRoC sensor.yaml files in {folder_root}",
    )


def import_euroc(path: Path, home: Home, *, operator: str = "", lossless: bool = True) -> Session:
    data = read_euroc(path)
    if not data.cameras:
        raise ImportFormatError("EuRoC folder has no camera", path)
    calib = euroc_calibration(data.root, data.cameras, data.imu.sensor_yaml if data.imu else None)
    t_first = int(min(c.t_ns[0] for c in data.cameras.values() if len(c.t_ns)))
    device = {"serial": calib.rig_serial, "hardware": "ASL VI-Sensor", "kind": "dataset"}
    writer = dataset_writer(home, "euroc", path, operator, t_first, device, calib)
    total = sum(len(c.files) for c in data.cameras.values())
    with Progress("importing images", total) as bar:
        for name, cam in data.cameras.items():
            first = cv2.imread(str(cam.files[0]), cv2.IMREAD_UNCHANGED)
            if first is None:
                raise ImportFormatError("cannot read image", cam.files[0])
            rate = float(1e9 / np.median(np.diff(cam.t_ns))) if len(cam.t_ns) > 1 else 20.0
            gray = first.ndim == 2
            video = writer.add_video(
                StreamSpec(f"rig0.{name}", "video", "rig0", name, rate),
                first.shape[1],
                first.shape[0],
                "gray" if gray else "rgb24",
                "ffv1" if lossless else "h264",
            )
            for t, f in zip(cam.t_ns, cam.files, strict=True):
                img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
                if img is None:
                    raise ImportFormatError("cannot read image", f)
                if not gray:
                    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
                video.append(img, int(t), int(t))
                bar.advance()
    if data.imu is not None:
        imu = data.imu
        rate = float(1e9 / np.median(np.diff(imu.t_ns))) if len(imu.t_ns) > 1 else 200.0
        w = writer.add_table(StreamSpec("rig0.imu", "imu", "rig0", "imu0", rate))
        w.append_many(imu_columns(imu.t_ns, imu.t_ns, imu.gyro, imu.accel))
    if data.groundtruth is not None and len(data.groundtruth.t_ns):
        gt = data.groundtruth
        T_gt = geometry.se3(geometry.quat_wxyz_to_matrix(gt.q_world_body_wxyz), gt.p_world_body)
        add_reference_poses(writer, gt.t_ns, gt.t_ns, T_gt, "T_world_imu", "state_groundtruth_estimate0")
    cam_t = np.concatenate([c.t_ns for c in data.cameras.values()])
    return finish_import(home, writer, int(cam_t.min()), int(cam_t.max()) + 1, path)
