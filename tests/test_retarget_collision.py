"""Self-collisions: MuJoCo's own pairs, judged against the standing pose, the same in the solver
and the evaluator, and the evaluator agreeing frame by frame with a plain MuJoCo replay."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from mujoco_replay import replay_self_penetration

from mimicsim.assets import load_robot
from mimicsim.retarget.collision import ContactQuery, TrackedContacts, all_pairs_model, self_pairs
from mimicsim.retarget.human.procedural import demo_clip
from mimicsim.retarget.ik import FrameGoal, IKSettings, KeypointIK
from mimicsim.retarget.jacobians import chain_mask, normal_row, point_rows, rotation_rows
from mimicsim.retarget.quality import SELF_TOLERANCE, evaluate
from mimicsim.retarget.retargeter import retarget
from mimicsim.retarget.robot_motion import from_qpos
from mimicsim.retarget.scaling import SEGMENTS, robot_rest

ROBOTS = ["g1", "h1", "h1_2"]


def _random_poses(spec, frames: int, seed: int = 0) -> np.ndarray:
    """(frames, nq): joints drawn uniformly in their ranges (arms through the torso, legs through
    each other), the first frame standing."""
    rng = np.random.default_rng(seed)
    qpos = np.tile(spec.default_qpos, (frames, 1))
    qpos[1:, spec.qpos_adr] = rng.uniform(spec.lower, spec.upper, (frames - 1, spec.dof))
    return qpos


@pytest.mark.parametrize("robot", ROBOTS)
def test_the_pairs_are_the_ones_mujoco_tests(robot):
    spec = load_robot(robot)
    model = all_pairs_model(spec.model)
    model.geom_margin[:] = model.body_margin[:] = 5.0  # every pair the filter lets through is reported
    data = mujoco.MjData(model)
    data.qpos[:] = spec.default_qpos
    mujoco.mj_forward(model, data)
    floor = model.geom("floor").id
    reported = {tuple(sorted(g)) for g in data.contact.geom[: data.ncon].tolist() if floor not in g}
    ours = set(zip(*(g.tolist() for g in self_pairs(model)), strict=True))
    assert reported <= ours
    # MuJoCo's box-box test reports no contact at such range; those pairs are far apart.
    assert all(mujoco.mj_geomDistance(model, data, a, b, 1.0, None) > 0.1 for a, b in ours - reported)
    # Structural neighbours the old rule skipped are in: G1's pelvis against its hip-roll links.
    names = {(model.body(model.geom_bodyid[a]).name, model.body(model.geom_bodyid[b]).name) for a, b in reported}
    if robot == "g1":
        assert ("pelvis", "left_hip_roll_link") in names


@pytest.mark.parametrize("robot", ROBOTS)
def test_tracked_contacts_find_every_pair_in_reach_and_never_overstate_a_distance(robot):
    """Along a jittery walk through joint space (and two jumps), the solver's tracked query finds
    every pair that brute force finds within the margin, at a distance no larger."""
    spec = load_robot(robot)
    tracked = TrackedContacts(spec, 0.03)
    model, data, ends = tracked.model, mujoco.MjData(tracked.model), np.zeros(6)
    rng = np.random.default_rng(1)
    qpos = spec.default_qpos.copy()
    for step in range(150):
        if step % 50 == 49:
            qpos[spec.qpos_adr] = rng.uniform(spec.lower, spec.upper)
        else:
            qpos[spec.qpos_adr] = np.clip(qpos[spec.qpos_adr] + rng.normal(0, 0.05, spec.dof), spec.lower, spec.upper)
        qpos[:3] += rng.normal(0, 0.02, 3)
        data.qpos[:] = qpos
        mujoco.mj_kinematics(model, data)
        contacts = tracked.query(data)
        got = {
            (a, b): d for a, b, d in zip(contacts.geom1.tolist(), contacts.geom2.tolist(), contacts.dist, strict=True)
        }
        for a, b in zip(tracked.geom1.tolist(), tracked.geom2.tolist(), strict=True):
            truth = mujoco.mj_geomDistance(model, data, a, b, 0.03, ends)
            if truth < 0.03:
                assert (a, b) in got, f"step {step}: pair {a}, {b} at {truth:.4f} m missed"
            if (a, b) in got:  # reused: lowered by twice the motion at most (1 mm, or a quarter of it)
                assert -1e-5 <= truth - got[a, b] <= 2 * max(0.001, 0.25 * got[a, b]) + 1e-9, (step, a, b, truth)


@pytest.mark.parametrize("robot", ROBOTS)
def test_the_evaluator_agrees_with_a_plain_mujoco_replay_frame_by_frame(robot):
    spec = load_robot(robot)
    poses = from_qpos(spec, _random_poses(spec, 80), 30.0, np.zeros((80, 2), dtype=bool))
    _, series = evaluate(poses, spec)
    replay = replay_self_penetration(poses, spec)
    np.testing.assert_allclose(series["self_penetration_m"], replay, atol=1e-9)
    flagged = replay > SELF_TOLERANCE
    assert 5 <= flagged.sum() < 79, "random poses should put some limbs through others, not all"
    assert not flagged[0], "the standing pose is the reference, not a collision"


def test_a_pair_overlapping_when_standing_counts_only_beyond_its_standing_overlap():
    """H1-2's wrist links overlap by 13 mm in every pose: only deeper than that (+5 mm) counts."""
    spec = load_robot("h1_2")
    query = ContactQuery(spec, 0.0)
    overlapping = np.isfinite(query.rest) & (query.rest < -0.01)
    assert overlapping.any()
    stand = from_qpos(spec, np.tile(spec.default_qpos, (3, 1)), 30.0, np.zeros((3, 2), dtype=bool))
    summary, _ = evaluate(stand, spec)
    assert summary["self_collision_frames"] == 0 and summary["self_penetration_max_mm"] == 0.0


