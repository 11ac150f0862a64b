"""Import a GoPro MP4 (video + GPMF IMU) as a session.

The MP4 timeline is the camera's clock: it is both the raw device time and the session's
host time (``clock_domain: dataset``), shifted so that the first sample is at t >= 0.
GPMF gives ACCL (~200 Hz) and GYRO (~400 Hz) on separate clocks; the IMU stream is
written at the gyro's timestamps with the accelerometer linearly interpolated onto them
(``extra.accel_resampled_from_hz``). Axes are the GoPro's IMU axes (devices.gopro).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from capture.importers import dataset_writer, finish_import
from capture.session import Session, StreamSpec, imu_columns
from democap.errors import ImportFormatError
from democap.home import Home
from democap.progress import Progress
from devices.gopro import read_gopro


def import_gopro(path: Path, home: Home, *, operator: str = "", lossless: bool = False) -> Session:
    path = Path(path)
    tel = read_gopro(path)
    if "GYRO" not in tel.tracks or "ACCL" not in tel.tracks:
        raise ImportFormatError("GoPro telemetry lacks GYRO or ACCL", path)
    gyro, accel = tel.tracks["GYRO"], tel.tracks["ACCL"]
    keep = (gyro.t_ns >= accel.t_ns[0]) & (gyro.t_ns <= accel.t_ns[-1])  # no extrapolated accel
    t_imu = gyro.t_ns[keep]
    acc = np.column_stack([np.interp(t_imu, accel.t_ns, accel.values[:, i]) for i in range(3)])
    t_min = int(min(t_imu[0], tel.video_t_ns[0] if len(tel.video_t_ns) else t_imu[0]))
    shift = max(0, -t_min)
    device = {"serial": "", "hardware": tel.camera or "GoPro"}
    writer = dataset_writer(home, "gopro", path, operator, t_min + shift, device)
    import av

    with av.open(str(path)) as container:
        vs = container.streams.video[0]
        rate = float(vs.average_rate) if vs.average_rate else 30.0
        video = writer.add_video(
            StreamSpec("rig0.cam0", "video", "rig0", "cam0", rate, {"source": "gopro-mp4"}),
            tel.video_size[0],
            tel.video_size[1],
            "rgb24",
            "ffv1" if lossless else "h264",
        )
        with Progress("importing GoPro video", len(tel.video_t_ns)) as bar:
            for frame in container.decode(vs):
                if frame.pts is None:
                    continue
                t = int(frame.pts * frame.time_base * 1_000_000_000)
                video.append(frame.to_ndarray(format="rgb24"), t + shift, t)
                bar.advance()
    w = writer.add_table(
        StreamSpec(
            "rig0.imu",
            "imu",
            "rig0",
            "imu0",
            gyro.rate_hz,
            {"accel_resampled_from_hz": accel.rate_hz, "axes": "gopro-imu", "temperature_c": gyro.temperature_c},
        )
    )
    w.append_many(imu_columns(t_imu + shift, t_imu, gyro.values[keep], acc))
    t0 = int(tel.video_t_ns[0]) + shift if len(tel.video_t_ns) else int(t_imu[0]) + shift
    t1 = int(tel.video_t_ns[-1]) + shift + 1 if len(tel.video_t_ns) else int(t_imu[-1]) + shift + 1
    return finish_import(home, writer, t0, t1, path)
