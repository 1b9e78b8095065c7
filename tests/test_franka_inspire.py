"""The Franka + Inspire model and the one mapping layer between its conventions."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from mimicsim.assets.franka_inspire import (
    ARM_ACTUATORS,
    GRASP_SITE,
    HAND_ACTUATORS,
    HOME_ARM_QPOS,
    franka_inspire_spec,
    inspire_hand_spec,
)
from mimicsim.assets.hand_mapping import (
    BEING_H0_HAND_ORDER,
    HAND_LOWER,
    HAND_UPPER,
    MUJOCO_HAND_ORDER,
    HardwareConvention,
    being_h0_hand_to_hardware,
    being_h0_to_mujoco,
    hardware_to_being_h0_hand,
    mujoco_to_being_h0,
)
from mimicsim.errors import ConfigError

# follower, driver, slope, offset: dex-urdf's coupling, as written in the model
COUPLINGS = [
    ("R_thumb_intermediate_joint", "R_thumb_proximal_pitch_joint", 1.334, 0.0),
    ("R_thumb_distal_joint", "R_thumb_proximal_pitch_joint", 0.667, 0.0),
    *[
        (f"R_{f}_intermediate_joint", f"R_{f}_proximal_joint", 1.06399, -0.04545)
        for f in ("index", "middle", "ring", "pinky")
    ],
]


def test_robot_compiles_with_arm_then_hand_actuators():
    model = franka_inspire_spec().compile()
    names = [model.actuator(i).name for i in range(model.nu)]
    assert names == [*ARM_ACTUATORS, *HAND_ACTUATORS]
    assert model.nq == 7 + 12 and model.neq == 6
    # The hand's actuator ranges are the mapping layer's radians range.
    ranges = np.array([model.actuator(a).ctrlrange for a in HAND_ACTUATORS])
    np.testing.assert_allclose(ranges[:, 0], HAND_LOWER)
    np.testing.assert_allclose(ranges[:, 1], HAND_UPPER)


def test_hand_sits_on_the_flange_without_self_contact():
    model = franka_inspire_spec().compile()
    data = mujoco.MjData(model)
    data.qpos[:7] = HOME_ARM_QPOS
    mujoco.mj_forward(model, data)
    np.testing.assert_allclose(data.site("hand/mount").xpos, data.site("attachment_site").xpos, atol=1e-9)
    np.testing.assert_allclose(data.site("hand/mount").xmat, data.site("attachment_site").xmat, atol=1e-9)
    assert data.ncon == 0
    assert np.linalg.norm(data.site(GRASP_SITE).xpos - data.site("attachment_site").xpos) > 0.1


def test_coupling_holds_while_the_fingers_close_on_an_object():
    spec = inspire_hand_spec()
    # A fixed cylinder in front of the palm (palm normal is +y, fingers along +x).
    spec.worldbody.add_geom(
        name="object", type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[0.025, 0.06, 0], pos=[0.175, 0.06, 0.0]
    )
    model = spec.compile()
    data = mujoco.MjData(model)
    data.ctrl[:] = HAND_UPPER
    for _ in range(1500):
        mujoco.mj_step(model, data)
    object_geom = model.geom("object").id
    touching = {
        model.body(model.geom_bodyid[g]).name
        for c in data.contact[: data.ncon]
        for g in (c.geom1, c.geom2)
        if object_geom in (c.geom1, c.geom2) and g != object_geom
    }
    assert len(touching) >= 3, f"the hand should close on the object, touching: {touching}"
    for follower, driver, slope, offset in COUPLINGS:
        q_f = data.joint(follower).qpos[0]
        q_d = data.joint(driver).qpos[0]
        assert abs(q_f - (slope * q_d + offset)) < 0.02, follower
    # The object stopped at least one finger short of its closed target.
    assert np.any(
        np.abs(
            data.qpos[[model.joint(a).qposadr[0] for a in ("R_index_proximal_joint", "R_middle_proximal_joint")]]
            - HAND_UPPER[2]
        )
        > 0.1
    )


def test_being_h0_round_trip_and_order():
    rng = np.random.default_rng(0)
    arm = rng.uniform(-1, 1, (5, 7))
    hand = rng.uniform(HAND_LOWER, HAND_UPPER, (5, 6))
    mj = np.concatenate([arm, hand], axis=-1)
    h0 = mujoco_to_being_h0(mj)
    np.testing.assert_allclose(being_h0_to_mujoco(h0), mj, atol=1e-12)
    np.testing.assert_allclose(h0[:, :7], arm)
    # Closing only the pinky in Being-H0's vector moves only the pinky actuator, to its upper limit.
    vec = np.zeros(13)
    vec[7 + BEING_H0_HAND_ORDER.index("pinky")] = 1.0
    ctrl = being_h0_to_mujoco(vec)[7:]
    expected = np.zeros(6)
    expected[MUJOCO_HAND_ORDER.index("pinky")] = HAND_UPPER[MUJOCO_HAND_ORDER.index("pinky")]
    np.testing.assert_allclose(ctrl, expected)


@pytest.mark.parametrize("open_value", [0, 1000])
def test_hardware_round_trip_and_direction(open_value):
    convention = HardwareConvention(open_value=open_value)
    counts = np.array([0, 250, 500, 750, 1000, 333])
    np.testing.assert_array_equal(
        being_h0_hand_to_hardware(hardware_to_being_h0_hand(counts, convention), convention), counts
    )
    open_hand = being_h0_hand_to_hardware(np.zeros(6), convention)
    assert np.all(open_hand == open_value)


def test_mapping_rejects_wrong_sizes():
    with pytest.raises(ConfigError):
        being_h0_to_mujoco(np.zeros(12))
    with pytest.raises(ConfigError):
        hardware_to_being_h0_hand(np.array([0, 0, 0, 0, 0, 1001]))
    with pytest.raises(ConfigError):
        HardwareConvention(open_value=500)
