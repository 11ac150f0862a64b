"""The VIO back end: a GTSAM factor graph over keyframes, solved incrementally then in batch.

States per keyframe k: pose X(k) = T_nav_imu, velocity V(k) in nav, IMU bias B(k).
Factors, one kind per line in ``_add_keyframe``:
  * CombinedImuFactor between consecutive keyframes (preintegration + bias random walk);
  * GenericProjectionFactor per feature observation in cam0 (and cam1 for stereo) on the
    normalised image plane (Cal3_S2 identity), Huber-robust, landmarks L(track);
  * BetweenFactorPose3 X(k) -> G(tag) from each tag's planar PnP with its covariance.
The nav frame has z up (gravity along -z) and its origin/yaw at the first keyframe; the
caller re-expresses results in the world frame (the table tag or the first pose).

Online: iSAM2 is updated at every keyframe (what the live view shows). Export: a final
Levenberg-Marquardt pass over the whole graph; given a loop finder (``slam.vio.loops``), its
loop closures (BetweenFactorPose3 X(a) -> X(b), Huber-robust) join the graph for a second
pass. Frames between keyframes get their pose by
IMU propagation from the previous keyframe, with the end mismatch spread linearly.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import gtsam
import numpy as np
from gtsam.symbol_shorthand import B, G, L, V, X
from numpy.typing import NDArray

from democap import geometry
from democap.model import TrackState
from slam.vio.measurements import FrameObservations, ImuSamples, RigModel

log = logging.getLogger(__name__)

GRAVITY = 9.81


@dataclass(frozen=True)
class BackendSettings:
    keyframe_every: int = 3  # frames; 10 Hz keyframes at 30 fps
    min_parallax_deg: float = 1.5  # mono triangulation needs this much angle between rays
    gate_sigmas: float = 6.0  # observations further than this from the prediction are outliers
    huber_k: float = 1.5
    min_inliers: int = 12  # fewer visual inliers (and no tag) makes a keyframe "weak"
    max_bridge_s: float = 1.0  # weak spans up to this long are bridged by the IMU (INTERPOLATED)
    imu_noise_scale: float = 2.0  # datasheet densities are optimistic
    tag_sigma_scale: float = 2.0
    max_tag_ambiguity: float = 0.6  # IPPE best/second error ratio above this: flip not resolved
    lag_s: float = 2.0  # online fixed-lag smoother window (1.5-3 s give the same accuracy on the sim)
    covariance_every: int = 20  # keyframes between position-covariance evaluations (each costs ~2 updates)
    max_imu_gap_s: float = 0.05  # a longer hole in the IMU stream is a link drop, not bridged
    batch: bool = True
    batch_iterations: int = 15
    max_landmark_depth_m: float = 20.0
    landmark_prior_m: float = 1.0  # weak prior at the triangulated point: keeps low-parallax points well-posed
    # A long track is split into landmarks spanning at most this many keyframes (overlapping by
    # `split_overlap`): it keeps the graph banded, so iSAM2 updates and the batch pass stay fast.
    max_track_keyframes: int = 20
    split_overlap: int = 3

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> BackendSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in m.items() if k in names})


@dataclass(frozen=True, eq=False)
class BackendResult:
    """Per frame (N,): t_ns, T_nav_imu (N, 4, 4), state, quality, position_sigma_m; plus tags and stats."""

    t_ns: NDArray[np.int64]
    T_nav_imu: NDArray[np.float64]
    state: NDArray[np.uint8]
    quality: NDArray[np.float32]
    position_sigma_m: NDArray[np.float32]
    T_nav_tag: dict[int, NDArray[np.float64]]
    stats: dict[str, Any] = field(default_factory=dict)
    #: (N,) int32 piece of continuous tracking each frame belongs to (-1: none). A new piece starts
    #: after every span that is LOST (not bridged): its frames share one nav frame with each other
    #: but not necessarily with earlier pieces (slam.maps.join re-anchors them through a map).
    segment: NDArray[np.int32] | None = None


def imu_params(rig: RigModel, scale: float) -> gtsam.PreintegrationCombinedParams:
    p = gtsam.PreintegrationCombinedParams.MakeSharedU(GRAVITY)
    n = rig.imu
    p.setGyroscopeCovariance((scale * n.gyro_noise_density) ** 2 * np.eye(3))
    p.setAccelerometerCovariance((scale * n.accel_noise_density) ** 2 * np.eye(3))
    p.setBiasOmegaCovariance((scale * n.gyro_random_walk) ** 2 * np.eye(3))
    p.setBiasAccCovariance((scale * n.accel_random_walk) ** 2 * np.eye(3))
    p.setIntegrationCovariance(1e-8 * np.eye(3))
    return p


def integrate(pim: Any, imu: ImuSamples, t_a: int, t_b: int) -> None:
    """Add the IMU motion over [t_a, t_b] (ns) to a preintegration, sample values interpolated
    at each sub-interval's midpoint (trapezoid-like: no half-sample lag)."""
    if t_b <= t_a:
        return
    inner = imu.t_ns[(imu.t_ns > t_a) & (imu.t_ns < t_b)]
    edges = np.concatenate([[t_a], inner, [t_b]]).astype(np.int64)
    mids = 0.5 * (edges[:-1] + edges[1:])
    tt = imu.t_ns.astype(np.float64)
    g = np.column_stack([np.interp(mids, tt, imu.gyro_imu[:, k]) for k in range(3)])
    a = np.column_stack([np.interp(mids, tt, imu.accel_imu[:, k]) for k in range(3)])
    dts = np.diff(edges) * 1e-9
    for k in range(len(dts)):
        pim.integrateMeasurement(a[k], g[k], float(dts[k]))


