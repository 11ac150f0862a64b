"""Robot profiles: built-ins load, user profiles override them, errors name the file."""

from __future__ import annotations

import numpy as np
import pytest

from democap.errors import RobotError
from ik.profile import find_profile, list_profiles, load_profile
from ik.robot import load_robot


@pytest.mark.parametrize("name, joints", [("panda", 7), ("ur5", 6), ("xarm7", 7)])
def test_builtin_profiles_load_with_limits_and_collision_pairs(name, joints):
    robot = load_robot(find_profile(name))
    assert robot.nq == joints
    assert np.all(robot.upper > robot.lower) and np.all(robot.velocity > 0) and np.all(robot.acceleration > 0)
    assert len(robot.collision.collisionPairs) > 0
    assert np.all((robot.q_rest >= robot.lower) & (robot.q_rest <= robot.upper))


def test_panda_tcp_matches_the_urdf_hand_tcp(panda):
    import pinocchio as pin

    data = panda.model.createData()
    pin.framesForwardKinematics(panda.model, data, panda.q_rest)
    T_hand_tcp = data.oMf[panda.model.getFrameId("panda_hand_tcp")].homogeneous
    assert np.allclose(panda.fk(panda.q_rest), T_hand_tcp, atol=1e-9)


def _write(path, text):
    path.write_text(text)
    return path


def test_user_profile_overrides_builtin_and_lists(home):
    src = find_profile("panda").source.read_text().replace("max_width_m: 0.08", "max_width_m: 0.1")
    _write(home.robots / "panda.yaml", src)
    assert find_profile("panda", home).gripper_max_m == pytest.approx(0.1)
    listed = {n: b for n, _, b in list_profiles(home)}
    assert listed["panda"] is False and listed["ur5"] is True


