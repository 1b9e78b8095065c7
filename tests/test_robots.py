import mujoco
import numpy as np
import pytest

from mimicsim.assets import load_robot, robot_names
from mimicsim.assets.snapshots import hold_pose
from mimicsim.errors import ConfigError
from mimicsim.retarget.human.skeleton import SMPL_JOINTS

EXPECTED_DOF = {"g1": 29, "h1": 19, "h1_2": 27}


def test_registry_lists_the_three_humanoids():
    assert robot_names() == ["g1", "h1", "h1_2"]


@pytest.mark.parametrize("name", list(EXPECTED_DOF))
def test_robot_compiles_with_expected_dof_and_pd_actuators(name):
    spec = load_robot(name)
    model = spec.model
    assert spec.dof == EXPECTED_DOF[name] == model.nu
    assert model.nq == 7 + spec.dof
    # Actuator i drives joint i, as a position servo with the registry's gains.
    for i, joint in enumerate(spec.joint_names):
        assert model.joint(model.actuator_trnid[i, 0]).name == joint
        assert model.actuator_gainprm[i, 0] == pytest.approx(spec.kp[i])
        assert model.actuator_biasprm[i, 1] == pytest.approx(-spec.kp[i])
        assert model.actuator_biasprm[i, 2] == pytest.approx(-spec.kd[i])
    assert np.all(spec.lower < spec.upper)
    assert np.all((spec.default_joint_pos >= spec.lower) & (spec.default_joint_pos <= spec.upper))


@pytest.mark.parametrize("name", list(EXPECTED_DOF))
def test_feet_rest_on_the_floor_and_keypoints_name_smpl_joints(name):
    spec = load_robot(name)
    data = spec.make_data()
    for site in spec.sole_sites:
        assert abs(data.site(site).xpos[2]) < 0.01
    assert set(spec.keypoint_sites) <= set(SMPL_JOINTS)
    assert {"pelvis", "left_wrist", "right_ankle", "left_knee", "right_shoulder"} <= set(spec.keypoint_sites)
    for site in spec.keypoint_sites.values():
        assert spec.model.site(site).id >= 0
    # Left keypoints are on the robot's left (+y) in the standing pose.
    assert (
        data.site(spec.keypoint_sites["left_wrist"]).xpos[1] > 0 > data.site(spec.keypoint_sites["right_wrist"]).xpos[1]
    )


@pytest.mark.parametrize("name", list(EXPECTED_DOF))
def test_default_pose_holds_for_three_seconds_under_pd(name):
    heights = hold_pose(load_robot(name), 3.0)
    assert np.all(np.isfinite(heights))
    assert np.max(np.abs(heights - heights[0])) < 0.05


def test_unknown_robot_lists_valid_names():
    with pytest.raises(ConfigError, match="valid robots: g1, h1, h1_2"):
        load_robot("atlas")


def test_standing_pose_has_no_self_contact():
    for name in EXPECTED_DOF:
        spec = load_robot(name)
        data = spec.make_data()
        mujoco.mj_collision(spec.model, data)
        floor = spec.model.geom("floor").id
        robot_pairs = [c for c in data.contact[: data.ncon] if floor not in (c.geom1, c.geom2)]
        assert not [c for c in robot_pairs if c.dist < -0.005], name