def imu_gap_s(imu: ImuSamples, t_a: int, t_b: int) -> float:
    """Longest stretch (s) of [t_a, t_b] not covered by IMU samples (edges included)."""
    inner = imu.t_ns[(imu.t_ns > t_a) & (imu.t_ns < t_b)]
    before = imu.t_ns[imu.t_ns <= t_a]
    after = imu.t_ns[imu.t_ns >= t_b]
    a = before[-1] if len(before) else t_a - 10**10
    b = after[0] if len(after) else t_b + 10**10
    edges = np.concatenate([[a], inner, [b]])
    return float(np.max(np.diff(edges)) * 1e-9)


def initial_attitude(imu: ImuSamples, t0_ns: int, window_s: float = 0.3) -> tuple[NDArray[np.float64], bool, NDArray]:
    """R_nav_imu from the mean specific force near t0, whether the rig rests, and the mean gyro."""
    near = (imu.t_ns >= t0_ns - int(0.05e9)) & (imu.t_ns <= t0_ns + int(window_s * 1e9))
    sel = np.flatnonzero(near) if near.sum() >= 3 else np.argsort(np.abs(imu.t_ns - t0_ns))[:10]
    a, g = imu.accel_imu[sel], imu.gyro_imu[sel]
    a_mean = a.mean(axis=0)
    still = bool(np.linalg.norm(g, axis=1).max() < 0.15 and np.abs(np.linalg.norm(a, axis=1) - GRAVITY).max() < 0.8)
    return geometry.gravity_aligned_rotation(a_mean), still, g.mean(axis=0)


def _pose3(T: NDArray[np.float64]) -> gtsam.Pose3:
    return gtsam.Pose3(np.asarray(T, dtype=np.float64))


def _triangulate(
    T_nav_cams: Sequence[NDArray[np.float64]], xys: Sequence[NDArray[np.float64]]
) -> NDArray[np.float64] | None:
    """Linear triangulation (DLT) of one point from normalised observations; nav frame."""
    A = []
    for T, xy in zip(T_nav_cams, xys, strict=True):
        P = geometry.se3_inverse(T)[:3]
        A.append(xy[0] * P[2] - P[0])
        A.append(xy[1] * P[2] - P[1])
    _, _, vt = np.linalg.svd(np.asarray(A))
    h = vt[-1]
    if abs(h[3]) < 1e-12:
        return None
    return h[:3] / h[3]


@dataclass(frozen=True, eq=False)
class LoopClosure:
    """A revisit: keyframe ``kf_b`` seen again in the map of earlier keyframe ``kf_a``'s surroundings.

    T_a_b: (4, 4) T_imu(a)_imu(b) measured by relocalisation; 1-sigma in metres and radians.
    """

    kf_a: int
    kf_b: int
    T_a_b: NDArray[np.float64]
    sigma_m: float
    sigma_rad: float


LoopFinder = Callable[["BackendResult", list[int]], Sequence[LoopClosure]]


class _Track:
    __slots__ = ("obs", "lm", "lm_first_kf", "recent", "dead")

    def __init__(self) -> None:
        self.obs: list[tuple[int, NDArray[np.float64], float, NDArray[np.float64] | None]] = []  # pending
        self.lm: int | None = None  # current landmark number
        self.lm_first_kf = 0
        self.recent: list[tuple[int, NDArray[np.float64], float, NDArray[np.float64] | None]] = []
        self.dead = False


