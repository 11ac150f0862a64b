"""Which IMU axis is which camera axis: gyro rates against rotation seen by optical flow.

For cameras whose IMU axis order is not documented per model (GoPro HERO generations
differ), the frame-to-frame camera rotation is measured from KLT tracks under a
pure-rotation model (bearings ``r1 = R r0``; right for far scenes and handheld pans), and
each camera axis's angular rate is correlated with each gyro axis over a range of time
offsets. A mapping is confirmed where a camera axis moved enough and one gyro axis
explains it (|r| close to 1); the sign of r gives the axis sign.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from democap import geometry
from democap.model import CameraModel


def flow_rotations(frames: Iterable[NDArray[np.uint8]], camera: CameraModel) -> tuple[NDArray[np.float64], NDArray]:
    """Camera rotation between consecutive gray frames: (F-1, 3, 3) ``R_prev_next`` and a valid mask."""
    out, ok, prev = [], [], None
    for img in frames:
        if prev is not None:
            R, good = np.eye(3), False
            p0 = cv2.goodFeaturesToTrack(prev, 400, 0.01, 10)
            if p0 is not None:
                p1, st, _ = cv2.calcOpticalFlowPyrLK(prev, img, p0, None, winSize=(21, 21), maxLevel=3)
                s = st.ravel() == 1
                if s.sum() >= 30:
                    r0 = camera.unproject(p0.reshape(-1, 2)[s].astype(np.float64))
                    r1 = camera.unproject(p1.reshape(-1, 2)[s].astype(np.float64))
                    w = np.ones(len(r0))
                    for _ in range(5):  # Kabsch, re-weighted to drop moving objects and bad tracks
                        R = geometry.kabsch(r1, r0, w)
                        e = np.linalg.norm(r1 - r0 @ R.T, axis=1)
                        w = (e < 3 * np.median(e) + 1e-6).astype(float)
                    good = True
            # R maps bearings of the previous frame to the next: R = R_next_prev.
            out.append(R.T)
            ok.append(good)
        prev = img
    return np.array(out).reshape(-1, 3, 3), np.array(ok, bool)


@dataclass(frozen=True, eq=False)
class AxisCorrelation:
    corr: NDArray[np.float64]  # (3, 3): camera axis (rows x, y, z) vs gyro axis (columns)
    camera_rate_std: NDArray[np.float64]  # (3,) rad/s: how much the camera turned about each axis
    offset_s: float  # gyro time = camera time + offset_s at the best match

    def confirmed(self, min_std: float = 0.05, min_corr: float = 0.9) -> dict[str, tuple[int, int]]:
        """Camera axes whose gyro axis is unambiguous: {'y': (gyro axis index, sign)}."""
        out = {}
        for i, name in enumerate("xyz"):
            j = int(np.argmax(np.abs(self.corr[i])))
            if self.camera_rate_std[i] >= min_std and abs(self.corr[i, j]) >= min_corr:
                out[name] = (j, int(np.sign(self.corr[i, j])))
        return out


def axis_correlation(
    t_cam_ns: NDArray[np.int64],
    R_prev_next: NDArray[np.float64],
    valid: NDArray[np.bool_],
    t_gyro_ns: NDArray[np.int64],
    gyro: NDArray[np.float64],
    max_offset_s: float = 0.15,
    smooth: int = 5,
) -> AxisCorrelation:
    """Correlate camera-axis rates (from ``flow_rotations``) with gyro axes, searching the time offset."""
    from scipy.ndimage import uniform_filter1d

    t0 = int(t_gyro_ns[0])
    tc = (np.asarray(t_cam_ns, np.int64) - t0) * 1e-9
    ti = (np.asarray(t_gyro_ns, np.int64) - t0) * 1e-9
    dt = np.diff(tc)
    w_cam = geometry.so3_log(R_prev_next) / dt[:, None]
    G = np.concatenate([np.zeros((1, 3)), np.cumsum(0.5 * (gyro[1:] + gyro[:-1]) * np.diff(ti)[:, None], 0)])

    def gyro_mean(d: float) -> NDArray[np.float64]:
        a = np.stack([np.interp(tc[:-1] + d, ti, G[:, k]) for k in range(3)], 1)
        b = np.stack([np.interp(tc[1:] + d, ti, G[:, k]) for k in range(3)], 1)
        return (b - a) / dt[:, None]

    cam = uniform_filter1d(w_cam, smooth, axis=0)[valid]
    best: tuple[float, float, NDArray[np.float64]] | None = None
    for d in np.arange(-max_offset_s, max_offset_s + 1e-9, 0.005):
        gm = uniform_filter1d(gyro_mean(d), smooth, axis=0)[valid]
        C = np.corrcoef(np.c_[cam, gm].T)[:3, 3:]
        score = float(np.nansum(np.abs(C).max(1) * cam.std(0)))
        if best is None or score > best[0]:
            best = (score, float(d), C)
    assert best is not None
    return AxisCorrelation(np.nan_to_num(best[2]), w_cam[valid].std(0), best[1])
