"""The authored Unitree H1-2 model (assets/models/h1_2.xml) against the published facts.

The facts file lives outside the repository (../shared/robots); the module is skipped without it.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import mujoco
import numpy as np
import pytest

FACTS_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "robots" / "h1_2_facts.json"
MODEL_PATH = Path(__file__).resolve().parents[1] / "assets" / "models" / "h1_2.xml"

if not FACTS_PATH.is_file():
    pytest.skip(f"H1-2 facts not available: {FACTS_PATH} is absent", allow_module_level=True)

FACTS = json.loads(FACTS_PATH.read_text())
HINGES = [j for b in FACTS["bodies"] for j in b["joints"] if j["type"] == "hinge"]

BENT_KNEES = {"hip_pitch_joint": -0.16, "knee_joint": 0.36, "ankle_pitch_joint": -0.2}


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(MODEL_PATH))


def _robot_contacts(m: mujoco.MjModel, d: mujoco.MjData) -> list[tuple[str, str, float]]:
    """Contacts whose two geoms both belong to robot bodies (not the world body)."""
    out = []
    for c in d.contact[: d.ncon]:
        b1, b2 = m.geom_bodyid[c.geom1], m.geom_bodyid[c.geom2]
        if b1 != 0 and b2 != 0:
            out.append((m.body(b1).name, m.body(b2).name, float(c.dist)))
    return out


def test_sizes(model):
    m = model
    assert (m.nq, m.nv) == (FACTS["nq"], FACTS["nv"]) == (34, 33)
    assert m.nbody == len(FACTS["bodies"]) + 1  # + world
    assert int(np.sum(m.jnt_type == mujoco.mjtJoint.mjJNT_HINGE)) == 27
    assert int(np.sum(m.jnt_type == mujoco.mjtJoint.mjJNT_FREE)) == 1
    assert m.joint("floating_base_joint").type == mujoco.mjtJoint.mjJNT_FREE
    assert m.nu == 0  # actuators are added by mimicsim.assets
    assert m.opt.timestep == pytest.approx(FACTS["timestep"])


@pytest.mark.parametrize("jf", HINGES, ids=[j["name"] for j in HINGES])
def test_joint(model, jf):
    j = model.joint(jf["name"])
    assert j.type == mujoco.mjtJoint.mjJNT_HINGE
    np.testing.assert_allclose(model.jnt_axis[j.id], jf["axis"], atol=1e-9)
    assert model.jnt_limited[j.id]
    np.testing.assert_allclose(model.jnt_range[j.id], jf["range"], atol=1e-9)
    assert model.jnt_actfrclimited[j.id]
    np.testing.assert_allclose(model.jnt_actfrcrange[j.id], jf["actuator_force_range"], atol=1e-9)
    dof = model.jnt_dofadr[j.id]
    assert model.dof_armature[dof] == pytest.approx(jf["armature"], abs=1e-12)
    assert model.dof_damping[dof] == pytest.approx(jf["damping"], abs=1e-12)
    assert model.dof_frictionloss[dof] == pytest.approx(jf["frictionloss"], abs=1e-12)


@pytest.mark.parametrize("bf", FACTS["bodies"], ids=[b["name"] for b in FACTS["bodies"]])
def test_body(model, bf):
    b = model.body(bf["name"])
    parent = model.body(int(model.body_parentid[b.id])).name
    assert parent == bf["parent"]
    np.testing.assert_allclose(model.body_pos[b.id], bf["pos"], atol=1e-9)
    quat = np.asarray(bf["quat_wxyz"], dtype=float)
    np.testing.assert_allclose(model.body_quat[b.id], quat / np.linalg.norm(quat), atol=1e-9)
    assert model.body_mass[b.id] == pytest.approx(bf["mass"], abs=1e-6)
    np.testing.assert_allclose(model.body_ipos[b.id], bf["com_pos"], atol=1e-9)
    for s in bf["sites"]:
        site = model.site(s["name"])
        assert model.site_bodyid[site.id] == b.id
        np.testing.assert_allclose(model.site_pos[site.id], s["pos"], atol=1e-9)


def test_total_mass(model):
    assert float(model.body_subtreemass[0]) == pytest.approx(66.984, abs=1e-3)
    assert float(model.body_subtreemass[0]) == pytest.approx(FACTS["total_mass"], abs=1e-3)


def test_pelvis_start_height(model):
    np.testing.assert_allclose(model.qpos0[:3], [0.0, 0.0, 1.03], atol=1e-12)


def test_no_self_contacts_at_zero_pose(model):
    d = mujoco.MjData(model)
    mujoco.mj_forward(model, d)
    assert _robot_contacts(model, d) == []
    assert d.ncon == 0  # nothing else in the model either


def test_no_self_contacts_with_bent_knees(model):
    d = mujoco.MjData(model)
    for side, (suffix, q) in itertools.product(("left", "right"), BENT_KNEES.items()):
        d.qpos[model.jnt_qposadr[model.joint(f"{side}_{suffix}").id]] = q
    mujoco.mj_forward(model, d)
    assert _robot_contacts(model, d) == []


def test_feet_reach_the_floor_at_the_zero_pose(model):
    """The soles are flat and their lowest point sits within 1 cm of z = 0 (pelvis at 1.03)."""
    d = mujoco.MjData(model)
    mujoco.mj_forward(model, d)
    for side in ("left", "right"):
        g = model.geom(f"{side}_foot_collision").id
        assert model.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX
        rot = d.geom_xmat[g].reshape(3, 3)
        corners = [
            d.geom_xpos[g] + rot @ (np.array(s) * model.geom_size[g]) for s in itertools.product((-1.0, 1.0), repeat=3)
        ]
        zs = sorted(c[2] for c in corners)
        assert -0.005 < zs[0] < 0.01
        assert zs[3] - zs[0] < 1e-9  # four bottom corners level: flat sole