class VioBackend:
    """Incremental keyframe graph; feed keyframes in time order, then ``finish``."""

    def __init__(
        self,
        rig: RigModel,
        imu: ImuSamples,
        settings: BackendSettings,
        known_tags: Mapping[int, NDArray[np.float64]] | None = None,
    ) -> None:
        self.rig, self.imu, self.s = rig, imu, settings
        self.known_tags = dict(known_tags or {})  # tag id -> T_world_tag (4, 4) from a workspace survey
        self.params = imu_params(rig, settings.imu_noise_scale)
        isam_params = gtsam.ISAM2Params()
        isam_params.setRelinearizeThreshold(0.01)
        isam_params.relinearizeSkip = 1
        self.smoother = gtsam.IncrementalFixedLagSmoother(settings.lag_s, isam_params)
        self.latest = gtsam.Values()  # newest estimate of every variable, also those marginalised out
        self.cal = gtsam.Cal3_S2(1.0, 1.0, 0.0, 0.0, 0.0)
        self.body_P_cam0 = _pose3(rig.T_imu_cam0)
        self.body_P_cam1 = _pose3(rig.T_imu_cam1) if rig.T_imu_cam1 is not None else None
        self.T_cam0_cam1 = geometry.se3_inverse(rig.T_imu_cam0) @ rig.T_imu_cam1 if rig.T_imu_cam1 is not None else None
        self.kf_t: list[int] = []
        self.kf_stats: list[dict[str, float]] = []
        self.tracks: dict[int, _Track] = {}
        self.landmarks: dict[int, NDArray[np.float64]] = {}  # active landmark number -> position (nav)
        self.n_landmarks = 0
        self.tags: set[int] = set()
        self.est = gtsam.Values()
        self.nav: gtsam.NavState | None = None
        self.bias = gtsam.imuBias.ConstantBias()
        self.graph_all = gtsam.NonlinearFactorGraph()
        self.values_all = gtsam.Values()
        self.update_s: list[float] = []
        self.kf_gap: set[int] = set()  # keyframes reached across an IMU gap (link drop)
        self.kf_sigma: list[float] = []  # online 1-sigma position (m), relative to the first keyframe
        self.kf_visual: dict[int, int] = {}  # keyframe -> landmarks observed in it (final graph)
        self.failed: str | None = None

    # ----------------------------------------------------------------- per keyframe
    def add_keyframe(self, frame: FrameObservations) -> dict[str, float]:
        k = len(self.kf_t)
        graph = gtsam.NonlinearFactorGraph()
        values = gtsam.Values()
        if k == 0:
            R0, still, gyro_mean = initial_attitude(self.imu, frame.t_ns)
            pose0 = gtsam.Pose3(gtsam.Rot3(R0), np.zeros(3))
            self.bias = gtsam.imuBias.ConstantBias(np.zeros(3), gyro_mean if still else np.zeros(3))
            self.nav = gtsam.NavState(pose0, np.zeros(3))
            # Gauge: position and yaw are free in VIO; pin them (and softly roll/pitch) at the first keyframe.
            # Tilt comes from the resting accelerometer (good to ~0.5 deg), yaw is pure gauge; the
            # rotation tangent is in the body frame, so the nav-frame sigmas are rotated into it.
            tilt = 0.01 if still else 0.05
            cov_rot = R0.T @ np.diag([tilt**2, tilt**2, 1e-3**2]) @ R0
            cov0 = np.zeros((6, 6))
            cov0[:3, :3] = cov_rot
            cov0[3:, 3:] = np.eye(3) * 1e-3**2
            graph.add(gtsam.PriorFactorPose3(X(0), pose0, gtsam.noiseModel.Gaussian.Covariance(cov0)))
            graph.add(
                gtsam.PriorFactorVector(V(0), np.zeros(3), gtsam.noiseModel.Isotropic.Sigma(3, 0.02 if still else 1.0))
            )
            gyro_bias_sigma = 0.003 if still else 0.01
            graph.add(
                gtsam.PriorFactorConstantBias(
                    B(0), self.bias, gtsam.noiseModel.Diagonal.Sigmas(np.array([0.2, 0.2, 0.2] + [gyro_bias_sigma] * 3))
                )
            )
            predicted = self.nav
        elif self.nav is None:
            raise RuntimeError("keyframe before the first one was initialised")
        elif imu_gap_s(self.imu, self.kf_t[-1], frame.t_ns) > self.s.max_imu_gap_s:
            # A link drop: no IMU to bridge it. Weak factors keep the graph well-posed; the pose after
            # the gap is fixed again only by what is seen (tags, re-observed landmarks).
            self.kf_gap.add(k)
            predicted = self.nav
            graph.add(
                gtsam.BetweenFactorPose3(
                    X(k - 1),
                    X(k),
                    gtsam.Pose3(),
                    gtsam.noiseModel.Diagonal.Sigmas(np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0])),
                )
            )
            graph.add(gtsam.PriorFactorVector(V(k), np.zeros(3), gtsam.noiseModel.Isotropic.Sigma(3, 2.0)))
            bias_walk = gtsam.noiseModel.Diagonal.Sigmas(np.array([0.05] * 3 + [0.005] * 3))
            graph.add(gtsam.BetweenFactorConstantBias(B(k - 1), B(k), gtsam.imuBias.ConstantBias(), bias_walk))
        else:
            pim = gtsam.PreintegratedCombinedMeasurements(self.params, self.bias)
            integrate(pim, self.imu, self.kf_t[-1], frame.t_ns)
            predicted = pim.predict(self.nav, self.bias)
            graph.add(gtsam.CombinedImuFactor(X(k - 1), V(k - 1), X(k), V(k), B(k - 1), B(k), pim))
        values.insert(X(k), predicted.pose())
        values.insert(V(k), predicted.velocity())
        values.insert(B(k), self.bias)
        T_nav_imu_pred = predicted.pose().matrix()
        self.kf_t.append(frame.t_ns)

        n_tags = self._add_tags(k, frame, T_nav_imu_pred, graph, values)
        n_in, n_out, n_new = self._add_features(k, frame, T_nav_imu_pred, graph, values)

        t_s = self._t_s(frame.t_ns)
        stamps: dict[Any, Any] = {key: t_s for key in values.keys()}  # noqa: SIM118 - Values is not iterable
        for j in range(graph.size()):
            for key in graph.at(j).keys():  # noqa: SIM118
                stamps[key] = t_s  # landmarks seen now stay inside the window
        for tag_id in self.tags:
            stamps[G(tag_id)] = t_s  # tags are few and are the anchors: never marginalised
        t0 = time.perf_counter()
        try:
            self.smoother.update(graph, values, stamps)
            self.est = self.smoother.calculateEstimate()
        except RuntimeError as e:  # indeterminant system: a degenerate graph, reported not hidden
            self.failed = f"the factor graph became degenerate at keyframe {k} ({e.__class__.__name__}: {e})"
            raise
        self.update_s.append(time.perf_counter() - t0)
        for key in self.est.keys():  # noqa: SIM118
            if self.latest.exists(key):
                self.latest.erase(key)
        self.latest.insert(self.est)
        self.graph_all.push_back(graph)
        self.values_all.insert(values)
        self.nav = gtsam.NavState(self.est.atPose3(X(k)), self.est.atVector(V(k)))
        self.bias = self.est.atConstantBias(B(k))
        self.landmarks = {}
        for tr in self.tracks.values():
            if tr.lm is None or tr.dead:
                continue
            if self.est.exists(L(tr.lm)):
                self.landmarks[tr.lm] = self.est.atPoint3(L(tr.lm))
            else:  # marginalised out while unseen: a re-appearing track starts a new landmark
                tr.lm, tr.obs, tr.recent = None, [], []
        self.kf_sigma.append(float("nan"))
        if k % self.s.covariance_every == 0:
            # Online (filtering) marginal: an upper bound of the smoothed one; costly, so sparse.
            with contextlib.suppress(RuntimeError):
                self.kf_sigma[-1] = float(np.sqrt(np.trace(self.smoother.marginalCovariance(X(k))[3:, 3:])))
        stats = {
            "inliers": float(n_in),
            "outliers": float(n_out),
            "new_landmarks": float(n_new),
            "tags": float(n_tags),
            "observed": float(len(frame.track_ids)),
        }
        self.kf_stats.append(stats)
        return stats

    def _add_tags(self, k: int, frame: FrameObservations, T_nav_imu: NDArray, graph: Any, values: Any) -> int:
        n = 0
        for tag in frame.tags:
            if tag.ambiguity > self.s.max_tag_ambiguity:
                continue  # the planar flip is not resolved: a wrong pose would be worse than none
            T_imu_tag = self.rig.T_imu_cam0 @ tag.T_cam_tag
            cov = tag.cov_cam_tag * self.s.tag_sigma_scale**2
            noise = gtsam.noiseModel.Robust.Create(
                gtsam.noiseModel.mEstimator.Huber.Create(self.s.huber_k), gtsam.noiseModel.Gaussian.Covariance(cov)
            )
            if tag.tag_id not in self.tags:
                values.insert(G(tag.tag_id), _pose3(T_nav_imu @ T_imu_tag))
                self._link_known_tag(tag.tag_id, graph)
                self.tags.add(tag.tag_id)
            graph.add(gtsam.BetweenFactorPose3(X(k), G(tag.tag_id), _pose3(T_imu_tag), noise))
            n += 1
        return n

    def _link_known_tag(self, tag_id: int, graph: Any) -> None:
        """Tags whose world poses are surveyed (the workspace) are tied to each other rigidly."""
        if tag_id not in self.known_tags:
            return
        noise = gtsam.noiseModel.Diagonal.Sigmas(np.array([1e-3] * 3 + [1e-3] * 3))
        for other in self.tags:
            if other in self.known_tags:
                T_other_tag = geometry.se3_inverse(self.known_tags[other]) @ self.known_tags[tag_id]
                graph.add(gtsam.BetweenFactorPose3(G(other), G(tag_id), _pose3(T_other_tag), noise))

    def _factor(self, k: int, lm: int, xy: NDArray, sigma: float, body_P: gtsam.Pose3) -> Any:
        if body_P is self.body_P_cam0:
            self.kf_visual[k] = self.kf_visual.get(k, 0) + 1
        noise = gtsam.noiseModel.Robust.Create(
            gtsam.noiseModel.mEstimator.Huber.Create(self.s.huber_k), gtsam.noiseModel.Isotropic.Sigma(2, float(sigma))
        )
        return gtsam.GenericProjectionFactorCal3_S2(
            np.asarray(xy, dtype=np.float64), noise, X(k), L(lm), self.cal, False, False, body_P
        )

    def _residual_sigmas(
        self, T_nav_imu: NDArray, p_nav: NDArray, xy: NDArray, sigma: float, T_imu_cam: NDArray
    ) -> float:
        p = geometry.transform_points(geometry.se3_inverse(T_nav_imu @ T_imu_cam), p_nav[None])[0]
        if p[2] <= 1e-3:
            return np.inf
        return float(np.linalg.norm(p[:2] / p[2] - xy) / sigma)

    def _add_features(
        self, k: int, frame: FrameObservations, T_nav_imu: NDArray, graph: Any, values: Any
    ) -> tuple[int, int, int]:
        n_in = n_out = n_new = 0
        rig = self.rig
        for j, tid in enumerate(frame.track_ids.tolist()):
            tr = self.tracks.get(tid)
            if tr is None:
                tr = self.tracks[tid] = _Track()
            if tr.dead:
                continue
            xy0, sig = frame.xy_cam0[j], float(frame.sigma_cam0[j])
            xy1 = None
            if frame.xy_cam1 is not None and np.all(np.isfinite(frame.xy_cam1[j])):
                xy1 = frame.xy_cam1[j]
            if tr.lm is not None:
                p = self.landmarks[tr.lm]
                r0 = self._residual_sigmas(T_nav_imu, p, xy0, sig, rig.T_imu_cam0)
                if r0 > self.s.gate_sigmas:
                    tr.dead = True  # a track that jumps off its landmark is not trusted again
                    n_out += 1
                    continue
                if (
                    xy1 is not None
                    and rig.T_imu_cam1 is not None
                    and self._residual_sigmas(T_nav_imu, p, xy1, sig, rig.T_imu_cam1) > self.s.gate_sigmas
                ):
                    xy1 = None
                tr.recent = (
                    [*tr.recent[-(self.s.split_overlap - 1) :], (k, xy0, sig, xy1)]
                    if self.s.split_overlap > 1
                    else [(k, xy0, sig, xy1)]
                )
                if k - tr.lm_first_kf >= self.s.max_track_keyframes:
                    self._new_landmark(tr, p, tr.recent, graph, values)
                else:
                    self._observe(k, tr.lm, xy0, sig, xy1, graph)
                n_in += 1
                continue
            tr.obs.append((k, xy0, sig, xy1))
            if self._try_landmark(k, tid, tr, T_nav_imu, graph, values):
                n_new += 1
                n_in += 1
        return n_in, n_out, n_new

    def _t_s(self, t_ns: int) -> float:
        return (t_ns - self.kf_t[0]) * 1e-9

    def _pose_of(self, kk: int, k: int, T_nav_imu_k: NDArray) -> NDArray:
        return T_nav_imu_k if kk == k else self.est.atPose3(X(kk)).matrix()

    def _try_landmark(self, k: int, tid: int, tr: _Track, T_nav_imu_k: NDArray, graph: Any, values: Any) -> bool:
        rig = self.rig
        # Only keyframes still inside the smoother's window can take new factors.
        t_min = self._t_s(self.kf_t[k]) - 0.8 * self.s.lag_s
        tr.obs = [o for o in tr.obs if self._t_s(self.kf_t[o[0]]) >= t_min]
        cams, xys, sigs = [], [], []
        for kk, xy0, sig, xy1 in tr.obs:
            T = self._pose_of(kk, k, T_nav_imu_k)
            cams.append(T @ rig.T_imu_cam0)
            xys.append(xy0)
            sigs.append(sig)
            if xy1 is not None:
                cams.append(T @ rig.T_imu_cam1)
                xys.append(xy1)
                sigs.append(sig)
        if len(cams) < 2:
            return False
        R = np.array([c[:3, :3] for c in cams])
        xy1h = np.column_stack([np.asarray(xys), np.ones(len(xys))])
        rays = np.einsum("nij,nj->ni", R, xy1h)
        rays /= np.linalg.norm(rays, axis=1, keepdims=True)
        parallax = float(np.degrees(np.arccos(np.clip(np.min(rays[1:] @ rays[0]), -1.0, 1.0))))
        if parallax < self.s.min_parallax_deg:
            if len(tr.obs) > 30:
                tr.dead = True  # never gains parallax (far away or a static-camera artefact)
            return False
        p = _triangulate(cams, xys)
        if p is None:
            return False
        for c, xy, sig in zip(cams, xys, sigs, strict=True):
            pc = geometry.transform_points(geometry.se3_inverse(c), p[None])[0]
            if (
                pc[2] < 0.02
                or pc[2] > self.s.max_landmark_depth_m
                or np.linalg.norm(pc[:2] / pc[2] - xy) / sig > self.s.gate_sigmas
            ):
                tr.obs = tr.obs[-1:]  # start over from the newest observation (an early one was bad)
                return False
        self._new_landmark(tr, p, tr.obs, graph, values)
        tr.obs = []
        return True

    def _observe(self, k: int, lm: int, xy0: NDArray, sig: float, xy1: NDArray | None, graph: Any) -> None:
        graph.add(self._factor(k, lm, xy0, sig, self.body_P_cam0))
        if xy1 is not None and self.body_P_cam1 is not None:
            graph.add(self._factor(k, lm, xy1, sig, self.body_P_cam1))

    def _new_landmark(
        self,
        tr: _Track,
        p_nav: NDArray,
        obs: Sequence[tuple[int, NDArray, float, NDArray | None]],
        graph: Any,
        values: Any,
    ) -> None:
        # Only keyframes still inside the smoother's window can take new factors.
        t_min = self._t_s(self.kf_t[-1]) - 0.8 * self.s.lag_s
        obs = [o for o in obs if self._t_s(self.kf_t[o[0]]) >= t_min]
        if not obs:
            tr.lm, tr.obs, tr.recent = None, [], []
            return
        lm = self.n_landmarks
        self.n_landmarks += 1
        values.insert(L(lm), np.asarray(p_nav, dtype=np.float64))
        # A weak prior keeps a landmark seen from nearly one direction from making the system singular.
        graph.add(gtsam.PriorFactorPoint3(L(lm), p_nav, gtsam.noiseModel.Isotropic.Sigma(3, self.s.landmark_prior_m)))
        for kk, xy0, sig, xy1 in obs:
            self._observe(kk, lm, xy0, sig, xy1, graph)
        tr.lm = lm
        tr.lm_first_kf = obs[0][0]
        tr.recent = list(obs[-self.s.split_overlap :])
        self.landmarks[lm] = np.asarray(p_nav, dtype=np.float64)

    # ----------------------------------------------------------------- finishing
    def add_loops(self, loops: Sequence[LoopClosure]) -> None:
        """Loop-closure factors for the next ``finish`` (Huber: a wrong one is down-weighted, not obeyed)."""
        for lc in loops:
            sig = np.array([lc.sigma_rad] * 3 + [lc.sigma_m] * 3)
            noise = gtsam.noiseModel.Robust.Create(
                gtsam.noiseModel.mEstimator.Huber.Create(self.s.huber_k), gtsam.noiseModel.Diagonal.Sigmas(sig)
            )
            self.graph_all.add(gtsam.BetweenFactorPose3(X(lc.kf_a), X(lc.kf_b), _pose3(lc.T_a_b), noise))

    def finish(self) -> gtsam.Values:
        """The export solution: a batch Levenberg-Marquardt pass over all factors from the iSAM2 estimate."""
        if not self.s.batch or len(self.kf_t) < 2:
            return self.latest
        params = gtsam.LevenbergMarquardtParams()
        params.setMaxIterations(self.s.batch_iterations)
        try:
            return gtsam.LevenbergMarquardtOptimizer(self.graph_all, self.latest, params).optimize()
        except RuntimeError as e:
            log.warning("batch smoothing failed (%s); keeping the online solution", e)
            return self.latest


