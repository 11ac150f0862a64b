"""The virtual rig's body: where the IMU, cameras, fingertips and finger markers sit.

Frames: ``imu`` (the body frame of trajectories), ``cam0`` (optical: x right, y down,
z forward), ``tcp`` (fingertip centre, z along the approach = cam0's z). Finger geometry
is given in cam0 as a function of the gripper width so the renderer and fiducial-based
width estimators agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from democap import geometry

GRAVITY_M_S2 = 9.81
GRAVITY_WORLD = np.array([0.0, 0.0, -GRAVITY_M_S2])  # world z is up

#: cam0 in the IMU frame: a few millimetres and a degree or two off, as on a real board.
T_IMU_CAM0 = geometry.se3(geometry.so3_exp([0.012, -0.021, 0.006]), [0.021, -0.008, 0.004])
#: Fingertip centre in cam0: below the optical axis, 20 cm ahead (UMI-like layout).
T_CAM0_TCP = geometry.se3(np.eye(3), [0.0, 0.05, 0.20])
STEREO_BASELINE_M = 0.064

GRIPPER_MIN_WIDTH_M = 0.0
GRIPPER_MAX_WIDTH_M = 0.085
FINGER_WIDTH_M = 0.022  # across, along cam0 x
FINGER_LENGTH_M = 0.125  # tip to where the finger leaves the field of view
FINGER_MARKER_DICT = "DICT_4X4_50"  # cv2.aruco dictionary of the finger markers
FINGER_MARKER_IDS = (0, 1)  # left, right
FINGER_MARKER_SIZE_M = 0.016
FINGER_MARKER_FROM_TIP_M = 0.020  # tip edge of the marker, along the finger

# A finger's visible face runs from its tip (y 0.05, z 0.20) back to its base (y 0.125, z 0.10).
_TIP = np.array([0.0, 0.05, 0.20])
_BASE = np.array([0.0, 0.125, 0.10])
_ALONG = (_BASE - _TIP) / np.linalg.norm(_BASE - _TIP)  # tip -> base


@dataclass(frozen=True, eq=False)
class FingerFace:
    """A finger's face as a textured rectangle in cam0.

    ``origin_cam``: corner of texel (0, 0); ``e_u``/``e_v``: unit texture axes (u across the
    finger to the right, v from tip to base); the face is ``size_m`` (u, v).
    """

    side: str
    origin_cam: NDArray[np.float64]
    e_u: NDArray[np.float64]
    e_v: NDArray[np.float64]
    size_m: tuple[float, float]


def finger_faces(width_m: float) -> tuple[FingerFace, FingerFace]:
    """Left and right finger faces in cam0 for an opening of width_m (inner pad distance)."""
    out = []
    for side, sign in (("left", -1.0), ("right", 1.0)):
        x_centre = sign * (0.5 * width_m + 0.5 * FINGER_WIDTH_M)
        origin = _TIP + np.array([x_centre - 0.5 * FINGER_WIDTH_M, 0.0, 0.0])
        out.append(
            FingerFace(side, origin, np.array([1.0, 0.0, 0.0]), _ALONG.copy(), (FINGER_WIDTH_M, FINGER_LENGTH_M))
        )
    return out[0], out[1]


def T_cam0_finger_marker(width_m: float) -> dict[int, NDArray[np.float64]]:
    """Pose (4, 4) of each finger marker (by id) in cam0, OpenCV marker convention.

    Marker frame: origin at the marker centre, x right, y up in the marker image, z out of
    the face towards the camera (as cv2.solvePnP with IPPE_SQUARE returns it).
    """
    poses = {}
    for face, marker_id in zip(finger_faces(width_m), FINGER_MARKER_IDS, strict=True):
        n = np.cross(face.e_v, face.e_u)
        centre = (
            face.origin_cam
            + face.e_u * 0.5 * FINGER_WIDTH_M
            + face.e_v * (FINGER_MARKER_FROM_TIP_M + 0.5 * FINGER_MARKER_SIZE_M)
        )
        poses[marker_id] = geometry.se3(np.stack([face.e_u, -face.e_v, n], axis=1), centre)
    return poses


def camera_look_rotation(
    yaw: NDArray[np.float64], pitch: NDArray[np.float64], roll: NDArray[np.float64]
) -> NDArray[np.float64]:
    """R_world_cam (N, 3, 3) of an optical frame looking along heading ``yaw`` (about world z),
    tilted down by ``pitch`` and turned by ``roll`` about its own optical axis (radians)."""
    yaw, pitch, roll = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (yaw, pitch, roll))
    fwd = np.stack([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), -np.sin(pitch)], axis=-1)
    right = np.stack([np.sin(yaw), -np.cos(yaw), np.zeros_like(yaw)], axis=-1)
    down = np.cross(fwd, right)
    R0 = np.stack([right, down, fwd], axis=-1)
    c, s = np.cos(roll), np.sin(roll)
    Rz = np.zeros(roll.shape + (3, 3))
    Rz[..., 0, 0], Rz[..., 0, 1], Rz[..., 1, 0], Rz[..., 1, 1], Rz[..., 2, 2] = c, -s, s, c, 1.0
    return R0 @ Rz