@pytest.mark.parametrize("robot", ROBOTS)
def test_retargeted_demo_has_no_self_contact_in_a_plain_replay(robot):
    spec = load_robot(robot)
    motion = retarget(demo_clip(), spec)
    assert (replay_self_penetration(motion, spec) <= SELF_TOLERANCE).all()


def test_jacobian_rows_match_mujoco():
    spec = load_robot("g1")
    model, data = spec.model, mujoco.MjData(spec.model)
    data.qpos[:] = _random_poses(spec, 2, seed=3)[1]
    data.qpos[3:7] = np.array([0.9, 0.1, 0.3, -0.2]) / np.linalg.norm([0.9, 0.1, 0.3, -0.2])
    mujoco.mj_kinematics(model, data)
    mujoco.mj_comPos(model, data)
    chain, com = chain_mask(model), data.subtree_com[1]
    rows, rot, jacp, jacr = (np.zeros((3, model.nv)) for _ in range(4))
    normal = np.array([0.3, -0.5, 0.8])
    for site in range(model.nsite):
        body = model.site_bodyid[site]
        point_rows(data.cdof, chain, body, data.site_xpos[site] - com, rows)
        rotation_rows(data.cdof, chain, body, rot)
        along = np.zeros(model.nv)
        normal_row(data.cdof, chain, body, data.site_xpos[site] - com, normal, along)
        mujoco.mj_jacSite(model, data, jacp, jacr, site)
        np.testing.assert_allclose(rows, jacp, atol=1e-12)
        np.testing.assert_allclose(rot, jacr, atol=1e-12)
        np.testing.assert_allclose(along, normal @ jacp, atol=1e-12)


@pytest.mark.parametrize("robot", ROBOTS)
def test_the_solver_keeps_apart_every_pair_the_evaluator_counts(robot):
    """Targets taken from random poses of the robot itself (limbs through the trunk, through
    each other, neighbours folded into each other): followed without collision avoidance they
    collide; with it, no pair the evaluator counts ends up deeper than the tolerance."""
    spec = load_robot(robot)
    rest = robot_rest(spec)
    sites = [spec.keypoint_sites[n] for n in rest.keypoints]
    bodies = [rest.segment_bodies[s] for s in SEGMENTS]
    data = mujoco.MjData(spec.model)
    depth = {}
    for collisions in (True, False):
        ik = KeypointIK(spec, sites, bodies, [""] * len(bodies), IKSettings(collisions=collisions))
        solved = []
        for qpos in _random_poses(spec, 13, seed=5)[1:]:
            data.qpos[:] = qpos
            mujoco.mj_kinematics(spec.model, data)
            targets = np.array([data.site(s).xpos for s in sites])
            orientations = data.xmat[bodies].reshape(-1, 3, 3)
            goal = FrameGoal(targets, np.full(len(sites), 100.0), orientations, np.ones(len(bodies)))
            ik.reset(spec.default_qpos)
            solved.append(ik.solve(goal, None, 60))
        motion = from_qpos(spec, np.array(solved), 30.0, np.zeros((len(solved), 2), dtype=bool))
        depth[collisions] = evaluate(motion, spec)[1]["self_penetration_m"]
    assert (depth[False] > SELF_TOLERANCE).any(), "the targets should need a collision to reach"
    assert (depth[True] <= SELF_TOLERANCE).all(), depth[True]
