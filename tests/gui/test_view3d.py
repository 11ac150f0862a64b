"""The QPainter 3-D view: it draws the trajectory by state, orbits with the mouse, zooms, resets."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage

from gui import theme
from gui.view3d import SceneView3D


def _pixels(view: SceneView3D) -> np.ndarray:
    img = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h = img.width(), img.height()
    return np.frombuffer(img.constBits(), np.uint8).reshape(h, img.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


def _count_colour(px: np.ndarray, colour: str, tol: int = 40) -> int:
    c = QColor(colour)
    ref = np.array([c.red(), c.green(), c.blue()])
    return int(np.sum(np.all(np.abs(px.astype(int) - ref) < tol, axis=2)))


def test_view_draws_trajectory_orbits_zooms_and_resets(qtbot) -> None:
    view = SceneView3D()
    qtbot.addWidget(view)
    view.resize(480, 360)
    view.show()
    s = np.linspace(0, 2 * np.pi, 300)
    path = np.stack([0.2 * np.cos(s), 0.2 * np.sin(s), 0.15 + 0.05 * np.sin(3 * s)], 1)
    states = np.zeros(300, np.uint8)
    states[200:] = 1  # lost: drawn red
    empty = _pixels(view)
    view.set_trajectory(path, states)
    view.set_pose(np.eye(4))
    view.set_tags({0: np.eye(4)}, 0.08)
    view.set_robot(np.array([[0.5, 0.0, 0.0], [0.5, 0.0, 0.3], [0.3, 0.0, 0.4]]))
    view.reset_view()  # frames everything, the robot included
    drawn = _pixels(view)
    # (the axes gizmo in the corner uses the same green and red: count what the content added)
    assert _count_colour(drawn, theme.OK) - _count_colour(empty, theme.OK) > 100  # tracked part, green
    assert _count_colour(drawn, theme.ERROR) - _count_colour(empty, theme.ERROR) > 50  # the lost part, red
    assert _count_colour(drawn, theme.WARN) - _count_colour(empty, theme.WARN) > 50  # the robot's links
    az0 = view.camera.azimuth_deg
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(240, 180))
    qtbot.mouseMove(view, QPoint(320, 150))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(320, 150))
    assert view.camera.azimuth_deg != az0
    orbited = _pixels(view)
    assert np.mean(np.any(orbited != drawn, axis=2)) > 0.01  # pixels changed with the orbit
    d0 = view.camera.distance_m
    view.zoom(0.5)
    assert view.camera.distance_m < d0
    view.set_trajectory(path, states)  # after the user moved the camera, new data must not reset it
    assert view.camera.distance_m < d0
    view.reset_view()
    assert view.camera.azimuth_deg == az0 and np.isclose(view.camera.distance_m, d0)
    assert np.array_equal(_pixels(view), drawn)


def test_projection_puts_the_target_in_the_centre_and_depth_in_front() -> None:
    from gui.view3d import OrbitCamera

    cam = OrbitCamera(azimuth_deg=30, elevation_deg=40, distance_m=2.0, target_world=np.array([0.1, 0.2, 0.3]))
    s = cam.project(np.array([[0.1, 0.2, 0.3], [0.1, 0.2, 1.3]]), 400, 300)
    assert np.allclose(s[0], [200, 150, 2.0])
    assert s[1, 1] < 150  # up in the world is up on the screen


def test_robot_meshes_replace_the_stick_figure_and_follow_the_joints(qtbot) -> None:
    from ik.meshes import build_meshes, visual_model, visual_placements
    from ik.profile import find_profile
    from ik.robot import load_robot

    rob = load_robot(find_profile("panda"))
    meshes = build_meshes(rob, budget=1500)
    visual = visual_model(rob)
    q0 = rob.q_rest.copy()
    q1 = q0 + np.array([0.8, -0.4, 0.0, 0.5, 0.0, 0.3, 0.0])[: rob.nq]
    T_world_geom = visual_placements(rob, visual, np.stack([q0, q1]), np.eye(4))
    joints = T_world_geom[0, :8, :3, 3]  # link origins: enough for a stick figure through the arm

    view = SceneView3D()
    qtbot.addWidget(view)
    view.resize(480, 360)
    view.show()
    view.set_extent(np.concatenate([T_world_geom[:, :, :3, 3].reshape(-1, 3), [[0.0, 0.0, 0.0]]]))
    view.set_robot(joints)
    sticks = _pixels(view)
    view.set_robot_meshes(meshes)
    view.set_robot(joints)  # meshes but no poses yet: still the stick figure
    assert np.array_equal(_pixels(view), sticks)
    view.set_robot(joints, T_world_geom[0])
    drawn0 = _pixels(view)
    assert np.mean(np.any(drawn0 != sticks, axis=2)) > 0.02
    assert _count_colour(drawn0, theme.WARN) < _count_colour(sticks, theme.WARN) // 10  # no orange capsules
    # shaded grey faces: many distinct grey levels where the robot is
    grey = (np.abs(drawn0.astype(int) - drawn0[:, :, :1].astype(int)).max(axis=2) < 6) & (drawn0[:, :, 0] > 60)
    assert grey.sum() > 2000 and len(np.unique(drawn0[grey][:, 0])) > 5
    view.set_robot(joints, T_world_geom[1])
    drawn1 = _pixels(view)
    assert np.mean(np.any(drawn1 != drawn0, axis=2)) > 0.01  # another configuration, another picture
    view.set_robot_meshes(None)
    assert np.array_equal(_pixels(view), sticks)  # without meshes: the stick figure again
