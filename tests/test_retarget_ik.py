"""The per-frame IK: a robot's own motion comes back, limits and collisions are refused."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import pytest

from mimicsim.assets import RobotSpec, load_robot
from mimicsim.errors import ConfigError
from mimicsim.retarget.collision import ContactQuery, body_groups
from mimicsim.retarget.human.motion import HumanMotion, MotionSource
from mimicsim.retarget.human.skeleton import SMPL_JOINTS
from mimicsim.retarget.ik import FrameGoal, IKSettings, KeypointIK, joint_speed_bounds
from mimicsim.retarget.retargeter import retarget
from mimicsim.retarget.scaling import SEGMENTS, robot_rest

FPS = 30.0


def _squat_and_sway(spec: RobotSpec, seconds: float = 4.0, amplitude: float = 0.25, seed: int = 0) -> np.ndarray:
    """(T, nq) the robot squatting with its feet planted flat while its waist and arms sway: hip
    pitch -a, knee +2a, ankle pitch -a keeps each sole level, and the root moves so that the
    ankles stay where they stand. Sways run whole cycles, so the clip's average pose is upright."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FPS)) / FPS
    qpos = np.tile(spec.default_qpos, (t.size, 1))
    bend = 0.2 * (1 - np.cos(2 * np.pi * t / seconds))
    legs = set()
    for side in ("left", "right"):
        for part, sign in (("hip_pitch", -1), ("knee", 2), ("ankle_pitch", -1), ("ankle", -1)):
            j = next((i for i, n in enumerate(spec.joint_names) if n.startswith(f"{side}_{part}")), None)
            if j is not None and j not in legs:
                legs.add(j)
                qpos[:, spec.qpos_adr[j]] += sign * bend
    for j in set(range(spec.dof)) - legs:
        if "leg" not in spec.joint_names[j] and not any(p in spec.joint_names[j] for p in ("hip", "knee", "ankle")):
            cycles, phase = rng.integers(1, 3), rng.uniform(0, 2 * np.pi)
            qpos[:, spec.qpos_adr[j]] += amplitude * np.sin(2 * np.pi * cycles * t / seconds + phase)
    qpos[:, spec.qpos_adr] = np.clip(qpos[:, spec.qpos_adr], spec.lower, spec.upper)
    data = mujoco.MjData(spec.model)
    ankle = spec.keypoint_sites["left_ankle"]
    data.qpos[:] = spec.default_qpos
    mujoco.mj_kinematics(spec.model, data)
    planted = data.site(ankle).xpos.copy()
    for row in qpos:
        data.qpos[:] = row
        mujoco.mj_kinematics(spec.model, data)
        row[:3] += planted - data.site(ankle).xpos
    return qpos


def _robot_as_human(spec: RobotSpec, qpos: np.ndarray) -> tuple[HumanMotion, np.ndarray]:
    """The robot's keypoint sites as an SMPL skeleton; joints the robot lacks (spine, neck,
    collars) are placed rigidly on its pelvis and torso. Returns the motion and (T, K, 3) keypoints."""
    rest = robot_rest(spec)
    data = mujoco.MjData(spec.model)
    pelvis, torso = rest.segment_bodies["pelvis"], rest.segment_bodies["torso"]
    positions = np.zeros((len(qpos), len(SMPL_JOINTS), 3))
    keypoints = np.zeros((len(qpos), len(rest.keypoints), 3))
    for t, row in enumerate(qpos):
        data.qpos[:] = row
        mujoco.mj_kinematics(spec.model, data)
        for k, name in enumerate(rest.keypoints):
            keypoints[t, k] = data.site(spec.keypoint_sites[name]).xpos
            positions[t, SMPL_JOINTS.index(name)] = keypoints[t, k]
        p_pos, p_rot = data.xpos[pelvis], data.xmat[pelvis].reshape(3, 3)
        s_pos, s_rot = keypoints[t, rest.index("spine3")], data.xmat[torso].reshape(3, 3)
        extra = {
            "spine1": p_pos + p_rot @ [0, 0, 0.08],
            "spine2": 0.5 * (p_pos + s_pos),
            "neck": s_pos + s_rot @ [0, 0, 0.1],
            "left_collar": s_pos + s_rot @ [0, 0.05, 0.05],
            "right_collar": s_pos + s_rot @ [0, -0.05, 0.05],
        }
        for name, point in extra.items():
            positions[t, SMPL_JOINTS.index(name)] = point
    motion = HumanMotion(
        positions=positions,
        fps=FPS,
        source=MotionSource(None, f"fk:{spec.name}"),
        contacts=np.ones((len(qpos), 2), dtype=bool),
    )  # both feet stay planted
    return motion, keypoints


