"""What the VIO front end hands the back end: IMU samples, per-frame feature and tag observations.

Keeping this boundary explicit lets the back end be tested on simulated measurements
(``slam.vio.synthetic``) before and independently of any image processing. Feature
observations are in *normalised image coordinates* (x/z, y/z of the unit bearing from
``CameraModel.unproject``), so pinhole and fisheye cameras look the same to the back end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from democap.model import ImuNoise
from slam.imu import ImuSamples  # noqa: F401 - part of the front end / back end boundary


@dataclass(frozen=True, eq=False)
class TagObservation:
    """One AprilTag seen in cam0: its pose from planar PnP and that pose's covariance.

    T_cam_tag: (4, 4). cov_cam_tag: (6, 6) in gtsam's Pose3 tangent order (rotation, then
    translation, both in the tag frame), for a 1-pixel-equivalent corner noise already applied.
    reprojection_px: RMS corner error of the chosen PnP solution; ambiguity: ratio of the best
    to the second IPPE solution's error (near 1 = the planar flip cannot be told apart).
    """

    tag_id: int
    T_cam_tag: NDArray[np.float64]
    cov_cam_tag: NDArray[np.float64]
    reprojection_px: float
    ambiguity: float


@dataclass(frozen=True, eq=False)
class FrameObservations:
    """Everything seen in one camera frame.

    t_ns: frame time on the IMU clock (camera time offset already applied).
    track_ids: (K,) int64 feature track ids (same id = same 3-D point).
    xy_cam0: (K, 2) normalised coordinates in cam0. sigma_cam0: (K,) 1-sigma noise of those
    coordinates (pixel noise divided by the local focal length, fisheye stretch included).
    xy_cam1: (K, 2) in cam1 for a stereo match, NaN where there is none (None for mono rigs).
    """

    t_ns: int
    track_ids: NDArray[np.int64]
    xy_cam0: NDArray[np.float64]
    sigma_cam0: NDArray[np.float64]
    xy_cam1: NDArray[np.float64] | None = None
    tags: tuple[TagObservation, ...] = ()
    stats: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class RigModel:
    """The rig geometry the back end needs: camera extrinsics and IMU noise.

    T_imu_cam0 / T_imu_cam1: (4, 4) map camera points to the IMU frame; cam1 is None for mono.
    """

    T_imu_cam0: NDArray[np.float64]
    imu: ImuNoise
    T_imu_cam1: NDArray[np.float64] | None = None
    tag_size_m: float | None = None

    @property
    def stereo(self) -> bool:
        return self.T_imu_cam1 is not None