def run(
    frames: Sequence[FrameObservations],
    imu: ImuSamples,
    rig: RigModel,
    settings: BackendSettings = BackendSettings(),
    known_tags: Mapping[int, NDArray[np.float64]] | None = None,
    find_loops: LoopFinder | None = None,
) -> BackendResult:
    """Estimate T_nav_imu for every frame. Frames must be in time order on the IMU clock.

    known_tags: T_world_tag (4, 4) of surveyed tags; their relative poses become hard constraints.
    find_loops(result, keyframe frame indices) -> loop closures between keyframes, added before a
    second batch pass (the batch solution seeds it)."""
    if not frames:
        raise ValueError("no frames to estimate")
    t_frames = np.array([f.t_ns for f in frames], dtype=np.int64)
    inside = (t_frames >= imu.t_ns[0]) & (t_frames <= imu.t_ns[-1])
    kf_idx = [i for i in range(len(frames)) if inside[i] and (i % settings.keyframe_every == 0)]
    last_inside = np.flatnonzero(inside)
    if len(last_inside) and kf_idx and kf_idx[-1] != last_inside[-1]:
        kf_idx.append(int(last_inside[-1]))
    backend = VioBackend(rig, imu, settings, known_tags)
    t_start = time.perf_counter()
    for i in kf_idx:
        backend.add_keyframe(frames[i])
    online_s = time.perf_counter() - t_start
    t1 = time.perf_counter()
    est = backend.finish()
    batch_s = time.perf_counter() - t1
    res = _per_frame(backend, est, frames, kf_idx, t_frames, online_s, batch_s)
    if find_loops is None or not settings.batch or len(kf_idx) < 2:
        return res
    t2 = time.perf_counter()
    loops = list(find_loops(res, kf_idx))
    if loops:
        backend.add_loops(loops)
        backend.latest = est
        est = backend.finish()
        res = _per_frame(backend, est, frames, kf_idx, t_frames, online_s, batch_s)
    res.stats["loop_closures"] = len(loops)
    res.stats["loop_s"] = time.perf_counter() - t2
    return res


