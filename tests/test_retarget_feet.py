"""Feet: pinned during contact, on the floor whatever the source's height, re-stepped when sliding."""

from __future__ import annotations

from dataclasses import replace

import mujoco
import numpy as np
import pytest

from mimicsim.assets import load_robot
from mimicsim.retarget.feet import contact_phases, split_sliding_contacts
from mimicsim.retarget.human.procedural import Stand, Turn, Walk, generate
from mimicsim.retarget.quality import evaluate
from mimicsim.retarget.retargeter import RetargetConfig, plan, retarget
from mimicsim.retarget.robot_motion import RobotMotion


@pytest.fixture(scope="module")
def walk():
    actions = [Stand(0.5), Walk(duration=2.0), Walk(duration=1.5, turn=60.0), Turn(60.0), Stand(0.5)]
    return generate(actions, name="walk")


def _soles(motion: RobotMotion) -> np.ndarray:
    """(T, 2, 3) sole-site positions of the left and right foot."""
    spec = load_robot(motion.robot)
    data = mujoco.MjData(spec.model)
    out = np.empty((motion.num_frames, 2, 3))
    for t, row in enumerate(motion.qpos()):
        data.qpos[:] = row
        mujoco.mj_kinematics(spec.model, data)
        out[t] = [data.site(s).xpos for s in spec.sole_sites]
    return out


def test_contact_phases():
    flags = np.array([0, 1, 1, 0, 0, 1, 1, 1], dtype=bool)
    assert contact_phases(flags) == [(1, 3), (5, 8)]
    assert contact_phases(np.zeros(4, dtype=bool)) == []
    assert contact_phases(np.ones(3, dtype=bool)) == [(0, 3)]


@pytest.mark.parametrize("robot", ["g1", "h1"])
def test_stance_feet_stay_put_during_contact(walk, robot):
    out = retarget(walk, robot)
    soles = _soles(out)
    phases = [(side, a, b) for side in range(2) for a, b in contact_phases(out.contacts[:, side]) if b - a > 1]
    assert len(phases) >= 6, "a walk with a turn has many steps"
    for side, start, stop in phases:
        drift = np.linalg.norm(soles[start:stop, side, :2] - soles[start, side, :2], axis=1).max()
        assert drift < 0.005, f"{robot} foot {side} moved {1e3 * drift:.1f} mm during contact {start}-{stop}"
        assert np.all(soles[start:stop, side, 2] < 0.01), "a stance foot is on the floor"


@pytest.mark.parametrize("shift", [-0.13, 0.25])
def test_a_sinking_or_floating_source_lands_on_the_floor(walk, shift):
    """Raw generated clips sink (MotionMillion's case 1: 13 cm) or float; the robot's feet must not."""
    moved = replace(walk, positions=walk.positions + [0.0, 0.0, shift], contacts=None)
    spec = load_robot("h1_2")
    out = retarget(moved, spec)
    summary, series = evaluate(out, spec)
    assert summary["ground_penetration_frames"] == 0
    soles = _soles(out)
    lowest = soles[:, :, 2].min(axis=1)
    assert np.all(lowest < 0.02), "some foot stays at the floor: the root height adapted"
    assert series["ground_penetration_m"].max() < 0.01


def test_a_sliding_source_foot_is_re_stepped(walk):
    spec = load_robot("g1")
    p = plan(walk, spec, RetargetConfig(pin_feet=False))
    targets = p.targets
    ankle = targets.index("left_ankle")
    slid = targets.positions.copy()
    contact = np.zeros((len(slid), 2), dtype=bool)
    contact[:, 0] = True
    slid[:, ankle, 0] = np.linspace(0.0, 0.3, len(slid))  # the left foot skates 30 cm while "planted"
    fixed, contacts = split_sliding_contacts(replace(targets, positions=slid), contact, walk.fps, max_drift=0.05)
    phases = contact_phases(contacts[:, 0])
    assert len(phases) >= 5, "re-stepped every 5 cm"
    for start, stop in phases:
        assert np.ptp(fixed.positions[start:stop, ankle, 0]) <= 0.05 + 1e-9
    lifted = ~contacts[:, 0]
    assert np.all(fixed.positions[lifted, ankle, 2] > slid[lifted, ankle, 2]), "the foot lifts to move"