@pytest.mark.parametrize("robot", ["g1", "h1"])
def test_robot_following_its_own_motion_is_retargeted_back(robot):
    spec = load_robot(robot)
    qpos = _squat_and_sway(spec)
    human, keypoints = _robot_as_human(spec, qpos)
    out = retarget(human, spec)
    data = mujoco.MjData(spec.model)
    got = np.empty_like(keypoints)
    for t, row in enumerate(out.qpos()):
        data.qpos[:] = row
        mujoco.mj_kinematics(spec.model, data)
        got[t] = [data.site(spec.keypoint_sites[n]).xpos for n in out.keypoint_names]
    error = np.linalg.norm(got - keypoints, axis=-1)
    assert out.keypoint_names == robot_rest(spec).keypoints
    assert error.mean() < 0.005, f"mean keypoint error {1e3 * error.mean():.1f} mm"
    assert np.quantile(error, 0.95) < 0.015
    np.testing.assert_allclose(out.root_pos, qpos[:, :3], atol=0.02)


def _solver(spec: RobotSpec, **settings) -> tuple[KeypointIK, list[str]]:
    rest = robot_rest(spec)
    names = list(rest.keypoints)
    bodies = [rest.segment_bodies[s] for s in SEGMENTS]
    ik = KeypointIK(spec, [spec.keypoint_sites[n] for n in names], bodies, [""] * len(bodies), IKSettings(**settings))
    ik.reset(spec.default_qpos.copy())
    return ik, names


def _goal(spec: RobotSpec, names: list[str], moved: dict[str, np.ndarray], weight: float = 100.0) -> FrameGoal:
    rest = robot_rest(spec)
    positions = rest.positions.copy()
    weights = np.ones(len(names))
    for name, target in moved.items():
        positions[names.index(name)] = target
        weights[names.index(name)] = weight
    orientations = np.stack([rest.segment_rest[s] for s in SEGMENTS])
    return FrameGoal(positions, weights, orientations, np.ones(len(SEGMENTS)))


def test_target_beyond_the_knee_limit_is_refused():
    spec = load_robot("g1")
    names = list(robot_rest(spec).keypoints)
    knee = robot_rest(spec).positions[names.index("left_knee")]
    # The ankle pulled forward, level with the knee: only a knee bent backwards gets it there.
    goal = _goal(spec, names, {"left_ankle": knee + [0.25, 0, -0.05], "left_knee": knee})
    k = spec.joint_names.index("left_knee_joint")
    limited, _ = _solver(spec)
    unlimited, _ = _solver(dataclasses.replace(spec, lower=spec.lower - 1.0, upper=spec.upper + 1.0))
    q_limited = limited.solve(goal, None, 60)[spec.qpos_adr]
    q_unlimited = unlimited.solve(goal, None, 60)[spec.qpos_adr]
    assert q_unlimited[k] < spec.lower[k] - 0.2, "the target should need a knee bent backwards"
    assert np.all(q_limited >= spec.lower) and np.all(q_limited <= spec.upper)
    assert q_limited[k] == pytest.approx(spec.lower[k], abs=0.02)  # pressed against its limit, no further


def test_joint_speed_is_limited_per_frame():
    """3 pi rad/s for every joint by default, overridable per joint, never above the robot's limit."""
    spec = load_robot("g1")
    shoulder = spec.joint_names.index("right_shoulder_pitch_joint")
    wrist = robot_rest(spec).positions[robot_rest(spec).keypoints.index("right_wrist")]
    steps = {}
    for label, settings in (("default", {}), ("slow shoulder", {"joint_speeds": {"right_shoulder_pitch_joint": 2.0}})):
        ik, names = _solver(spec, **settings)
        before = ik.qpos[spec.qpos_adr].copy()
        after = ik.solve(_goal(spec, names, {"right_wrist": wrist + [0.4, 0.0, 0.5]}), 1 / 30, 5)[spec.qpos_adr]
        steps[label] = np.abs(after - before)
        assert np.all(steps[label] <= ik.speed / 30 + 1e-9)
    assert steps["default"].max() == pytest.approx(3 * np.pi / 30, rel=1e-6)
    assert steps["slow shoulder"][shoulder] == pytest.approx(2.0 / 30, rel=1e-6)
    fast = joint_speed_bounds(spec, IKSettings(joint_speed=100.0))
    np.testing.assert_array_equal(fast, spec.velocity_limit)
    with pytest.raises(ConfigError, match="elbow_joint, not joints of g1"):
        joint_speed_bounds(spec, IKSettings(joint_speeds={"elbow_joint": 1.0}))