def _keyframe_states(backend: VioBackend, est: gtsam.Values, n_kf: int) -> tuple[NDArray[np.uint8], NDArray[np.int32]]:
    """OK where the keyframe saw enough inliers or a tag; weak spans up to max_bridge_s are
    INTERPOLATED when bridged on both sides, longer ones LOST; after a LOST span the map is
    only trusted again through a tag (RELOCALISED), otherwise frames stay LOST.
    Also each keyframe's piece of continuous tracking (-1 inside LOST spans)."""
    s = backend.s
    # Counted over the final graph: a landmark triangulated later also constrains earlier keyframes.
    good = np.array(
        [
            (backend.kf_visual.get(k, 0) >= s.min_inliers or backend.kf_stats[k]["tags"] > 0)
            and k not in backend.kf_gap
            for k in range(n_kf)
        ]
    )
    state = np.where(good, TrackState.OK, TrackState.LOST).astype(np.uint8)
    segment = np.full(n_kf, -1, dtype=np.int32)
    piece = 0
    t = np.array(backend.kf_t, dtype=np.int64)
    k = 0
    lost_before = False
    while k < n_kf:
        if good[k]:
            segment[k] = piece
            if lost_before:
                # Re-anchored only by a tag; pure visual re-acquisition starts a map with drifted scale/yaw.
                j = k
                tagged_seen = False
                while j < n_kf and good[j]:
                    tagged_seen = tagged_seen or backend.kf_stats[j]["tags"] > 0
                    segment[j] = piece
                    j += 1
                state[k:j] = TrackState.RELOCALISED if tagged_seen else TrackState.LOST
                k = j
                continue
            k += 1
            continue
        j = k
        while j < n_kf and not good[j]:
            j += 1
        span_s = (t[min(j, n_kf - 1)] - t[max(k - 1, 0)]) * 1e-9
        across_gap = any(kk in backend.kf_gap for kk in range(k, j))  # no IMU bridged it: continuity broken
        if k > 0 and j < n_kf and span_s <= s.max_bridge_s and not across_gap:
            state[k:j] = TrackState.INTERPOLATED
            segment[k:j] = piece
        elif k == 0:
            # Weak from the first keyframe (a start in motion: mono points wait for parallax): not
            # yet tracking, so nothing was lost; the first good keyframe starts the first piece.
            state[k:j] = TrackState.LOST
        else:
            state[k:j] = TrackState.LOST
            lost_before = True
            piece += 1
        k = j
    return state, segment


