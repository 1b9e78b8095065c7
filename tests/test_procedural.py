"""The procedural motion generator: deterministic, parameterised, composable, and human-looking."""

from __future__ import annotations

import numpy as np
import pytest

from mimicsim.errors import ConfigError
from mimicsim.retarget.human import procedural as P
from mimicsim.retarget.human.contacts import estimate_contacts
from mimicsim.retarget.human.motion import bone_lengths
from mimicsim.retarget.human.normalize import facing_yaw, normalize
from mimicsim.retarget.human.plausibility import human_plausibility
from mimicsim.retarget.human.skeleton import SMPL_JOINTS

TOES = [SMPL_JOINTS.index("left_foot"), SMPL_JOINTS.index("right_foot")]


@pytest.fixture(scope="module")
def demo():
    return P.demo_clip()


@pytest.fixture(scope="module")
def walk():
    return P.generate([P.Stand(0.5), P.Walk(duration=5.0, speed=1.2, step_length=0.65), P.Stand(0.5)])


def planted(motion):
    """(T-1, 2) a toe on the floor in two consecutive frames."""
    z = motion.positions[:, TOES, 2]
    return (z[1:] == 0.0) & (z[:-1] == 0.0)


def test_deterministic(demo):
    np.testing.assert_array_equal(P.demo_clip().positions, demo.positions)


def test_demo_is_a_walk_with_a_left_turn_and_a_wave(demo):
    assert demo.duration == pytest.approx(10.0)
    assert demo.height == pytest.approx(1.70)
    assert facing_yaw(demo.positions[:1])[0] == pytest.approx(0.0, abs=np.radians(3))  # starts facing +x
    assert facing_yaw(demo.positions[-1:])[0] == pytest.approx(np.pi / 2, abs=np.radians(3))  # ends facing +y
    np.testing.assert_allclose(demo.positions[0, 0, :2], 0.0)
    travel = demo.positions[-1, 0, :2]
    assert travel[0] > 2.0 and travel[1] > 2.0  # walked forward, then on to the left
    wrist, head = demo.joint("right_wrist"), demo.joint("head")
    waving = np.flatnonzero(wrist[:, 2] > head[:, 2])
    assert 7.2 < waving[0] / demo.fps < 8.0 and waving.size / demo.fps > 1.2
    sway = wrist[waving, :2] - demo.joint("right_shoulder")[waving, :2]
    assert np.ptp(sway @ [1.0, 0.0]) > 0.08  # the hand moves side to side
    assert (demo.joint("left_wrist")[:, 2] < head[:, 2]).all()


def test_feet_never_slip_and_stay_on_the_floor(demo, walk):
    for motion in (demo, walk):
        toes = motion.positions[:, TOES]
        moved = np.linalg.norm(np.diff(toes[..., :2], axis=0), axis=-1)
        assert planted(motion).mean() > 0.5
        assert moved[planted(motion)].max() == 0.0  # zero slip while planted
        assert motion.positions[..., 2].min() >= 0.0  # nothing below the floor
        assert np.abs(toes[..., 2]).min(axis=1).max() < 0.12  # a foot is always near the floor (walking)


def test_gait_has_stance_swing_and_bob(walk):
    steady = slice(int(1.5 * walk.fps), int(4.5 * walk.fps))
    toes = walk.positions[steady][:, TOES]
    stance = (toes[..., 2] == 0.0).mean(axis=0)
    assert np.all((stance > 0.5) & (stance < 0.75))  # ~60 % stance per foot
    assert ((toes[..., 2] == 0.0).sum(axis=1) == 0).sum() == 0  # walking: never both feet in the air
    pelvis = walk.positions[steady, 0]
    assert 0.03 < np.ptp(pelvis[:, 2]) < 0.10  # the pelvis bobs
    assert 0.02 < np.ptp(pelvis[:, 1]) < 0.08  # and sways over the stance foot
    speed = (pelvis[-1, 0] - pelvis[0, 0]) / (len(pelvis) - 1) * walk.fps
    assert speed == pytest.approx(1.2, rel=0.05)
    z = walk.positions[:, TOES[0], 2]
    landings = np.flatnonzero((z[1:] == 0) & (z[:-1] > 0)) + 1
    strides = np.diff(walk.positions[landings, TOES[0], 0])
    assert np.median(strides) == pytest.approx(2 * 0.65, rel=0.03)  # two steps per stride


def test_arms_swing_against_the_legs(walk):
    steady = slice(int(1.5 * walk.fps), int(4.5 * walk.fps))
    pelvis_x = walk.positions[steady, 0, 0]
    left_hand = walk.joint("left_wrist")[steady, 0] - pelvis_x
    right_toe = walk.positions[steady, TOES[1], 0] - pelvis_x
    left_toe = walk.positions[steady, TOES[0], 0] - pelvis_x
    assert np.ptp(left_hand) > 0.15
    assert np.corrcoef(left_hand, right_toe)[0, 1] > 0.8
    assert np.corrcoef(left_hand, left_toe)[0, 1] < -0.8