def _arm_torso_distance(spec: RobotSpec, qpos: np.ndarray) -> float:
    """Smallest signed distance between the right arm's geoms and the trunk's (m)."""
    query = ContactQuery(spec, margin=0.1)
    data = mujoco.MjData(query.model)
    data.qpos[:] = qpos
    mujoco.mj_kinematics(query.model, data)
    contacts = query.query(data)
    groups = body_groups(spec)
    arm, trunk = groups["right_arm"], groups["trunk"]
    bodies = query.model.geom_bodyid
    mask = [
        (bodies[a] in arm and bodies[b] in trunk) or (bodies[b] in arm and bodies[a] in trunk)
        for a, b in zip(contacts.geom1, contacts.geom2, strict=True)
    ]
    return float(contacts.dist[mask].min(initial=0.1))


@pytest.mark.parametrize("robot", ["g1", "h1_2"])
def test_hand_target_inside_the_torso_is_refused(robot):
    spec = load_robot(robot)
    rest = robot_rest(spec)
    names = list(rest.keypoints)
    inside = rest.positions[names.index("spine3")] + [0.0, 0.0, -0.05]  # the middle of the chest
    goal = _goal(spec, names, {"right_wrist": inside, "right_elbow": inside + [0.15, -0.1, 0.0]})
    blocked, _ = _solver(spec)
    through, _ = _solver(spec, collisions=False)
    q_blocked = blocked.solve(goal, None, 60)
    q_through = through.solve(goal, None, 60)
    assert _arm_torso_distance(spec, q_through) < -0.02, "the target should be reachable only through the torso"
    assert _arm_torso_distance(spec, q_blocked) > -0.001


def test_scales_follow_each_limb_and_the_config_overrides_them():
    from mimicsim.retarget.human.procedural import Body, Stand, generate
    from mimicsim.retarget.scaling import derive_scales

    rest = robot_rest(load_robot("h1"))
    normal = derive_scales(generate([Stand(1.0)], name="normal"), rest)
    long_legs = derive_scales(generate([Stand(1.0)], body=Body(leg_scale=1.2), name="long legs"), rest)
    for bone in ("left_knee", "right_ankle"):  # legs 1.2x longer relative to the arms: leg factors 1/1.2
        relative = long_legs.bone[bone] / long_legs.bone["left_elbow"]
        assert relative == pytest.approx(normal.bone[bone] / normal.bone["left_elbow"] / 1.2, rel=0.02)
    assert long_legs.root / long_legs.bone["left_elbow"] < normal.root / normal.bone["left_elbow"]
    fixed = derive_scales(generate([Stand(1.0)], name="normal"), rest, override=0.8)
    assert fixed.root == 0.8 and set(fixed.bone.values()) == {0.8}


@pytest.mark.parametrize("robot", ["g1", "h1_2"])
def test_a_deep_squat_folds_hips_and_knees_with_the_feet_planted(robot):
    """Folding the legs brings neighbours in the tree together (G1's hip-roll links against its
    pelvis): they may touch, so the hips and knees bend as a human's do, the feet stay pinned and
    no joint jumps (at the robots' own speed limits H1-2's hip yaws swung across in two frames)."""
    from mimicsim.retarget.human.procedural import Squat, Stand, generate
    from mimicsim.retarget.quality import evaluate

    spec = load_robot(robot)
    clip = generate([Stand(0.5), Squat(depth=0.5), Stand(0.3), Squat(depth=0.45, duration=1.6)], name="squats")
    summary, _ = evaluate(retarget(clip, spec), spec)
    assert all(summary["passes"].values()), summary["passes"]
    assert summary["frames_over_3pi"] == 0
    assert summary["keypoint_error_mm"] < 12.0
    assert summary["foot_slide_max_mm"] < 6.0
