"""A 3-D view of the workspace drawn with QPainter: rig trajectory, rig pose, table, tags, robot.

No OpenGL: pyqtgraph's ``opengl`` module needs a GL context, which the offscreen platform
(tests) and many remote desktops do not give. A perspective camera projection of a few
thousand points with numpy, drawn as 2-D polylines, is cheap enough for a live view.

Mouse: drag orbits, right-drag (or Shift+drag) pans, wheel zooms, double-click resets the view.
World frame: z up (the table's frame when a table tag anchors the trajectory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph.functions as pgf
from numpy.typing import NDArray
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPolygonF,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from democap.model import TrackState
from gui import theme

#: Trajectory colour per ``TrackState`` (the same meaning as the status colours elsewhere).
STATE_COLOURS = {
    int(TrackState.OK): theme.OK,
    int(TrackState.RELOCALISED): theme.ACCENT,
    int(TrackState.INTERPOLATED): theme.WARN,
    int(TrackState.LOST): theme.ERROR,
}
NEAR_M = 0.02
LINK_RADIUS_M = 0.035  # robot links drawn as capsules of about a Panda arm's radius
#: Flat-shading levels: faces of one link and one level are filled as one path (few draw calls).
SHADE_LEVELS = 14
DEPTH_CUE = 0.25
#: Light direction in the camera frame (x right, y up, z forward): from above-left behind the viewer,
#: so the robot is lit whichever way the view is orbited.
LIGHT_CAM = np.array([-0.35, 0.6, -0.72]) / np.linalg.norm([-0.35, 0.6, -0.72])


@dataclass
class OrbitCamera:
    """Looks at ``target_world`` (3,) from ``distance_m`` along azimuth/elevation (degrees; z up)."""

    azimuth_deg: float = -60.0
    elevation_deg: float = 30.0
    distance_m: float = 1.5
    target_world: NDArray[np.float64] = field(default_factory=lambda: np.zeros(3))
    fov_deg: float = 45.0

    def R_cam_world(self) -> NDArray[np.float64]:
        """Rows: right, up, forward (camera x right, y up, z into the scene)."""
        az, el = np.radians(self.azimuth_deg), np.radians(self.elevation_deg)
        back = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        forward = -back
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= max(np.linalg.norm(right), 1e-9)
        up = np.cross(right, forward)
        return np.stack([right, up, forward])

    def eye_world(self) -> NDArray[np.float64]:
        return self.target_world - self.distance_m * self.R_cam_world()[2]

    def project(self, points_world: NDArray[np.float64], width: int, height: int) -> NDArray[np.float64]:
        """Screen pixels (N, 2) and depth (N,) as (N, 3); depth < NEAR_M means behind the camera."""
        p = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
        p_cam = (p - self.eye_world()) @ self.R_cam_world().T
        f_px = 0.5 * height / np.tan(np.radians(self.fov_deg) / 2)
        z = np.maximum(p_cam[:, 2], 1e-9)
        out = np.empty((len(p), 3))
        out[:, 0] = 0.5 * width + f_px * p_cam[:, 0] / z
        out[:, 1] = 0.5 * height - f_px * p_cam[:, 1] / z
        out[:, 2] = p_cam[:, 2]
        return out


class SceneView3D(QWidget):
    """The scene: set its parts, it redraws. Positions are world metres, (N, 3)."""

    def __init__(self, parent: QWidget | None = None, hint: bool = True) -> None:
        super().__init__(parent)
        self.camera = OrbitCamera()
        self.trajectory: NDArray[np.float64] = np.zeros((0, 3))
        self.states: NDArray[np.uint8] | None = None
        self.reference: NDArray[np.float64] = np.zeros((0, 3))  # e.g. the simulator's truth, drawn faint
        self.T_world_rig: NDArray[np.float64] | None = None
        self.tags: dict[int, NDArray[np.float64]] = {}  # T_world_tag (4, 4)
        self.tag_size_m = 0.08
        self.robot_points: NDArray[np.float64] | None = None  # (K, 3) joint origins, base to tip
        self.robot_meshes: Any = None  # ik.meshes.RobotMeshes: the links drawn at T_world_geom
        self.T_world_geom: NDArray[np.float64] | None = None  # (G, 4, 4) one per mesh of robot_meshes
        self._mesh_cache: tuple[Any, tuple[NDArray[Any], ...]] | None = None
        self.extent_points: NDArray[np.float64] = np.zeros((0, 3))  # what "reset view" frames besides the rest
        self.message = ""
        self.hint = hint
        self._drag: tuple[QPointF, float, float, NDArray[np.float64], bool] | None = None
        self._user_moved = False
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(False)
        self.setToolTip("Drag: orbit · right-drag: pan · wheel: zoom · double-click: reset view")

    # ----------------------------------------------------------------- content
    def set_trajectory(self, points_world: NDArray[np.float64], states: NDArray[np.uint8] | None = None) -> None:
        self.trajectory = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
        self.states = None if states is None else np.asarray(states, dtype=np.uint8)
        if not self._user_moved:
            self.reset_view(update=False)
        self.update()

    def set_reference(self, points_world: NDArray[np.float64]) -> None:
        self.reference = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
        self.update()

    def set_pose(self, T_world_rig: NDArray[np.float64] | None) -> None:
        self.T_world_rig = None if T_world_rig is None else np.asarray(T_world_rig, dtype=np.float64)
        self.update()

    def set_tags(self, T_world_tag: dict[int, NDArray[np.float64]], tag_size_m: float) -> None:
        self.tags = {int(k): np.asarray(v, dtype=np.float64) for k, v in T_world_tag.items()}
        self.tag_size_m = float(tag_size_m)
        if not self._user_moved:
            self.reset_view(update=False)
        self.update()

    def set_robot(
        self, points_world: NDArray[np.float64] | None, T_world_geom: NDArray[np.float64] | None = None
    ) -> None:
        """The robot now: joint origins (K, 3) and, with meshes set, each mesh's pose T_world_geom (G, 4, 4).

        It moves every frame, so it does not reframe the view. Without meshes (or poses) the robot
        is drawn as a stick figure through the joint origins.
        """
        self.robot_points = None if points_world is None else np.asarray(points_world, dtype=np.float64)
        self.T_world_geom = None if T_world_geom is None else np.asarray(T_world_geom, dtype=np.float64)
        self.update()

    def set_robot_meshes(self, meshes: Any) -> None:
        """The robot's visual meshes (``ik.meshes.RobotMeshes``, or None to draw the stick figure)."""
        self.robot_meshes = meshes
        self.update()

    def set_extent(self, points_world: NDArray[np.float64]) -> None:
        """Points the default view should frame (e.g. the robot over the whole episode)."""
        self.extent_points = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
        if not self._user_moved:
            self.reset_view(update=False)
        self.update()

    def set_message(self, text: str) -> None:
        self.message = text
        self.update()

    def clear(self) -> None:
        self.trajectory = np.zeros((0, 3))
        self.states = None
        self.reference = np.zeros((0, 3))
        self.T_world_rig = None
        self.robot_points = None
        self.robot_meshes = None
        self.T_world_geom = None
        self.extent_points = np.zeros((0, 3))
        self._user_moved = False
        self.update()

    # -------------------------------------------------------------------- view
    def _content(self) -> NDArray[np.float64]:
        parts = [self.trajectory, self.extent_points]
        if self.tags:
            parts.append(np.array([T[:3, 3] for T in self.tags.values()]))
        if self.robot_points is not None:
            parts.append(self.robot_points.reshape(-1, 3))
        if self.T_world_rig is not None:
            parts.append(self.T_world_rig[None, :3, 3])
        pts = np.concatenate([p for p in parts if len(p)]) if any(len(p) for p in parts) else np.zeros((0, 3))
        return pts[np.all(np.isfinite(pts), axis=1)]

    def reset_view(self, update: bool = True) -> None:
        """Frame everything from the default angle, as large as the widget's aspect allows."""
        pts = self._content()
        meshes, T = self.robot_meshes, self.T_world_geom
        if meshes is not None and T is not None and len(T) == len(meshes.links):
            # The meshes reach past the joint origins (a Panda's hand by 10 cm): frame them too.
            V, _F, link_of_v, _lf, _rgb = self._mesh_arrays()
            pts = np.concatenate([pts, np.einsum("nij,nj->ni", T[link_of_v, :3, :3], V) + T[link_of_v, :3, 3]])
        cam = self.camera
        cam.azimuth_deg, cam.elevation_deg = -60.0, 30.0
        if len(pts):
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            cam.target_world = 0.5 * (lo + hi)
            cam.distance_m = 1.5
            self._fit(pts)
        else:
            cam.target_world = np.zeros(3)
            cam.distance_m = 1.5
        if update:
            self._user_moved = False
            self.update()

    def _fit(self, pts_world: NDArray[np.float64], margin: float = 0.9) -> None:
        """Move the target and distance so that every point projects inside ``margin`` of the widget."""
        cam = self.camera
        w, h = (self.width(), self.height()) if self.width() > 50 and self.height() > 50 else (4, 3)
        tan_y = np.tan(np.radians(cam.fov_deg) / 2)
        tan_x = tan_y * w / h
        R = cam.R_cam_world()
        # Centre the content's camera-plane box on the view axis, then back off until the widest point fits:
        # a point at camera-frame (x, y, z) relative to the target fits when |x| <= margin tan_x (d + z).
        p = (pts_world - cam.target_world) @ R.T
        centre = 0.5 * (p[:, :2].min(axis=0) + p[:, :2].max(axis=0))
        cam.target_world = cam.target_world + centre[0] * R[0] + centre[1] * R[1]
        p[:, :2] -= centre
        need = np.maximum(np.abs(p[:, 0]) / (margin * tan_x), np.abs(p[:, 1]) / (margin * tan_y)) - p[:, 2]
        cam.distance_m = float(np.clip(need.max(), 0.3, 100.0))

    def resizeEvent(self, e: QResizeEvent) -> None:  # noqa: N802 - Qt override
        if not self._user_moved:
            self.reset_view(update=False)  # the fit depends on the aspect ratio
        super().resizeEvent(e)

    def orbit(self, d_azimuth_deg: float, d_elevation_deg: float) -> None:
        self.camera.azimuth_deg += d_azimuth_deg
        self.camera.elevation_deg = float(np.clip(self.camera.elevation_deg + d_elevation_deg, -89.0, 89.0))
        self._user_moved = True
        self.update()

    def zoom(self, factor: float) -> None:
        self.camera.distance_m = float(np.clip(self.camera.distance_m * factor, 0.05, 100.0))
        self._user_moved = True
        self.update()

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        pan = e.button() != Qt.MouseButton.LeftButton or bool(e.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        c = self.camera
        self._drag = (e.position(), c.azimuth_deg, c.elevation_deg, c.target_world.copy(), pan)

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._drag is None:
            return
        p0, az0, el0, target0, pan = self._drag
        d = e.position() - p0
        c = self.camera
        if pan:
            R = c.R_cam_world()
            m_per_px = c.distance_m * 2 * np.tan(np.radians(c.fov_deg) / 2) / max(self.height(), 1)
            c.target_world = target0 - R[0] * d.x() * m_per_px + R[1] * d.y() * m_per_px
        else:
            c.azimuth_deg = az0 - 0.4 * d.x()
            c.elevation_deg = float(np.clip(el0 + 0.4 * d.y(), -89.0, 89.0))
        self._user_moved = True
        self.update()

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._drag = None

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.reset_view()

    def wheelEvent(self, e: QWheelEvent) -> None:  # noqa: N802 - Qt override
        steps = e.angleDelta().y() / 120.0
        self.zoom(0.85**steps)

    # ------------------------------------------------------------------- paint
    def paintEvent(self, _e: QPaintEvent) -> None:  # noqa: N802 - Qt override
        w, h = self.width(), self.height()
        qp = QPainter(self)
        qp.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        qp.fillRect(self.rect(), QColor("#0d0f12"))
        self._draw_floor(qp, w, h)
        self._draw_tags(qp, w, h)
        if len(self.reference) > 1:
            pen = QPen(QColor(theme.MUTED), 1.2, Qt.PenStyle.DashLine)
            self._polyline(qp, self.reference, pen, w, h)
        self._draw_trajectory(qp, w, h)
        self._draw_robot(qp, w, h)
        if self.T_world_rig is not None:
            self._draw_triad(qp, self.T_world_rig, 0.06, w, h, width=3.0)
        self._draw_axes_gizmo(qp, w, h)
        qp.setPen(QColor(theme.MUTED))
        if self.message:
            qp.drawText(QRectF(8, 6, w - 16, 40), Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap, self.message)
        if self.hint and w > 260:
            font = qp.font()
            font.setPointSizeF(font.pointSizeF() * 0.85)
            qp.setFont(font)
            fits = [
                t
                for t in ("drag: orbit · wheel: zoom · double-click: reset", "drag: orbit · wheel: zoom")
                if qp.fontMetrics().horizontalAdvance(t) < w - 80  # clear of the axes in the corner
            ]
            if fits:
                # On a translucent plate, so tags or the trajectory drawn beneath never garble it.
                tw = qp.fontMetrics().horizontalAdvance(fits[0])
                plate = QRectF(w - 14 - tw, h - 22, tw + 10, 18)
                qp.fillRect(plate, QColor(13, 15, 18, 200))
                qp.setPen(QColor(theme.MUTED))
                qp.drawText(plate.adjusted(5, 1, -5, -1), Qt.AlignmentFlag.AlignRight, fits[0])
        qp.end()

    def _polyline(self, qp: QPainter, pts_world: NDArray[np.float64], pen: QPen, w: int, h: int) -> None:
        s = self.camera.project(pts_world, w, h)
        front = s[:, 2] > NEAR_M
        qp.setPen(pen)
        # Split at points behind the camera (or non-finite) so no line wraps around the viewer.
        ok = front & np.all(np.isfinite(s), axis=1)
        breaks = np.flatnonzero(~ok)
        start = 0
        for b in [*breaks.tolist(), len(s)]:
            if b - start > 1:
                qp.drawPolyline(QPolygonF([QPointF(x, y) for x, y in s[start:b, :2]]))
            start = b + 1

    def _draw_floor(self, qp: QPainter, w: int, h: int) -> None:
        """A 10 cm grid on the table plane (z = 0) around the content."""
        pts = self._content()
        if len(pts):
            lo = np.floor(pts[:, :2].min(axis=0) * 10 - 2) / 10
            hi = np.ceil(pts[:, :2].max(axis=0) * 10 + 2) / 10
        else:
            lo, hi = np.array([-0.5, -0.5]), np.array([0.5, 0.5])
        lo = np.maximum(lo, hi - 4.0)  # a runaway estimate must not make a 1000-line grid
        corners = np.array([[lo[0], lo[1], 0], [hi[0], lo[1], 0], [hi[0], hi[1], 0], [lo[0], hi[1], 0]])
        s = self.camera.project(corners, w, h)
        if np.all(s[:, 2] > NEAR_M):
            qp.setPen(Qt.PenStyle.NoPen)
            qp.setBrush(QColor(38, 43, 52, 150))
            qp.drawPolygon(QPolygonF([QPointF(x, y) for x, y in s[:, :2]]))
            qp.setBrush(Qt.BrushStyle.NoBrush)
        pen = QPen(QColor(theme.BORDER), 1.0)
        for x in np.arange(lo[0], hi[0] + 1e-6, 0.1):
            self._polyline(qp, np.array([[x, lo[1], 0], [x, hi[1], 0]]), pen, w, h)
        for y in np.arange(lo[1], hi[1] + 1e-6, 0.1):
            self._polyline(qp, np.array([[lo[0], y, 0], [hi[0], y, 0]]), pen, w, h)

    def _draw_tags(self, qp: QPainter, w: int, h: int) -> None:
        half = self.tag_size_m / 2
        square_tag = np.array([[-half, -half, 0, 1], [half, -half, 0, 1], [half, half, 0, 1], [-half, half, 0, 1]])
        for tag_id, T in sorted(self.tags.items()):
            c_world = (square_tag @ T.T)[:, :3]
            s = self.camera.project(c_world, w, h)
            if not np.all(s[:, 2] > NEAR_M):
                continue
            qp.setPen(QPen(QColor(theme.TEXT), 1.0))
            qp.setBrush(QColor(227, 231, 238, 60))
            qp.drawPolygon(QPolygonF([QPointF(x, y) for x, y in s[:, :2]]))
            qp.setBrush(Qt.BrushStyle.NoBrush)
            qp.setPen(QColor(theme.MUTED))
            cx, cy = s[:, 0].mean(), s[:, 1].mean()
            qp.drawText(QPointF(cx - 6, cy + 4), str(tag_id))

    def _draw_trajectory(self, qp: QPainter, w: int, h: int) -> None:
        p = self.trajectory
        if len(p) < 2:
            return
        st = self.states if self.states is not None and len(self.states) == len(p) else np.zeros(len(p), np.uint8)
        # One polyline per run of equal state (a run shares its last point with the next).
        change = np.flatnonzero(np.diff(st.astype(np.int16)) != 0) + 1
        starts = [0, *change.tolist()]
        ends = [*change.tolist(), len(p)]
        for a, b in zip(starts, ends, strict=True):
            colour = STATE_COLOURS.get(int(st[a]), theme.ACCENT)
            self._polyline(qp, p[max(a - 1, 0) : b], QPen(QColor(colour), 2.0), w, h)

    def _draw_triad(self, qp: QPainter, T: NDArray[np.float64], length_m: float, w: int, h: int, width: float) -> None:
        origin = T[:3, 3]
        for axis, colour in enumerate(("#ff6b6b", "#3ecf8e", "#4c9aff")):
            tip = origin + length_m * T[:3, axis]
            self._polyline(qp, np.stack([origin, tip]), QPen(QColor(colour), width), w, h)

    def _draw_robot(self, qp: QPainter, w: int, h: int) -> None:
        meshes, T = self.robot_meshes, self.T_world_geom
        if meshes is not None and T is not None and len(T) == len(meshes.links):
            self._draw_robot_meshes(qp, w, h)
            return
        self._draw_robot_sticks(qp, w, h)

    def _draw_robot_meshes(self, qp: QPainter, w: int, h: int) -> None:
        """Flat-shaded meshes: links far to near, back faces culled, faces of one shade level filled as one path.

        Within a link, front faces are not depth-sorted (they are batched by shade): exact for
        convex parts, which robot links nearly are; across links the painter's order holds.
        """
        assert self.robot_meshes is not None and self.T_world_geom is not None
        V, F, link_of_v, link_of_f, rgb = self._mesh_arrays()
        T = self.T_world_geom
        V_world = np.einsum("nij,nj->ni", T[link_of_v, :3, :3], V) + T[link_of_v, :3, 3]
        s = self.camera.project(V_world, w, h)
        a, b, c = s[F[:, 0]], s[F[:, 1]], s[F[:, 2]]
        # Screen y points down: a face wound counter-clockwise towards the viewer has negative area.
        area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
        front = np.flatnonzero((area < 0) & (a[:, 2] > NEAR_M) & (b[:, 2] > NEAR_M) & (c[:, 2] > NEAR_M))
        if not len(front):
            return
        Fv, link = F[front], link_of_f[front]
        n_world = np.cross(V_world[Fv[:, 1]] - V_world[Fv[:, 0]], V_world[Fv[:, 2]] - V_world[Fv[:, 0]])
        n_world /= np.maximum(np.linalg.norm(n_world, axis=1, keepdims=True), 1e-12)
        light_world = LIGHT_CAM @ self.camera.R_cam_world()  # the camera-frame light direction in the world
        lit = 0.3 + 0.7 * np.clip(n_world @ light_world, 0.0, 1.0)
        # Depth cue: far faces up to a quarter darker, so overlapping links of one colour stay apart.
        z = s[Fv, 2].mean(axis=1)
        lit *= 1.0 - DEPTH_CUE * (z - z.min()) / max(float(np.ptp(z)), 1e-9)
        level = np.minimum((lit * SHADE_LEVELS).astype(np.int64), SHADE_LEVELS - 1)
        # Links far to near (by their vertices' mean depth), then by shade level: each run is one path.
        n_links = len(self.robot_meshes.links)
        link_depth = np.bincount(link_of_v, weights=s[:, 2], minlength=n_links) / np.maximum(
            np.bincount(link_of_v, minlength=n_links), 1
        )
        rank = np.empty(n_links, np.int64)
        rank[np.argsort(-link_depth)] = np.arange(n_links)
        key = rank[link] * SHADE_LEVELS + level
        order = np.argsort(key, kind="stable")
        key, tris = key[order], s[Fv[order]][:, :, :2]  # (n, 3, 2) screen corners
        cuts = [0, *(np.flatnonzero(np.diff(key)) + 1).tolist(), len(key)]
        qp.save()
        for i0, i1 in zip(cuts[:-1], cuts[1:], strict=True):
            shade = (key[i0] % SHADE_LEVELS + 0.5) / SHADE_LEVELS
            r, g, b_ = np.minimum(rgb[link[order[i0]]] * shade, 1.0)
            colour = QColor.fromRgbF(float(r), float(g), float(b_))
            # A hairline in the fill colour hides the antialiasing seams between neighbouring batches.
            qp.setPen(QPen(colour, 0.8))
            qp.setBrush(colour)
            qp.drawPath(_triangles_path(tris[i0:i1]))
        qp.restore()

    def _mesh_arrays(self) -> tuple[NDArray[Any], ...]:
        """The meshes stacked once per mesh set: V (N, 3), F (M, 3) into V, link per vertex and face, rgb per link."""
        meshes = self.robot_meshes
        if self._mesh_cache is None or self._mesh_cache[0] is not meshes:
            links = meshes.links
            offsets = np.cumsum([0] + [len(m.vertices_geom) for m in links])
            V = np.concatenate([m.vertices_geom for m in links]).astype(np.float64)
            F = np.concatenate([m.faces.astype(np.int64) + o for m, o in zip(links, offsets, strict=False)])
            link_of_v = np.repeat(np.arange(len(links)), [len(m.vertices_geom) for m in links])
            link_of_f = np.repeat(np.arange(len(links)), [len(m.faces) for m in links])
            rgb = np.array([m.rgba[:3] for m in links], np.float64).reshape(-1, 3)
            self._mesh_cache = (meshes, (V, F, link_of_v, link_of_f, rgb))
        return self._mesh_cache[1]

    def _draw_robot_sticks(self, qp: QPainter, w: int, h: int) -> None:
        """Links as capsules of ``LINK_RADIUS_M`` in perspective (far ones first), joints as dots."""
        P = self.robot_points
        if P is None or len(P) < 2:
            return
        s = self.camera.project(P, w, h)
        if not np.all(s[:, 2] > NEAR_M):
            return
        f_px = 0.5 * h / np.tan(np.radians(self.camera.fov_deg) / 2)
        radius_px = np.clip(LINK_RADIUS_M * f_px / s[:, 2], 1.5, 30.0)
        depth = 0.5 * (s[:-1, 2] + s[1:, 2])
        body, edge = QColor(theme.WARN), QColor("#7a5a1c")
        for k in np.argsort(-depth):
            a, b = QPointF(*s[k, :2]), QPointF(*s[k + 1, :2])
            width = float(radius_px[k] + radius_px[k + 1])
            cap = Qt.PenCapStyle.RoundCap
            qp.setPen(QPen(edge, width + 2.0, Qt.PenStyle.SolidLine, cap))
            qp.drawLine(a, b)
            qp.setPen(QPen(body, width, Qt.PenStyle.SolidLine, cap))
            qp.drawLine(a, b)
        qp.setPen(QPen(QColor("#0d0f12"), 1.2))
        qp.setBrush(QColor(theme.TEXT))
        for (x, y), r in zip(s[:, :2], radius_px, strict=True):
            qp.drawEllipse(QPointF(x, y), 0.45 * r, 0.45 * r)
        qp.setBrush(Qt.BrushStyle.NoBrush)

    def _draw_axes_gizmo(self, qp: QPainter, w: int, h: int) -> None:
        """World axes in the lower-left corner, rotating with the view."""
        R = self.camera.R_cam_world()
        o = QPointF(30, h - 30)
        for axis, (colour, name) in enumerate((("#ff6b6b", "x"), ("#3ecf8e", "y"), ("#4c9aff", "z"))):
            d = R[:2, axis] * 18
            tip = QPointF(o.x() + d[0], o.y() - d[1])
            qp.setPen(QPen(QColor(colour), 2.0))
            qp.drawLine(o, tip)
            qp.drawText(QPointF(tip.x() + 2, tip.y() + 4), name)


_WINDING = Qt.FillRule.WindingFill  # looked up once: PySide enum attribute access is slow per call


def _triangles_path(tris_px: NDArray[np.float64]) -> QPainterPath:
    """One path of closed triangles (n, 3, 2) in screen pixels; winding fill: no holes where they overlap."""
    n = len(tris_px)
    xy = np.concatenate([tris_px, tris_px[:, :1]], axis=1).reshape(-1, 2)  # a, b, c, a per triangle
    connect = np.tile(np.array([1, 1, 1, 0], np.int32), n)
    path = pgf.arrayToQPath(xy[:, 0], xy[:, 1], connect=connect, finiteCheck=False)
    path.setFillRule(_WINDING)
    return path
