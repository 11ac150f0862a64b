"""Import a TUM RGB-D folder (rgb.txt, depth.txt, accelerometer.txt, groundtruth.txt) into a session.

The colour camera becomes ``rig0.cam0`` (RGB, H.264 or lossless), depth ``rig0.depth0``
(16-bit, FFV1, TUM units: 5000 per metre, recorded in the stream's ``depth_scale_m``),
the Kinect accelerometer ``rig0.imu`` (gyro columns NaN: it has none) and the motion-capture
ground truth ``reference.pose`` (converted from TUM's x,y,z,w to our qw,qx,qy,qz columns).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from capture.importers import dataset_writer, finish_import
from capture.session import Session, StreamSpec, add_reference_poses, imu_columns
from democap.errors import ImportFormatError
from democap.formats.tum import read_tum
from democap.formats.tum_rgbd import DEPTH_UNITS_PER_M, read_tum_rgbd
from democap.home import Home
from democap.model import CameraCalibration, CameraModel, RigCalibration
from democap.progress import Progress


def import_tum_rgbd(path: Path, home: Home, *, operator: str = "", lossless: bool = False) -> Session:
    data = read_tum_rgbd(path)
    first = cv2.imread(str(data.rgb.files[0]), cv2.IMREAD_COLOR)
    if first is None:
        raise ImportFormatError("cannot read image", data.rgb.files[0])
    cam = data.camera
    if (first.shape[1], first.shape[0]) != (cam.width, cam.height):
        # A resized copy of a dataset: the published intrinsics scale with the image.
        sx, sy = first.shape[1] / cam.width, first.shape[0] / cam.height
        cam = CameraModel(
            cam.model,
            first.shape[1],
            first.shape[0],
            cam.fx * sx,
            cam.fy * sy,
            (cam.cx + 0.5) * sx - 0.5,
            (cam.cy + 0.5) * sy - 0.5,
            cam.distortion,
        )
    calib = RigCalibration(
        rig_serial=f"tum-{data.root.name}",
        cameras=(CameraCalibration("cam0", cam, np.eye(4)),),
        notes="TUM RGB-D published intrinsics; camera-accelerometer extrinsic unknown (identity)",
    )
    t_first = int(data.rgb.t_ns[0])
    device = {"serial": calib.rig_serial, "hardware": "Microsoft Kinect", "kind": "dataset"}
    writer = dataset_writer(home, "tum", path, operator, t_first, device, calib)
    rate = float(1e9 / np.median(np.diff(data.rgb.t_ns))) if len(data.rgb.t_ns) > 1 else 30.0
    total = len(data.rgb.files) + (len(data.depth.files) if data.depth else 0)
    with Progress("importing images", total) as bar:
        video = writer.add_video(
            StreamSpec("rig0.cam0", "video", "rig0", "cam0", rate),
            first.shape[1],
            first.shape[0],
            "rgb24",
            "ffv1" if lossless else "h264",
        )
        for t, f in zip(data.rgb.t_ns, data.rgb.files, strict=True):
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None or img.shape != first.shape:
                raise ImportFormatError(f"cannot read image or size differs from {first.shape}", f)
            video.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), int(t), int(t))
            bar.advance()
        if data.depth is not None and len(data.depth.files):
            d0 = cv2.imread(str(data.depth.files[0]), cv2.IMREAD_UNCHANGED)
            if d0 is None or d0.dtype != np.uint16:
                raise ImportFormatError("depth images must be 16-bit PNG", data.depth.files[0])
            dv = writer.add_video(
                StreamSpec("rig0.depth0", "video", "rig0", "depth0", rate, {"depth_scale_m": 1.0 / DEPTH_UNITS_PER_M}),
                d0.shape[1],
                d0.shape[0],
                "gray16le",
                "ffv1",
            )
            for t, f in zip(data.depth.t_ns, data.depth.files, strict=True):
                d = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
                if d is None or d.dtype != np.uint16 or d.shape != d0.shape:
                    raise ImportFormatError("depth image unreadable, not 16-bit or of another size", f)
                dv.append(d, int(t), int(t))
                bar.advance()
    if data.accel is not None and data.accel_t_ns is not None and len(data.accel_t_ns):
        w = writer.add_table(StreamSpec("rig0.imu", "imu", "rig0", "accelerometer", None, {"gyro": False}))
        nan = np.full(len(data.accel_t_ns), np.nan)
        w.append_many(imu_columns(data.accel_t_ns, data.accel_t_ns, np.column_stack([nan, nan, nan]), data.accel))
    if data.groundtruth is not None:
        gt = read_tum(data.groundtruth)
        add_reference_poses(writer, gt.t_ns, gt.t_ns, gt.T_world_body(), "T_world_cam", "groundtruth.txt")
    return finish_import(home, writer, int(data.rgb.t_ns[0]), int(data.rgb.t_ns[-1]) + 1, path)
