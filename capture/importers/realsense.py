"""Import a RealSense recording (.db3 / .bag) as a session: color, depth, and IMU.

RealSense hardware timestamps (ms) are the raw device time and, with no host clock in a
file, the session's host time too (``clock_domain: dataset``). Depth is stored
losslessly (gray16le, FFV1) in the device's depth units (``extra.depth_units_m``);
color as rgb24. The IMU stream uses the gyro's timestamps with the accelerometer
linearly interpolated onto them (RealSense runs them on separate rates).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from capture.importers import dataset_writer, finish_import
from capture.session import Session, StreamSpec, imu_columns
from democap.errors import ImportFormatError
from democap.home import Home
from democap.progress import Progress
from devices.realsense import read_recording


def import_realsense(path: Path, home: Home, *, operator: str = "", lossless: bool = False) -> Session:
    path = Path(path)
    rec = read_recording(path)
    by_kind = {sd.kind: sd for sd in rec.streams.values()}
    videos = [(k, by_kind[k]) for k in ("color", "depth", "infrared") if k in by_kind and by_kind[k].t_ms]
    if not videos and "gyro" not in by_kind:
        raise ImportFormatError("recording has no color, depth, infrared or gyro frames", path)
    t_all = np.concatenate([sd.times_ns() for sd in rec.streams.values() if sd.t_ms])
    t_first = int(t_all.min())
    device = {"serial": rec.serial, "hardware": rec.name}
    writer = dataset_writer(home, "realsense", path, operator, t_first, device)
    sensor_names = {"color": "cam0", "depth": "depth0", "infrared": "ir0"}
    with Progress("importing RealSense frames", sum(len(sd.t_ms) for _, sd in videos)) as bar:
        for kind, sd in videos:
            first = sd.data[0]
            pix_fmt = "gray16le" if kind == "depth" else ("rgb24" if first.ndim == 3 else "gray")
            codec = "ffv1" if (lossless or pix_fmt == "gray16le") else "h264"
            extra: dict[str, object] = {"intrinsics": asdict(sd.intrinsics) if sd.intrinsics else None}
            if kind == "depth":
                extra["depth_units_m"] = rec.depth_units_m
            sensor = sensor_names[kind]
            video = writer.add_video(
                StreamSpec(f"rig0.{sensor}", "video", "rig0", sensor, float(sd.fps or 30), extra),
                first.shape[1],
                first.shape[0],
                pix_fmt,
                codec,
            )
            for t, img in zip(sd.times_ns(), sd.data, strict=True):
                video.append(img, int(t), int(t))
                bar.advance()
    if "gyro" in by_kind and "accel" in by_kind:
        g, a = by_kind["gyro"], by_kind["accel"]
        tg, ta = g.times_ns(), a.times_ns()
        keep = (tg >= ta[0]) & (tg <= ta[-1])
        gyro = np.asarray(g.data)[keep]
        acc_src = np.asarray(a.data)
        acc = np.column_stack([np.interp(tg[keep], ta, acc_src[:, i]) for i in range(3)])
        rate = float(1e9 / np.median(np.diff(tg))) if len(tg) > 1 else float(g.fps)
        w = writer.add_table(
            StreamSpec(
                "rig0.imu",
                "imu",
                "rig0",
                "imu0",
                rate,
                {"accel_resampled_from_hz": float(a.fps), "axes": "realsense-imu"},
            )
        )
        w.append_many(imu_columns(tg[keep], tg[keep], gyro, acc))
    return finish_import(home, writer, t_first, int(t_all.max()) + 1, path)