def test_rigid_bones_and_plausible(demo):
    lengths = bone_lengths(demo.positions, demo.parents)
    assert np.ptp(lengths, axis=0).max() < 1e-9
    verdict = human_plausibility(normalize(demo))
    assert verdict.plausible, verdict.failures
    assert verdict.penetration == 0.0


def test_contacts_follow_the_planted_feet(walk):
    contacts = estimate_contacts(walk.positions, walk.fps)
    on_floor = walk.positions[:, TOES, 2] == 0.0
    assert (contacts == on_floor).mean() > 0.95


@pytest.mark.parametrize("height", [1.5, 1.9])
def test_height_and_proportions(height):
    motion = P.generate([P.Walk(2.0)], body=P.Body(height=height))
    assert motion.height == pytest.approx(height)
    long_legs = P.generate([P.Stand(0.5)], body=P.Body(leg_scale=1.15))
    assert long_legs.height == pytest.approx(1.70)  # the same stature, longer legs: a higher pelvis
    assert long_legs.joint("pelvis")[0, 2] > P.generate([P.Stand(0.5)]).joint("pelvis")[0, 2] + 0.03


def test_parameters_take_effect():
    fast = P.generate([P.Walk(4.0, speed=1.6, step_length=0.8)], fps=50.0)
    assert fast.fps == 50.0 and fast.num_frames == 201
    assert fast.positions[-1, 0, 0] > P.generate([P.Walk(4.0)], fps=50.0).positions[-1, 0, 0] + 0.8
    turned = P.generate([P.Stand(0.2), P.Turn(angle=-135.0, duration=2.0), P.Stand(0.5)])
    assert facing_yaw(turned.positions[-1:])[0] == pytest.approx(np.radians(-135.0), abs=np.radians(3))
    np.testing.assert_allclose(turned.positions[-1, 0, :2], 0.0, atol=0.01)  # turned in place
    assert planted(turned).mean() < 0.95  # by stepping


def test_squat_and_jump():
    squat = P.generate([P.Stand(0.5), P.Squat(depth=0.35, duration=2.4), P.Stand(0.5)])
    pelvis_z = squat.joint("pelvis")[:, 2]
    assert pelvis_z[0] - pelvis_z.min() == pytest.approx(0.35, abs=0.03)
    assert planted(squat).all()
    jump = P.generate([P.Stand(0.5), P.Jump(height=0.2, distance=0.5, duration=2.2), P.Stand(0.5)])
    toes_z = jump.positions[:, TOES, 2]
    flight = np.flatnonzero((toes_z > 0).all(axis=1))
    expected_flight = 2 * np.sqrt(2 * 0.2 / 9.81)
    assert len(flight) / jump.fps == pytest.approx(expected_flight, abs=2.5 / jump.fps)
    pelvis = jump.joint("pelvis")
    assert pelvis[flight, 2].max() - pelvis[flight[0] - 1, 2] == pytest.approx(0.2, abs=0.02)
    assert jump.positions[-1, TOES, 0] - jump.positions[0, TOES, 0] == pytest.approx([0.5, 0.5], abs=1e-9)
    assert planted(jump)[: flight[0] - 10].all() and planted(jump)[flight[-1] + 2 :].all()


def test_overlays_compose_with_any_action():
    plain = P.generate([P.Squat(duration=2.0)])
    waving = P.generate([P.Squat(duration=2.0)], overlays=[P.Wave(start=0.2, duration=1.5, hand="left")])
    np.testing.assert_array_equal(waving.joint("right_wrist"), plain.joint("right_wrist"))
    assert (waving.joint("left_wrist")[:, 2] > plain.joint("left_wrist")[:, 2] + 0.3).any()
    sequence = P.generate([P.Walk(1.5), P.Wave(2.0), P.Jump(), P.Turn(90.0)])
    assert sequence.duration == pytest.approx(1.5 + 2.0 + 2.0 + 1.6)


@pytest.mark.parametrize(
    "actions, message",
    [
        ([], "at least one action"),
        ([P.Walk(duration=-1.0)], "duration=-1.0"),
        ([P.Walk(step_length=1.5)], "step_length"),
        ([P.Squat(depth=0.9)], "depth"),
        ([P.Jump(height=0.4, duration=0.8)], "needs duration"),
        ([P.Wave(hand="both")], "Wave.hand"),
        (["dance"], "unknown action"),
    ],
)
def test_bad_parameters(actions, message):
    with pytest.raises(ConfigError, match=message):
        P.generate(actions)
