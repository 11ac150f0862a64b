"""Generated labelled frames for measuring the observation-gap detectors.

No labelled real images of blur, bad exposure or hands exist in the shared data, so
precision and recall are measured on this generated set (fixed seed): textured
workbench scenes (clutter, wooden tabletops and cardboard as skin-coloured
distractors) rendered clean, with motion blur, underexposed, overexposed, or with a
drawn hand and forearm entering from an edge in one of several skin tones. The figures
say how the detectors behave on this set, not on real footage.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

Label = Literal["clean", "blur", "dark", "bright", "hand"]
LABELS: tuple[Label, ...] = ("clean", "blur", "dark", "bright", "hand")

#: Skin tones (RGB) from light to dark, in the spirit of the Fitzpatrick scale.
SKIN_TONES_RGB = (
    (245, 208, 180),
    (234, 189, 157),
    (214, 160, 120),
    (190, 128, 88),
    (150, 95, 62),
    (110, 68, 45),
    (86, 54, 38),
)


@dataclass(frozen=True)
class LabelledFrame:
    image: NDArray[np.uint8]  # (H, W, 3) RGB
    label: Label


def scene(
    rng: np.random.Generator,
    width: int = 640,
    height: int = 480,
    distractor: bool | None = None,
    base_rgb: tuple[int, int, int] | None = None,
) -> NDArray[np.uint8]:
    """A textured workbench-like RGB scene; sometimes with a wooden top or cardboard (skin-like colours)."""
    img = np.empty((height, width, 3), np.uint8)
    base = rng.integers(60, 200, size=3) if base_rgb is None else np.array(base_rgb)
    img[:] = base
    if distractor is None:
        distractor = bool(rng.random() < 0.4)
    if distractor:
        # Wood grain: brown, streaky, filling the lower part of the view like a tabletop.
        top = int(height * rng.uniform(0.35, 0.6))
        wood = np.array(rng.choice([(160, 110, 70), (190, 140, 90), (120, 80, 50), (200, 160, 120)]), np.float64)
        ys = np.arange(height - top)[:, None]
        xs = np.arange(width)[None, :]
        grain = 0.85 + 0.15 * np.sin(xs * rng.uniform(0.05, 0.2) + 3 * np.sin(ys * 0.03))
        img[top:] = np.clip(wood[None, None, :] * grain[..., None], 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(15, 40))):  # clutter: boxes, discs, lines of random colours
        c = tuple(int(v) for v in rng.integers(0, 256, size=3))
        kind = rng.integers(0, 3)
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(10, 120)), y + int(rng.integers(10, 120))), c, -1)
        elif kind == 1:
            cv2.circle(img, (x, y), int(rng.integers(5, 50)), c, -1)
        else:
            cv2.line(
                img, (x, y), (int(rng.integers(0, width)), int(rng.integers(0, height))), c, int(rng.integers(1, 6))
            )
    # Fine texture (print, grain) so a sharp frame has real high-frequency content.
    noise = rng.normal(0, 6, size=(height, width, 1))
    return np.clip(img.astype(np.float64) + noise, 0, 255).astype(np.uint8)


def motion_blur(img: NDArray[np.uint8], length: int, angle_deg: float) -> NDArray[np.uint8]:
    """Linear motion blur of ``length`` pixels along ``angle_deg``."""
    k = np.zeros((length, length), np.float32)
    k[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle_deg, 1.0)
    k = cv2.warpAffine(k, rot, (length, length))
    k /= max(float(k.sum()), 1e-6)
    return cv2.filter2D(img, -1, k)


def expose(img: NDArray[np.uint8], gain: float, offset: float = 0.0) -> NDArray[np.uint8]:
    return np.clip(img.astype(np.float64) * gain + offset, 0, 255).astype(np.uint8)


def draw_hand(img: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.uint8]:
    """Draw a shaded hand with forearm entering from a random image edge."""
    h, w = img.shape[:2]
    out = img.copy()
    tone = np.array(SKIN_TONES_RGB[int(rng.integers(0, len(SKIN_TONES_RGB)))], np.float64)
    edge = int(rng.integers(0, 4))
    scale = rng.uniform(0.7, 1.3) * min(w, h) / 480
    # Entry point on the edge and direction into the image.
    if edge == 0:
        p0, d = np.array([rng.uniform(0.2, 0.8) * w, h + 10]), np.array([rng.uniform(-0.4, 0.4), -1.0])
    elif edge == 1:
        p0, d = np.array([rng.uniform(0.2, 0.8) * w, -10]), np.array([rng.uniform(-0.4, 0.4), 1.0])
    elif edge == 2:
        p0, d = np.array([-10, rng.uniform(0.2, 0.8) * h]), np.array([1.0, rng.uniform(-0.4, 0.4)])
    else:
        p0, d = np.array([w + 10, rng.uniform(0.2, 0.8) * h]), np.array([-1.0, rng.uniform(-0.4, 0.4)])
    d = d / np.linalg.norm(d)
    n = np.array([-d[1], d[0]])
    reach = rng.uniform(0.25, 0.45) * min(w, h)
    wrist = p0 + d * reach
    arm_w = 38 * scale
    mask = np.zeros((h, w), np.uint8)
    arm = np.array([p0 + n * arm_w * 1.2, p0 - n * arm_w * 1.2, wrist - n * arm_w, wrist + n * arm_w], np.int32)
    cv2.fillPoly(mask, [arm], 255)
    palm_c = wrist + d * 45 * scale
    ang = float(np.degrees(np.arctan2(d[1], d[0])))
    cv2.ellipse(mask, (int(palm_c[0]), int(palm_c[1])), (int(55 * scale), int(48 * scale)), ang, 0, 360, 255, -1)
    for k in range(4):  # fingers, spread a little
        spread = np.radians(-24 + 16 * k + rng.uniform(-5, 5))
        fd = np.array([d[0] * np.cos(spread) - d[1] * np.sin(spread), d[0] * np.sin(spread) + d[1] * np.cos(spread)])
        base = palm_c + n * (k - 1.5) * 22 * scale + d * 30 * scale
        tip = base + fd * rng.uniform(45, 70) * scale
        cv2.line(mask, (int(base[0]), int(base[1])), (int(tip[0]), int(tip[1])), 255, max(2, int(18 * scale)))
    thumb = palm_c + n * 50 * scale
    cv2.line(
        mask,
        (int(palm_c[0]), int(palm_c[1])),
        (int(thumb[0] + d[0] * 30), int(thumb[1] + d[1] * 30)),
        255,
        max(2, int(20 * scale)),
    )
    # Shading: light from one side, plus skin texture noise.
    yy, xx = np.mgrid[0:h, 0:w]
    light = 0.75 + 0.3 * ((xx * n[0] + yy * n[1]) - (wrist @ n)) / max(w, h)
    shade = np.clip(light + rng.normal(0, 0.04, size=(h, w)), 0.55, 1.15)
    skin = np.clip(tone[None, None, :] * shade[..., None], 0, 255).astype(np.uint8)
    soft = cv2.GaussianBlur(mask, (5, 5), 0).astype(np.float64)[..., None] / 255.0
    return (out * (1 - soft) + skin * soft).astype(np.uint8)


def labelled_frames(n_per_label: int, seed: int = 0, width: int = 640, height: int = 480) -> Iterator[LabelledFrame]:
    """``n_per_label`` frames of every label in ``LABELS``, interleaved, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    for _ in range(n_per_label):
        for label in LABELS:
            img = scene(rng, width, height)
            if label == "blur":
                img = motion_blur(img, int(rng.integers(12, 30)), float(rng.uniform(0, 180)))
            elif label == "dark":
                img = expose(img, rng.uniform(0.05, 0.2))
            elif label == "bright":
                img = expose(img, rng.uniform(2.5, 5.0), rng.uniform(40, 120))
            elif label == "hand":
                img = draw_hand(img, rng)
            yield LabelledFrame(img, label)