def _per_frame(
    backend: VioBackend,
    est: gtsam.Values,
    frames: Sequence[FrameObservations],
    kf_idx: list[int],
    t_frames: NDArray[np.int64],
    online_s: float,
    batch_s: float,
) -> BackendResult:
    n = len(frames)
    n_kf = len(kf_idx)
    T_kf = np.array([est.atPose3(X(k)).matrix() for k in range(n_kf)])
    V_kf = np.array([est.atVector(V(k)) for k in range(n_kf)])
    B_kf = [est.atConstantBias(B(k)) for k in range(n_kf)]
    kf_state, kf_segment = _keyframe_states(backend, est, n_kf)
    sig_kf = np.array(backend.kf_sigma)
    have = np.flatnonzero(np.isfinite(sig_kf))
    if len(have):
        sig_kf = np.interp(np.arange(n_kf), have, sig_kf[have])
    T_out = np.zeros((n, 4, 4))
    state = np.full(n, TrackState.LOST, dtype=np.uint8)
    sigma = np.full(n, np.nan, dtype=np.float32)
    segment = np.full(n, -1, dtype=np.int32)
    kf_pos = np.searchsorted(np.array(kf_idx), np.arange(n), side="right") - 1  # keyframe at or before frame i
    for k in range(n_kf):
        i0 = kf_idx[k]
        i1 = kf_idx[k + 1] if k + 1 < n_kf else n
        nav = gtsam.NavState(gtsam.Pose3(T_kf[k]), V_kf[k])
        preds = []
        pim = gtsam.PreintegratedCombinedMeasurements(backend.params, B_kf[k])
        t_prev = int(t_frames[i0])
        for i in range(i0, i1 + (1 if k + 1 < n_kf else 0)):
            if i >= n:
                break
            integrate(pim, backend.imu, t_prev, int(t_frames[i]))
            t_prev = int(t_frames[i])
            preds.append(pim.predict(nav, B_kf[k]).pose().matrix() if i > i0 else T_kf[k])
        if k + 1 < n_kf:
            # Spread the propagation's mismatch at the next keyframe linearly over the interval.
            end = preds[-1]
            dR = geometry.so3_log(end[:3, :3].T @ T_kf[k + 1][:3, :3])
            dp = T_kf[k + 1][:3, 3] - end[:3, 3]
            span = max(i1 - i0, 1)
            for m in range(len(preds) - 1):
                u = m / span
                T = preds[m].copy()
                T[:3, :3] = T[:3, :3] @ geometry.so3_exp(u * dR)
                T[:3, 3] += u * dp
                T_out[i0 + m] = T
                worse = max(kf_state[k], kf_state[k + 1]) if m else kf_state[k]
                state[i0 + m] = worse
                sigma[i0 + m] = max(sig_kf[k], sig_kf[k + 1]) if m else sig_kf[k]
                same_piece = kf_segment[k] == kf_segment[k + 1]
                segment[i0 + m] = kf_segment[k] if (m == 0 or same_piece) else -1
        else:
            for m, T in enumerate(preds):
                T_out[i0 + m] = T
                state[i0 + m] = kf_state[k]
                sigma[i0 + m] = sig_kf[k]
                segment[i0 + m] = kf_segment[k]
    # Frames before the first keyframe (no IMU yet): no pose; hold the first one, LOST.
    if n_kf:
        for i in range(kf_idx[0]):
            T_out[i] = T_kf[0]
    quality = np.zeros(n, dtype=np.float32)
    inl = np.array([backend.kf_visual.get(k, 0) + 20 * backend.kf_stats[k]["tags"] for k in range(n_kf)])
    q_kf = np.clip(inl / (3.0 * backend.s.min_inliers), 0, 1)
    ok_kf = np.clip(kf_pos, 0, max(n_kf - 1, 0))
    if n_kf:
        quality = np.where(state == TrackState.OK, q_kf[ok_kf], 0.5 * q_kf[ok_kf]).astype(np.float32)
        quality[state == TrackState.LOST] = 0.0
    tags = {}
    for tid in backend.tags:
        tags[tid] = est.atPose3(G(tid)).matrix()
    stats = {
        "keyframes": n_kf,
        "landmarks": backend.n_landmarks,
        "online_s": online_s,
        "batch_s": batch_s,
        "median_inliers": float(np.median([s["inliers"] for s in backend.kf_stats])) if n_kf else 0.0,
        "median_observed": float(np.median([s["observed"] for s in backend.kf_stats])) if n_kf else 0.0,
        "outliers": int(sum(s["outliers"] for s in backend.kf_stats)),
        "keyframes_with_tag": int(sum(s["tags"] > 0 for s in backend.kf_stats)),
        "update_ms_p95": float(np.percentile(backend.update_s, 95) * 1e3) if backend.update_s else 0.0,
    }
    return BackendResult(t_frames, T_out, state, quality, sigma, tags, stats, segment)