@pytest.mark.parametrize(
    "text, needle",
    [
        ("name: x\nurdf: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        ("name: x\nflange_frame: f\n", "missing required key 'urdf'"),
        ("name: x\nurdf: nothere.urdf\nflange_frame: f\n", "file not found"),
        ("name: x\nurdf: erd:panda_description/urdf/panda.urdf\nflange_frame: f\nspeed: 3\n", "unknown keys"),
        (
            "name: x\nurdf: erd:panda_description/urdf/panda.urdf\nflange_frame: f\ngripper: {min_width_m: 0.1, "
            "max_width_m: 0.05}\n",
            "must exceed",
        ),
        (
            "name: x\nurdf: erd:panda_description/urdf/panda.urdf\nflange_frame: f\ntcp: {xyz: [0, 0]}\n",
            "three numbers",
        ),
    ],
)
def test_profile_errors_name_the_file(tmp_path, text, needle):
    p = _write(tmp_path / "broken.yaml", text)
    with pytest.raises(RobotError) as e:
        load_profile(p)
    assert str(p) in str(e.value) and needle in str(e.value)


def test_model_errors_name_the_profile(tmp_path):
    text = find_profile("panda").source.read_text()
    p = _write(tmp_path / "badframe.yaml", text.replace("flange_frame: panda_link8", "flange_frame: nope"))
    with pytest.raises(RobotError, match="flange_frame 'nope'") as e:
        load_robot(load_profile(p))
    assert str(p) in str(e.value)
    p = _write(tmp_path / "badlimits.yaml", text.replace("velocity: [2.175, 2.175,", "velocity: ["))
    with pytest.raises(RobotError, match="has 5 values but the arm has 7 joints"):
        load_robot(load_profile(p))


def test_unknown_robot_lists_the_available_ones(home):
    with pytest.raises(RobotError, match="available: .*panda"):
        find_profile("nope", home)


def test_gripper_box_joins_collision_checks_and_rig_bases_override(tmp_path):
    from ik.checks import CollisionChecker

    ur5 = load_robot(find_profile("ur5"))
    names = [g.name for g in ur5.collision.geometryObjects]
    assert "democap_gripper_box" in names
    # The box reaches the fingertips: TCP 2 cm below the table means the box is in the table.
    cc = CollisionChecker(ur5, ur5.profile.T_world_base)
    from ik.solver import IkSolver

    T = ur5.fk(ur5.q_rest)
    T[:3, 3] = [0.45, 0.1, -0.02]  # in the base frame; the base stands on the table plane: 2 cm below its top
    r = IkSolver(ur5).solve(T, ur5.q_rest, timeout_s=0.05)
    assert r.success
    _, table_hit = cc.check(r.q)
    assert table_hit >= 0 and cc.pair_links(table_hit)[0] == "tool0"

    text = find_profile("panda").source.read_text() + ("bases: {rig1: {xyz: [-0.45, -0.5, 0.0], rpy: [0, 0, 0.3]}}\n")
    p = tmp_path / "bimanual.yaml"
    p.write_text(text)
    prof = load_profile(p)
    assert np.allclose(prof.T_world_base_for("rig0"), prof.T_world_base)
    assert np.allclose(prof.T_world_base_for("rig1")[:3, 3], [-0.45, -0.5, 0.0])


def _six_axis_urdf() -> str:
    """A small 6R arm (UR-like axes) with primitive collision shapes and no SRDF."""
    links, joints = [], []
    spec = [  # (joint axis, joint origin xyz in the parent link)
        ("0 0 1", "0 0 0.1"),
        ("0 1 0", "0 0 0.1"),
        ("0 1 0", "0 0 0.4"),
        ("0 1 0", "0 0 0.35"),
        ("0 0 1", "0 0 0.1"),
        ("0 1 0", "0 0 0.1"),
    ]
    links.append(
        '<link name="base"><collision><geometry><cylinder radius="0.06" length="0.1"/></geometry>'
        '<origin xyz="0 0 0.05"/></collision></link>'
    )
    parent = "base"
    for i, (axis, xyz) in enumerate(spec, 1):
        length = float(spec[i][1].split()[2]) if i < len(spec) else 0.08
        links.append(
            f'<link name="l{i}"><collision><origin xyz="0 0 {length / 2}"/><geometry>'
            f'<cylinder radius="0.04" length="{length * 0.8}"/></geometry></collision></link>'
        )
        joints.append(
            f'<joint name="j{i}" type="revolute"><parent link="{parent}"/><child link="l{i}"/>'
            f'<origin xyz="{xyz}"/><axis xyz="{axis}"/>'
            f'<limit lower="-3.1" upper="3.1" velocity="2.0" effort="10"/></joint>'
        )
        parent = f"l{i}"
    links.append('<link name="flange"/>')
    joints.append(
        '<joint name="jf" type="fixed"><parent link="l6"/><child link="flange"/><origin xyz="0 0 0.08"/></joint>'
    )
    return '<?xml version="1.0"?><robot name="six">' + "".join(links + joints) + "</robot>"


def test_any_user_urdf_without_srdf_loads_and_solves(tmp_path, home):
    (home.robots / "six.urdf").write_text(_six_axis_urdf())
    (home.robots / "six.yaml").write_text(
        "name: six\nurdf: six.urdf\nflange_frame: flange\ntcp: {xyz: [0, 0, 0.1]}\n"
        "rest_posture: [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]\n"
    )
    robot = load_robot(find_profile("six", home))
    assert robot.joint_names == ("j1", "j2", "j3", "j4", "j5", "j6")
    assert np.allclose(robot.acceleration, 10.0)  # default when the profile gives none
    # Without an SRDF, pairs of links on adjacent joints are dropped; far-apart ones are kept.
    pairs = {
        (robot.collision.geometryObjects[cp.first].parentJoint, robot.collision.geometryObjects[cp.second].parentJoint)
        for cp in robot.collision.collisionPairs
    }
    assert all(abs(a - b) > 1 for a, b in pairs) and (0, 4) in pairs
    from ik.solver import IkSolver

    rng = np.random.default_rng(0)
    q = rng.uniform(-1, 1, 6)
    r = IkSolver(robot).solve(robot.fk(q), robot.q_rest, timeout_s=0.05)
    assert r.success and np.allclose(robot.fk(r.q), robot.fk(q), atol=1e-4)
