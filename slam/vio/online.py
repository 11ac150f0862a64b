"""Live VIO for the capture view: feed IMU samples and camera frames as they arrive, read the pose.

The same front end and fixed-lag back end as the export path (``slam.vio.estimator``), run
causally: a frame's pose is the smoother's estimate right after that keyframe (or the IMU
propagation from the last keyframe for frames in between). The batch pass is not run here.
"""

from __future__ import annotations

from dataclasses import dataclass

import gtsam
import numpy as np
from gtsam.symbol_shorthand import G
from numpy.typing import NDArray

from democap import geometry
from democap.model import CameraModel, TrackState
from slam.vio import backend
from slam.vio.frontend import Frontend, FrontendSettings
from slam.vio.measurements import FrameObservations, ImuSamples, RigModel

#: IMU needed after the first frame to level the first pose (see ``backend.initial_attitude``).
INIT_IMU_S = 0.3


@dataclass(frozen=True)
class LivePose:
    """T_nav_imu (4, 4) of one frame (nav: gravity-aligned, first-keyframe origin; T_world_nav gives the world)."""

    t_ns: int
    T_nav_imu: NDArray[np.float64]
    state: TrackState
    inliers: int
    T_world_nav: NDArray[np.float64] | None  # set once a tag fixes the world
    anchor_tag: int | None = None  # the tag whose frame T_world_nav is (compose with a surveyed T_world_tag)


class OnlineVio:
    def __init__(
        self,
        rig: RigModel,
        cam0: CameraModel,
        cam1: CameraModel | None = None,
        front: FrontendSettings | None = None,
        back: backend.BackendSettings | None = None,
        table_tag_id: int | None = None,
    ) -> None:
        # The tags are the rig model's size unless the caller says otherwise: a default 8 cm against
        # 7.2 cm tags tilted the live world by 4 degrees.
        if front is None:
            front = FrontendSettings(tag_size_m=rig.tag_size_m) if rig.tag_size_m else FrontendSettings()
        back = back or backend.BackendSettings()
        T_cam1_cam0 = (geometry.se3_inverse(rig.T_imu_cam1) @ rig.T_imu_cam0) if rig.T_imu_cam1 is not None else None
        self.front = Frontend(cam0, front, cam1, T_cam1_cam0)
        self.rig, self.s, self.table_tag_id = rig, back, table_tag_id
        self._t: list[int] = []
        self._g: list[NDArray[np.float64]] = []
        self._a: list[NDArray[np.float64]] = []
        self.backend: backend.VioBackend | None = None
        self._pending: list[FrameObservations] = []
        self._n = 0
        self._last_kf_state = TrackState.LOST
        self._weak_since: int | None = None

    def add_imu(self, t_ns: int, gyro_imu: NDArray[np.float64], accel_imu: NDArray[np.float64]) -> None:
        if self._t and t_ns <= self._t[-1]:
            return  # out-of-order or duplicate sample
        self._t.append(int(t_ns))
        self._g.append(np.asarray(gyro_imu, dtype=np.float64))
        self._a.append(np.asarray(accel_imu, dtype=np.float64))

    def _imu(self) -> ImuSamples:
        return ImuSamples(np.asarray(self._t, dtype=np.int64), np.asarray(self._g), np.asarray(self._a))

    def add_frame(
        self,
        t_ns: int,
        img0: NDArray[np.uint8],
        img1: NDArray[np.uint8] | None = None,
        R_cam_cur_prev: NDArray[np.float64] | None = None,
    ) -> LivePose | None:
        """Process one frame (IMU up to t_ns must already be added); None until initialised."""
        keyframe = self._n % self.s.keyframe_every == 0
        self._n += 1
        obs = self.front.process(int(t_ns), img0, img1, R_cam_cur_prev, keyframe)
        if keyframe:
            self._pending.append(obs)
        return self._step(obs, keyframe)

    def add_observations(self, obs: FrameObservations, keyframe: bool) -> LivePose | None:
        """The same for already-extracted observations (tests, replay)."""
        self._n += 1
        if keyframe:
            self._pending.append(obs)
        return self._step(obs, keyframe)

    def _step(self, obs: FrameObservations, keyframe: bool) -> LivePose | None:
        if not self._t:
            return None
        if self.backend is None:
            if not self._pending or self._t[-1] < self._pending[0].t_ns + int(INIT_IMU_S * 1e9):
                return None
            self.backend = backend.VioBackend(self.rig, self._imu(), self.s)
        b = self.backend
        b.imu = self._imu()
        while self._pending and self._pending[0].t_ns <= self._t[-1]:
            stats = b.add_keyframe(self._pending.pop(0))
            good = stats["inliers"] >= self.s.min_inliers or stats["tags"] > 0
            t_kf = b.kf_t[-1]
            if good:
                self._weak_since = None
                self._last_kf_state = TrackState.OK
            else:
                self._weak_since = self._weak_since if self._weak_since is not None else t_kf
                long = (t_kf - self._weak_since) * 1e-9 > self.s.max_bridge_s
                self._last_kf_state = TrackState.LOST if long else TrackState.INTERPOLATED
        if not b.kf_t:
            return None
        assert b.nav is not None
        pim = gtsam.PreintegratedCombinedMeasurements(b.params, b.bias)
        backend.integrate(pim, b.imu, b.kf_t[-1], obs.t_ns)
        T = pim.predict(b.nav, b.bias).pose().matrix() if obs.t_ns > b.kf_t[-1] else b.nav.pose().matrix()
        T_world_nav, tag = None, None
        if b.tags:
            tag = self.table_tag_id if self.table_tag_id in b.tags else min(b.tags)
            if b.est.exists(G(tag)):
                T_world_nav = geometry.se3_inverse(b.est.atPose3(G(tag)).matrix())
            else:
                tag = None
        inl = int(b.kf_stats[-1]["inliers"]) if b.kf_stats else 0
        return LivePose(obs.t_ns, T, self._last_kf_state, inl, T_world_nav, tag)
