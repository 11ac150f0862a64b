"""A seeded feature-point simulation of a handheld rig over a tabletop.

It produces exactly what the front end would (``FrameObservations`` + ``ImuSamples``) plus
the ground truth, so the back end can be tested and benchmarked without images: random
3-D points on a table, on clutter and on the room walls, a table tag at the world origin,
a scripted pick-and-place-like motion, and an IMU synthesised from that motion with white
noise and random-walk biases (Kalibr-style continuous densities).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from democap import geometry
from democap.model import CameraModel, ImuNoise
from slam.vio.frontend import normalised
from slam.vio.measurements import FrameObservations, ImuSamples, RigModel
from slam.vio.tags import tag_corners_tag, tag_from_corners

GRAVITY_WORLD = np.array([0.0, 0.0, -9.81])


@dataclass(frozen=True)
class SimSpec:
    duration_s: float = 20.0
    fps: float = 30.0
    imu_rate_hz: float = 200.0
    camera: str = "fisheye"  # "fisheye" (640x480, ~150 deg) or "pinhole" (640x480, ~70 deg)
    stereo: bool = False
    baseline_m: float = 0.06
    pixel_sigma: float = 0.5
    n_points: int = 1500
    max_features: int = 150  # what a KLT front end keeps per frame
    tag_size_m: float | None = 0.12
    outlier_share: float = 0.0
    occlusion_s: tuple[float, float] | None = None  # a span with no features and no tags
    link_gap_s: tuple[float, float] | None = None  # a span with no IMU samples and no frames (link drop)
    seed: int = 0


@dataclass(frozen=True, eq=False)
class SimSequence:
    """frames/imu as a front end gives them; T_world_imu (N, 4, 4) truth at frame times; world = table tag."""

    spec: SimSpec
    rig: RigModel
    camera: CameraModel
    frames: list[FrameObservations]
    imu: ImuSamples
    T_world_imu: NDArray[np.float64]
    points_world: NDArray[np.float64]


def sim_camera(kind: str) -> CameraModel:
    if kind == "fisheye":
        return CameraModel("fisheye-equidistant", 640, 480, 230.0, 230.0, 320.0, 240.0, (0.02, -0.01, 0.003, -0.001))
    return CameraModel("pinhole-radtan", 640, 480, 460.0, 460.0, 320.0, 240.0, (-0.05, 0.01, 0.0, 0.0))


def _scene(rng: np.random.Generator, n: int) -> NDArray[np.float64]:
    """Points (n, 3) on a 1.2 x 0.8 m table (z=0), on boxes up to 0.25 m, and on walls 1.5 m away."""
    n_table, n_box = n // 2, n // 6
    table = np.column_stack([rng.uniform(-0.6, 0.6, n_table), rng.uniform(-0.4, 0.4, n_table), np.zeros(n_table)])
    boxes = np.column_stack(
        [rng.uniform(-0.5, 0.5, n_box), rng.uniform(-0.35, 0.35, n_box), rng.uniform(0.0, 0.25, n_box)]
    )
    n_wall = n - n_table - n_box
    ang = rng.uniform(-np.pi, np.pi, n_wall)
    wall = np.column_stack([1.5 * np.cos(ang), 1.5 * np.sin(ang), rng.uniform(-0.7, 1.2, n_wall)])
    pts = np.concatenate([table, boxes, wall])
    # Keep the tag's square free of features, as a printed tag is.
    keep = ~((np.abs(pts[:, 0]) < 0.1) & (np.abs(pts[:, 1]) < 0.1) & (pts[:, 2] == 0))
    return pts[keep]


def pose_at(t: NDArray[np.float64] | float, seed: int = 0) -> NDArray[np.float64]:
    """T_world_cam0-ish rig pose (..., 4, 4): a hand moving over the table, looking at a wandering target."""
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    ph = np.random.default_rng(seed + 1000).uniform(0, 2 * np.pi, 12)
    # Start at rest: the motion amplitude ramps in over the first second.
    ramp = np.clip(t / 1.0, 0.0, 1.0) ** 2 * (3 - 2 * np.clip(t / 1.0, 0.0, 1.0))
    p = np.stack(
        [
            0.20 * np.sin(2 * np.pi * 0.13 * t + ph[0]) + 0.05 * np.sin(2 * np.pi * 0.7 * t + ph[1]),
            -0.35 + 0.12 * np.sin(2 * np.pi * 0.17 * t + ph[2]) + 0.04 * np.sin(2 * np.pi * 0.9 * t + ph[3]),
            0.40 + 0.10 * np.sin(2 * np.pi * 0.23 * t + ph[4]) + 0.03 * np.sin(2 * np.pi * 1.1 * t + ph[5]),
        ],
        axis=-1,
    )
    p0 = np.array(
        [
            0.20 * np.sin(ph[0]) + 0.05 * np.sin(ph[1]),
            -0.35 + 0.12 * np.sin(ph[2]) + 0.04 * np.sin(ph[3]),
            0.40 + 0.10 * np.sin(ph[4]) + 0.03 * np.sin(ph[5]),
        ]
    )
    p = p0 + ramp[:, None] * (p - p0)
    target = np.stack(
        [0.15 * np.sin(2 * np.pi * 0.11 * t + ph[6]), 0.10 * np.sin(2 * np.pi * 0.19 * t + ph[7]), np.zeros_like(t)],
        axis=-1,
    )
    target0 = np.array([0.15 * np.sin(ph[6]), 0.10 * np.sin(ph[7]), 0.0])
    target = target0 + ramp[:, None] * (target - target0)
    roll = 0.25 * np.sin(2 * np.pi * 0.3 * t + ph[8]) * ramp
    fwd = target - p
    fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd], axis=-1)  # camera axes x right, y down, z forward (columns)
    R = R @ np.stack([geometry.so3_exp([0.0, 0.0, r]) for r in roll])
    T = np.zeros((len(t), 4, 4))
    T[:, :3, :3] = R
    T[:, :3, 3] = p
    T[:, 3, 3] = 1.0
    return T


def simulate(spec: SimSpec) -> SimSequence:
    rng = np.random.default_rng(spec.seed)
    camera = sim_camera(spec.camera)
    T_imu_cam0 = geometry.se3(geometry.so3_exp([0.02, -0.03, 1.5708]), [0.01, -0.02, 0.015])
    T_cam0_cam1 = geometry.se3(geometry.so3_exp([0.003, -0.002, 0.001]), [spec.baseline_m, 0.0, 0.0])
    T_imu_cam1 = T_imu_cam0 @ T_cam0_cam1 if spec.stereo else None
    imu_noise = ImuNoise(1.7e-4 * 5, 2e-5 * 5, 2e-3 * 5, 3e-3 * 5, spec.imu_rate_hz)  # a consumer MEMS IMU
    rig = RigModel(T_imu_cam0, imu_noise, T_imu_cam1, spec.tag_size_m)

    def T_world_imu_at(t: NDArray[np.float64]) -> NDArray[np.float64]:
        return pose_at(t, spec.seed) @ geometry.se3_inverse(T_imu_cam0)

    # IMU: angular rate and specific force by central differences of the smooth analytic motion.
    t_imu = np.arange(0.0, spec.duration_s + 0.5, 1.0 / spec.imu_rate_hz)
    h = 1e-4
    Tm, T0, Tp = T_world_imu_at(t_imu - h), T_world_imu_at(t_imu), T_world_imu_at(t_imu + h)
    gyro = np.array([geometry.so3_log(a[:3, :3].T @ b[:3, :3]) for a, b in zip(Tm, Tp, strict=True)]) / (2 * h)
    acc_world = (Tp[:, :3, 3] - 2 * T0[:, :3, 3] + Tm[:, :3, 3]) / h**2
    accel = np.einsum("nji,nj->ni", T0[:, :3, :3], acc_world - GRAVITY_WORLD)
    dt = 1.0 / spec.imu_rate_hz
    walk = rng.normal(0, np.sqrt(dt), (2, len(t_imu), 3))
    bg = rng.normal(0, 0.005, 3) + np.cumsum(walk[0] * imu_noise.gyro_random_walk, axis=0)
    ba = rng.normal(0, 0.05, 3) + np.cumsum(walk[1] * imu_noise.accel_random_walk, axis=0)
    gyro_m = gyro + bg + rng.normal(0, imu_noise.gyro_noise_density / np.sqrt(dt), gyro.shape)
    accel_m = accel + ba + rng.normal(0, imu_noise.accel_noise_density / np.sqrt(dt), accel.shape)
    t0_ns = 1_000_000_000_000
    imu = ImuSamples((t0_ns + np.round(t_imu * 1e9)).astype(np.int64), gyro_m, accel_m)

    pts = _scene(rng, spec.n_points)
    # A tracker keeps the features it already has: a fixed random rank per point picks the same ones.
    rank = rng.permutation(len(pts))
    t_cam = np.arange(0.0, spec.duration_s, 1.0 / spec.fps)
    T_world_imu = T_world_imu_at(t_cam)
    corners_world = tag_corners_tag(spec.tag_size_m) if spec.tag_size_m else None
    frames = []
    for i, t in enumerate(t_cam):
        hidden = spec.occlusion_s is not None and spec.occlusion_s[0] <= t < spec.occlusion_s[1]
        T_cam0_world = geometry.se3_inverse(T_world_imu[i] @ T_imu_cam0)
        ids, px0 = _visible(camera, T_cam0_world, pts)
        keep = np.sort(np.argsort(rank[ids])[: spec.max_features])
        ids, px0 = ids[keep], px0[keep]
        if hidden:
            ids, px0 = ids[:0], px0[:0]
        px0 = px0 + rng.normal(0, spec.pixel_sigma, px0.shape)
        if spec.outlier_share > 0 and len(ids):
            bad = rng.random(len(ids)) < spec.outlier_share
            px0[bad] += rng.normal(0, 25.0, (int(bad.sum()), 2))
        xy0, sig0 = normalised(camera, px0, spec.pixel_sigma)
        xy1 = None
        if spec.stereo:
            T_cam1_world = geometry.se3_inverse(T_cam0_cam1) @ T_cam0_world
            p1 = geometry.transform_points(T_cam1_world, pts[ids])
            px1 = camera.project(p1) + rng.normal(0, spec.pixel_sigma, (len(ids), 2))
            inside = _inside(camera, px1) & (p1[:, 2] > 0.05)
            xy1 = np.full((len(ids), 2), np.nan)
            if inside.any():
                xy1[inside] = normalised(camera, px1[inside], spec.pixel_sigma)[0]
        tags = []
        if corners_world is not None and spec.tag_size_m is not None and not hidden:
            c_cam = geometry.transform_points(T_cam0_world, corners_world)
            cpx = camera.project(c_cam)
            if np.all(c_cam[:, 2] > 0.05) and np.all(_inside(camera, cpx)):
                obs = tag_from_corners(0, cpx + rng.normal(0, spec.pixel_sigma, cpx.shape), camera, spec.tag_size_m)
                if obs is not None:
                    tags.append(obs)
        frames.append(FrameObservations(int(t0_ns + round(t * 1e9)), ids.astype(np.int64), xy0, sig0, xy1, tuple(tags)))
    if spec.link_gap_s is not None:
        g0, g1 = (t0_ns + int(v * 1e9) for v in spec.link_gap_s)
        keep_imu = (imu.t_ns < g0) | (imu.t_ns >= g1)
        imu = ImuSamples(imu.t_ns[keep_imu], imu.gyro_imu[keep_imu], imu.accel_imu[keep_imu])
        keep = np.array([not (g0 <= f.t_ns < g1) for f in frames])
        frames = [f for f, k in zip(frames, keep, strict=True) if k]
        T_world_imu = T_world_imu[keep]
    return SimSequence(spec, rig, camera, frames, imu, T_world_imu, pts)


def _inside(camera: CameraModel, px: NDArray[np.float64]) -> NDArray[np.bool_]:
    ok = np.isfinite(px).all(axis=1)
    return ok & (px[:, 0] >= 2) & (px[:, 0] < camera.width - 2) & (px[:, 1] >= 2) & (px[:, 1] < camera.height - 2)


def _visible(
    camera: CameraModel, T_cam_world: NDArray[np.float64], pts: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    p = geometry.transform_points(T_cam_world, pts)
    # The normalised-plane back end needs points in front; 75 deg off-axis is the fisheye cut-off used.
    front = p[:, 2] > np.linalg.norm(p, axis=1) * np.cos(np.radians(75))
    px = camera.project(p)
    ok = front & _inside(camera, px)
    ids = np.flatnonzero(ok)
    return ids, px[ids]