# ------------------------------------------------------------------ sessions


def make_session(
    root: Path,
    *,
    seed: int = 0,
    session_id: str = "20260101-000000-synth0",
    n_frames: int = 90,
    rate_hz: float = 30.0,
    width: int = 320,
    height: int = 240,
    rigs: tuple[str, ...] = ("rig0",),
    episodes: int = 2,
    tasks: tuple[str, ...] = ("pick the cup",),
    blur: tuple[int, ...] = (),
    dark: tuple[int, ...] = (),
    hand: tuple[int, ...] = (),
    dropped: tuple[int, ...] = (),
    lost: tuple[int, ...] = (),
    fiducials_hidden: tuple[int, ...] = (),
    imu_saturated: bool = False,
    robot: str | None = None,
    codec: str = "ffv1",
    head_camera: NDArray[np.uint8] | None = None,
) -> Path:
    """A complete recorded-and-tracked session with known defects at known frames.

    Camera frames are crops of one textured scene sliding with the motion; ``blur``,
    ``dark``, ``hand`` and ``dropped`` list frame numbers to degrade, drop or draw a hand
    on; ``lost`` marks trajectory samples LOST; ``fiducials_hidden`` frames have an unknown
    gripper width. With ``robot``, a joint trajectory (7 joints) is written as the
    retarget stage would. ``head_camera``: an RGB picture (e.g. a portrait) shown, sliding,
    by an extra untracked ``head.cam0`` camera.
    """
    from capture.artifacts import JointTrajectory, commit_stage, trajectory_path, write_joints, write_trajectory
    from capture.session import SessionWriter, StreamSpec
    from democap import geometry
    from democap.model import (
        CameraCalibration,
        CameraModel,
        ClockPair,
        Episode,
        GripperCalibration,
        ImuNoise,
        RigCalibration,
        TrackState,
        Trajectory,
    )

    rng = np.random.default_rng(seed)
    t_start = 1_000_000_000_000
    clock = ClockPair(t_start - 1_000_000_000, 1_767_225_600_000_000_000)
    rig_info = {
        r: {"serial": f"DC-{seed:02d}{i}", "firmware": "1.4.2", "model": "democap-rig-v1"} for i, r in enumerate(rigs)
    }
    if head_camera is not None:
        rig_info["head"] = {"serial": "HC-01", "firmware": "0.9.0", "model": "head-camera"}
    w = SessionWriter(
        root,
        source={"kind": "synthetic", "seed": seed},
        operator="op-7f3a",
        rigs=rig_info,
        session_id=session_id,
        clock=clock,
    )
    period = int(round(1e9 / rate_hz))
    t_frames = t_start + np.arange(n_frames, dtype=np.int64) * period
    cam = CameraModel(
        "pinhole-radtan", width, height, 0.8 * width, 0.8 * width, width / 2, height / 2, (0.01, -0.002, 0.0, 0.0)
    )
    T_cam_tcp = geometry.se3(np.eye(3), [0.0, 0.03, 0.12])
    for ri, rig in enumerate(rigs):
        cal = RigCalibration(
            rig_serial=rig_info[rig]["serial"],
            cameras=(CameraCalibration("cam0", cam, geometry.se3(np.eye(3), [0.01, 0.0, 0.0]), 0, 0.3),),
            imu=ImuNoise(1.7e-4, 1.9e-5, 2e-3, 3e-3, 200.0),
            T_cam_tcp=T_cam_tcp,
            gripper=GripperCalibration("fiducials", 1.0, 0.0, 0.0, 0.09),
            latency_ns={f"{rig}.cam0": 8_000_000},
        )
        w.add_calibration(rig, cal)
        big = scene(
            np.random.default_rng(seed * 10 + ri), width * 2, height * 2, distractor=False, base_rgb=(70, 110, 150)
        )  # a blue-grey bench: not skin-coloured
        vw = w.add_video(StreamSpec(f"{rig}.cam0", "video", rig, "cam0", rate_hz), width, height, "rgb24", codec)
        for i, t in enumerate(t_frames):
            if i in dropped:
                continue
            ox = int(width + width / 3 * np.sin(i / 25.0))
            oy = int(height + height / 4 * np.cos(i / 31.0))
            img = np.ascontiguousarray(big[oy - height // 2 : oy + height // 2, ox - width // 2 : ox + width // 2])
            if i in blur:
                img = motion_blur(img, 15, 30.0)
            if i in dark:
                img = expose(img, 0.08)
            if i in hand:
                img = draw_hand(img, np.random.default_rng(1000 + i))
            vw.append(img, int(t), int(t - t_start), 4_000_000)
        g = w.add_table(StreamSpec(f"{rig}.gripper", "gripper", rig, "gripper", 50.0))
        tg = t_start + np.arange(0, int(n_frames * 50 / rate_hz), dtype=np.int64) * 20_000_000
        width_m = 0.045 + 0.04 * np.sin(np.arange(len(tg)) / 20.0)
        for fi in fiducials_hidden:
            width_m[(tg >= t_frames[fi]) & (tg < t_frames[fi] + period)] = np.nan
        g.append_many({"t_host_ns": tg, "t_device_ns": tg - t_start, "width_m": width_m, "raw": width_m})
        imu = w.add_table(StreamSpec(f"{rig}.imu", "imu", rig, "imu", 200.0))
        ti = t_start + np.arange(0, int(n_frames * 200 / rate_hz), dtype=np.int64) * 5_000_000
        gyro = rng.normal(0, 0.05, (len(ti), 3))
        acc = rng.normal(0, 0.1, (len(ti), 3)) + [0, 0, 9.81]
        if imu_saturated:
            gyro[len(ti) // 2 : len(ti) // 2 + 20, 0] = 34.9
        imu.append_many(
            {
                "t_host_ns": ti,
                "t_device_ns": ti - t_start,
                "gyro_x": gyro[:, 0],
                "gyro_y": gyro[:, 1],
                "gyro_z": gyro[:, 2],
                "accel_x": acc[:, 0],
                "accel_y": acc[:, 1],
                "accel_z": acc[:, 2],
            }
        )
    if head_camera is not None:
        hv = w.add_video(StreamSpec("head.cam0", "video", "head", "cam0", rate_hz), width, height, "rgb24", codec)
        bench = np.zeros((height * 2, width * 2, 3), np.uint8)
        bench[:] = (90, 120, 100)
        import cv2

        ph = min(height * 2, head_camera.shape[0])
        pw = min(width * 2, round(head_camera.shape[1] * ph / head_camera.shape[0]))
        bench[:ph, :pw] = cv2.resize(head_camera, (pw, ph), interpolation=cv2.INTER_AREA)
        for i, t in enumerate(t_frames):
            ox = int(width / 2 + width / 8 * np.sin(i / 25.0))
            img = np.ascontiguousarray(bench[height // 4 : height // 4 + height, ox - width // 2 : ox + width // 2])
            hv.append(img, int(t) + 3_000_000, -1, 4_000_000)
    t_end = int(t_frames[-1]) + period
    bounds = np.linspace(t_start, t_end, episodes + 1).astype(np.int64)
    eps = [Episode(k, int(bounds[k]), int(bounds[k + 1]), "trigger", tasks[k % len(tasks)]) for k in range(episodes)]
    path = w.close(eps)

    from capture.session import Session

    session = Session(path)
    # Trajectory at corrected camera times (host minus the camera latency), as SLAM would give.
    t_traj = t_frames - 8_000_000
    s = np.arange(n_frames) / rate_hz
    files = []
    for ri, rig in enumerate(rigs):
        pos = np.stack([0.4 + 0.1 * np.sin(s) + 0.3 * ri, 0.1 * np.cos(s), 0.3 + 0.05 * s], axis=1)
        R = np.stack([geometry.rot_z(0.5 * np.sin(s_)) for s_ in s])
        state = np.zeros(n_frames, np.uint8)
        state[list(lost)] = TrackState.LOST
        traj = Trajectory(
            t_traj,
            geometry.se3(R, pos),
            state,
            np.where(state == 0, 0.9, 0.0).astype(np.float32),
            np.full(n_frames, 0.003, np.float32),
        )
        write_trajectory(trajectory_path(session, rig), traj)
        files.append(f"{rig}.parquet")
        if robot:
            names = tuple(f"joint{j + 1}" for j in range(7))
            q = 0.3 * np.sin(s[:, None] + np.arange(7)[None, :] * 0.4)
            write_joints(
                session.path / "stages" / "retarget" / robot / f"{rig}.parquet",
                JointTrajectory(robot, names, t_traj, q, 0.045 + 0.04 * np.sin(s * 2.5)),
            )
    commit_stage(session, "trajectory", 1, "synthetic", {"seed": seed}, files)
    return path
