"""Every real clip in ../shared/motions: loads, lands on the floor right way up at a plausible height,
golden pairs match exactly, and real mocap is judged plausible. Skipped when ../shared is absent."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from mimicsim.errors import InputFileError
from mimicsim.npyio import read_npy
from mimicsim.retarget.human.formats import humanml3d, load_motion, rep272
from mimicsim.retarget.human.normalize import axes_rotation, foot_heights, normalize
from mimicsim.retarget.human.plausibility import human_plausibility
from mimicsim.retarget.human.skeleton import SMPL_JOINTS

# Body motions and how to read them (fps where the file cannot say it).
MOTIONS = {
    "bvh/cmu_01_01.bvh": {},
    "bvh/motionmillion_case1_predict.bvh": {},
    "humanml3d_263/012314_new_joint_vecs.npy": {},
    "humanml3d_263/012314_new_joints.npy": {},
    "representation_272/000000_rep272.npy": {"fps": 60.0},
    "representation_272/000000_smplx_joints55.npy": {"fps": 60.0},
    "t2m_generated/a_person_is_boxing.npy": {},
    "t2m_generated/a_person_is_raising_their_hand.npy": {},
    "t2m_generated/apersonwalkingtotheside.npy": {},
}
# Files that are not body motions, and what the loader must say about them.
NOT_MOTIONS = {
    "humanml3d_263/Mean.npy": "normalisation statistics",
    "humanml3d_263/Std.npy": "normalisation statistics",
    "representation_272/motionmillion_mean.npy": "normalisation statistics",
    "representation_272/motionmillion_std.npy": "normalisation statistics",
    "hands/right_hand_keypoints21.npy": "a hand",
}
MIRRORED = "t2m_generated/a_person_is_raising_their_hand.npy"
"""T2M-GPT's output here has left and right swapped (feet and head point against the hips' facing)."""
REAL_MOCAP = ["bvh/cmu_01_01.bvh", "humanml3d_263/012314_new_joint_vecs.npy", "representation_272/000000_rep272.npy"]


def test_every_file_is_accounted_for(shared_motions):
    files = {
        str(p.relative_to(shared_motions)) for p in shared_motions.rglob("*") if p.is_file() and p.name != "README.md"
    }
    assert files == set(MOTIONS) | set(NOT_MOTIONS)


@pytest.mark.parametrize("name", MOTIONS)
def test_clip_loads_on_the_floor_upright_at_a_plausible_height(shared_motions, name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        motion = load_motion(shared_motions / name, **MOTIONS[name])
    assert [str(w.message) for w in caught] == (
        [f"{shared_motions / name}: {motion.source.details['warning']}"] if name == MIRRORED else []
    )
    assert motion.joint_names == SMPL_JOINTS and motion.num_frames >= 40
    ready = normalize(motion)
    assert abs(foot_heights(ready.positions).min()) <= 0.02  # on the floor, not below or above
    head, pelvis = ready.joint("head"), ready.joint("pelvis")
    ankles = 0.5 * (ready.joint("left_ankle") + ready.joint("right_ankle"))
    assert np.mean(head[:, 2] > pelvis[:, 2]) > 0.9 and np.mean(pelvis[:, 2] > ankles[:, 2]) > 0.9  # right way up
    assert 1.35 <= motion.height <= 2.0
    assert ready.contacts.any(axis=1).mean() > 0.5


@pytest.mark.parametrize("name, message", NOT_MOTIONS.items())
def test_non_motion_files_are_named_for_what_they_are(shared_motions, name, message):
    with pytest.raises(InputFileError, match=message):
        load_motion(shared_motions / name)


def test_motionmillion_clip_starts_below_the_floor_and_is_lifted(shared_motions):
    motion = load_motion(shared_motions / "bvh/motionmillion_case1_predict.bvh")
    assert foot_heights(motion.positions).min() == pytest.approx(-0.13, abs=0.01)
    assert not human_plausibility(motion).plausible
    lifted = normalize(motion)
    assert foot_heights(lifted.positions).min() == pytest.approx(0.0, abs=1e-9)


def test_cmu_clip_is_read_in_cmu_units(shared_motions):
    motion = load_motion(shared_motions / "bvh/cmu_01_01.bvh")
    assert motion.num_frames == 2752 and motion.fps == 120.0
    assert motion.source.details["skeleton"] == "cmu (31 joints)"
    assert motion.source.details["units"] == "cmu (detected)"
    assert motion.source.details["up"] == "y (detected)"


def test_golden_263_features_to_joints(shared_motions):
    folder = shared_motions / "humanml3d_263"
    features = read_npy(folder / "012314_new_joint_vecs.npy")
    golden = read_npy(folder / "012314_new_joints.npy")
    np.testing.assert_allclose(humanml3d.recover_joints(features), golden, rtol=0, atol=1e-5)
    motion = load_motion(folder / "012314_new_joint_vecs.npy")
    np.testing.assert_allclose(motion.positions, golden @ axes_rotation("y").T, rtol=0, atol=1e-5)


def test_golden_263_normalised_features(shared_motions):
    folder = shared_motions / "humanml3d_263"
    features = read_npy(folder / "012314_new_joint_vecs.npy")
    mean, std = read_npy(folder / "Mean.npy"), read_npy(folder / "Std.npy")
    motion = humanml3d.from_features(
        (features - mean) / std, folder / "normalised.npy", mean=folder / "Mean.npy", std=folder / "Std.npy"
    )
    golden = read_npy(folder / "012314_new_joints.npy") @ axes_rotation("y").T
    np.testing.assert_allclose(motion.positions, golden, rtol=0, atol=1e-5)


def test_golden_272_features_to_joints(shared_motions):
    folder = shared_motions / "representation_272"
    joints = read_npy(folder / "000000_smplx_joints55.npy")[:, :22]
    golden = joints - np.array([joints[0, 0, 0], joints[..., 1].min(), joints[0, 0, 2]])
    np.testing.assert_allclose(rep272.recover_joints(read_npy(folder / "000000_rep272.npy")), golden, rtol=0, atol=1e-5)


def test_golden_272_normalised_features(shared_motions):
    folder = shared_motions / "representation_272"
    features = read_npy(folder / "000000_rep272.npy")
    mean, std = read_npy(folder / "motionmillion_mean.npy"), read_npy(folder / "motionmillion_std.npy")
    normalised = (features - mean) / std
    with pytest.raises(InputFileError, match="look normalised"):
        rep272.from_features(normalised, Path("n.npy"), fps=60.0)
    motion = rep272.from_features(normalised, Path("n.npy"), mean=mean, std=std, fps=60.0)
    raw = load_motion(folder / "000000_rep272.npy", fps=60.0)
    np.testing.assert_allclose(motion.positions, raw.positions, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", REAL_MOCAP)
def test_real_mocap_is_plausible(shared_motions, name):
    verdict = human_plausibility(normalize(load_motion(shared_motions / name, **MOTIONS[name])))
    assert verdict.plausible, verdict.failures
