"""Live capture for the calibration wizard: which camera views to keep, and what to tell the operator.

A view is kept when it puts target corners into image cells no kept view covered yet, or
shows the target at a new tilt or distance (cameras are calibrated well by views that differ).
Coverage is ``calib.intrinsics.coverage_of``'s; the target pose for the hints comes from
``calib.intrinsics.solve_pnp`` with the rig's current (or a rough) camera model. The
calibration itself runs on the kept detections through ``calib.intrinsics.calibrate_intrinsics``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from democap.model import CameraModel
from devices import base

log = logging.getLogger(__name__)

GRID = (8, 6)
#: Tilt (degrees between the target's normal and the optical axis) and distance bins for diversity.
TILT_BINS_DEG = (0.0, 15.0, 30.0, 90.0)
ENOUGH_VIEWS = 8
MAX_VIEWS = 60


def rough_camera(width: int, height: int) -> CameraModel:
    """A pinhole guess (about 70 degrees across) for pose hints when the rig has no calibration yet."""
    f = 0.7 * width
    return CameraModel("pinhole-radtan", width, height, f, f, width / 2, height / 2, (0.0, 0.0, 0.0, 0.0, 0.0))


@dataclass(frozen=True)
class ViewPose:
    tilt_deg: float
    distance_m: float


@dataclass
class LiveViewSelector:
    """Decides, one detection at a time, which live views to keep for calibration."""

    image_size: tuple[int, int]  # (width, height)
    camera: CameraModel
    kept: list[Any] = field(default_factory=list)  # calib.targets.Detection
    poses: list[ViewPose] = field(default_factory=list)
    seen: int = 0
    found: int = 0

    def _covered(self, corners: list[NDArray[np.float64]]) -> NDArray[np.bool_]:
        from calib.intrinsics import coverage_of

        if not corners:
            return np.zeros((GRID[1], GRID[0]), bool)
        return coverage_of(corners, self.image_size, GRID).counts > 0

    def pose_of(self, det: Any) -> ViewPose | None:
        from calib.intrinsics import solve_pnp

        try:
            ok, T_cam_target = solve_pnp(self.camera, det)
        except Exception:  # noqa: BLE001 - a hint only; a degenerate view simply gives none
            return None
        if not ok:
            return None
        tilt = float(np.degrees(np.arccos(np.clip(abs(T_cam_target[2, 2]), 0.0, 1.0))))
        return ViewPose(tilt, float(np.linalg.norm(T_cam_target[:3, 3])))

    def consider(self, det: Any, min_points: int = 8) -> tuple[bool, str]:
        """(kept?, why) for one detection (None: target not seen)."""
        self.seen += 1
        if det is None or len(det) < min_points:
            return False, "target not seen (or too little of it)"
        self.found += 1
        if len(self.kept) >= MAX_VIEWS:
            return False, f"{MAX_VIEWS} views kept already"
        before = self._covered([d.corners_px for d in self.kept])
        after = self._covered([d.corners_px for d in self.kept] + [det.corners_px])
        new_cells = int(after.sum() - before.sum())
        pose = self.pose_of(det)
        new_pose = False
        if pose is not None:
            tilt_bin = int(np.digitize(pose.tilt_deg, TILT_BINS_DEG))
            tilt_bins = {int(np.digitize(p.tilt_deg, TILT_BINS_DEG)) for p in self.poses}
            far = [p.distance_m for p in self.poses]
            new_distance = not far or pose.distance_m < 0.8 * min(far) or pose.distance_m > 1.25 * max(far)
            new_pose = tilt_bin not in tilt_bins or new_distance
        if new_cells > 0 or new_pose:
            self.kept.append(det)
            if pose is not None:
                self.poses.append(pose)
            why = f"+{new_cells} cell(s)" if new_cells else "new tilt or distance"
            return True, why
        return False, "adds no coverage or pose variety"

    def coverage(self) -> Any:
        from calib.intrinsics import coverage_of

        return coverage_of([d.corners_px for d in self.kept], self.image_size, GRID)

    @property
    def enough(self) -> bool:
        return len(self.kept) >= ENOUGH_VIEWS and not self.coverage().poor and self._tilt_range() >= 15.0

    def _tilt_range(self) -> float:
        tilts = [p.tilt_deg for p in self.poses]
        return max(tilts) - min(tilts) if len(tilts) > 1 else 0.0

    def hint(self) -> str:
        """What the operator should do next, in one sentence."""
        if not self.kept:
            return "Show the target to the camera."
        cov = self.coverage()
        if self.enough:
            return f"Enough views ({len(self.kept)} kept, {cov.fraction:.0%} of the image covered): press Calibrate."
        tips = []
        if cov.poor:
            empty = cov.counts == 0
            names = {(0, 0): "top-left", (0, -1): "top-right", (-1, 0): "bottom-left", (-1, -1): "bottom-right"}
            corners = [n for (r, c), n in names.items() if empty[r, c]]
            if corners:
                tips.append("bring the target into the " + ", ".join(corners) + " corner(s) of the image")
            else:
                tips.append("fill the dark cells of the image")
        if self._tilt_range() < 15.0:
            tips.append("tilt the target (or camera) more, up to about 40°")
        dist = [p.distance_m for p in self.poses]
        if len(dist) > 1 and max(dist) < 1.3 * min(dist):
            tips.append("vary the distance: closer and farther")
        if len(self.kept) < ENOUGH_VIEWS:
            tips.append(f"keep going: {len(self.kept)} of at least {ENOUGH_VIEWS} views")
        return (tips[0][0].upper() + "; ".join(tips)[1:] + ".") if tips else "Keep moving the target."

    def pose_summary(self) -> str:
        if not self.poses:
            return "no target pose yet"
        tilts = [p.tilt_deg for p in self.poses]
        dist = [p.distance_m for p in self.poses]
        return f"tilt {min(tilts):.0f}–{max(tilts):.0f}°, distance {min(dist):.2f}–{max(dist):.2f} m"


class FramePump:
    """Reads a live source on its own thread and keeps only the newest frame of one camera.

    Calibration does not record: frames the detector has no time for are simply not looked at.
    """

    def __init__(self, source: Any, camera: str | None = None, on_error: Callable[[str], None] | None = None) -> None:
        self.source = source
        self.description: base.SourceDescription = source.describe()
        cams = [c.sensor for c in self.description.cameras if c.pix_fmt != "gray16le"]
        if not cams:
            from democap.errors import CalibrationError

            source.stop()
            raise CalibrationError(f"{self.description.info.serial} has no camera stream to calibrate")
        self.camera = camera if camera in cams else cams[0]
        self._lock = threading.Lock()
        self._latest: base.CameraFrame | None = None
        self._stop = threading.Event()
        self.error = ""
        self.frames = 0
        self._on_error = on_error
        self.thread = threading.Thread(target=self._run, daemon=True, name="calib-live-frames")
        self.thread.start()

    def _run(self) -> None:
        try:
            for s in self.source.samples():
                if self._stop.is_set():
                    break
                if isinstance(s, base.CameraFrame) and s.sensor == self.camera:
                    with self._lock:
                        self._latest = s
                        self.frames += 1
        except Exception as e:  # noqa: BLE001 - shown on the wizard
            log.exception("live calibration source failed")
            self.error = f"the camera stopped: {e}"
        finally:
            self.source.stop()

    def take(self) -> base.CameraFrame | None:
        """The newest frame not taken yet (None if none arrived since)."""
        with self._lock:
            f, self._latest = self._latest, None
            return f

    def stop(self) -> None:
        self._stop.set()
        self.source.stop()
