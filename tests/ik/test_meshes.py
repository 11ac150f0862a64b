"""Decimated visual meshes of the Panda: budget, plausible size, outward winding, disk cache, placements."""

from __future__ import annotations

import numpy as np
import pytest

from ik import meshes as ikm

BUDGET = 2500


@pytest.fixture(scope="module")
def panda_meshes(panda, tmp_path_factory):
    from democap.home import Home

    home = Home.resolve(tmp_path_factory.mktemp("mesh-home"))
    return home, ikm.load_meshes(panda, home, BUDGET)


def test_panda_meshes_decimate_to_the_budget_with_plausible_size(panda, panda_meshes) -> None:
    _home, m = panda_meshes
    names = [link.name for link in m.links]
    assert len(m.links) == 11 and names[0] == "panda_link0_0" and "panda_hand_0" in names
    # the shares are rounded down, and each link keeps at least MIN_LINK_TRIANGLES
    assert 0.7 * BUDGET <= m.n_faces <= BUDGET + ikm.MIN_LINK_TRIANGLES * len(m.links)
    for link in m.links:
        assert len(link.faces) >= 20 and link.faces.max() < len(link.vertices_geom)
    base = m.links[0].vertices_geom
    size = base.max(axis=0) - base.min(axis=0)
    assert np.all((size > 0.1) & (size < 0.3))  # the Panda's base is about 20 cm across and 14 cm high
    # Faces wind counter-clockwise seen from outside (the 3-D view culls by it): positive enclosed volume.
    for link in m.links:
        V, F = link.vertices_geom.astype(np.float64), link.faces
        volume = np.einsum("ij,ij->i", V[F[:, 0]], np.cross(V[F[:, 1]], V[F[:, 2]])).sum() / 6
        assert volume > 0, link.name


def test_meshes_come_from_the_cache_the_second_time(panda, panda_meshes, monkeypatch) -> None:
    home, m = panda_meshes
    assert ikm.cache_path(home, panda, BUDGET).exists()

    def no_build(*_a, **_k):
        raise AssertionError("decimated again although cached")

    monkeypatch.setattr(ikm, "build_meshes", no_build)
    again = ikm.load_meshes(panda, home, BUDGET)
    assert [x.name for x in again.links] == [x.name for x in m.links]
    for a, b in zip(again.links, m.links, strict=True):
        assert np.array_equal(a.faces, b.faces) and np.allclose(a.vertices_geom, b.vertices_geom)
    assert ikm.cache_path(home, panda, BUDGET + 1) != ikm.cache_path(home, panda, BUDGET)  # budget is in the key


def test_visual_placements_follow_the_joints(panda) -> None:
    visual = ikm.visual_model(panda)
    T_world_base = np.eye(4)
    T_world_base[:3, 3] = [-0.2, 0.0, 0.0]
    q0 = panda.q_rest.copy()
    q1 = q0.copy()
    q1[0] += 0.5
    T = ikm.visual_placements(panda, visual, np.stack([q0, q1]), T_world_base)
    assert T.shape == (2, 11, 4, 4)
    assert np.allclose(T[0, 0], T_world_base)  # link0 is the base: it does not move
    assert np.allclose(T[0, 0], T[1, 0]) and not np.allclose(T[0, -1], T[1, -1])
    # the hand hangs at the flange: it is within a few cm of the TCP (10 cm ahead of the flange)
    T_world_tcp = T_world_base @ panda.fk(q0)
    hand = next(i for i, g in enumerate(visual.geometryObjects) if g.name == "panda_hand_0")
    assert np.linalg.norm(T[0, hand, :3, 3] - T_world_tcp[:3, 3]) < 0.15
