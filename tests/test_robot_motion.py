"""The RobotMotion file: npz round trip, CSV convention, and clear errors for bad inputs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mimicsim.assets import load_robot
from mimicsim.errors import ConfigError, InputFileError
from mimicsim.retarget.human.motion import HumanMotion, MotionSource
from mimicsim.retarget.human.procedural import Stand, Walk, generate
from mimicsim.retarget.quality import evaluate, with_quality
from mimicsim.retarget.retargeter import retarget
from mimicsim.retarget.robot_motion import SCHEMA, RobotMotion, export_csv, from_qpos, import_csv, load, save


@pytest.fixture(scope="module")
def motion() -> RobotMotion:
    human = generate([Stand(0.3), Walk(duration=1.0)], name="short walk")
    return with_quality(retarget(human, "g1"))


def test_npz_round_trip_keeps_everything(motion, tmp_path):
    path = save(motion, tmp_path / "m.npz")
    back = load(path)
    assert (back.robot, back.fps, back.kind) == (motion.robot, motion.fps, motion.kind)
    assert back.joint_names == motion.joint_names and back.body_names == motion.body_names
    assert back.keypoint_names == motion.keypoint_names
    for name in (
        "root_pos",
        "root_quat_wxyz",
        "joint_pos",
        "joint_vel",
        "body_pos",
        "body_quat_wxyz",
        "contacts",
        "keypoint_targets",
    ):
        np.testing.assert_array_equal(getattr(back, name), getattr(motion, name), err_msg=name)
    assert back.quality == motion.quality and back.quality["passes"]
    assert back.source == motion.source and back.source["format"].startswith("procedural")
    assert set(back.frame_metrics) >= {"keypoint_error_m", "ground_penetration_m", "self_penetration_m"}
    with np.load(path, allow_pickle=False) as raw:  # self-describing, no pickles
        assert str(raw["schema"]) == SCHEMA and float(raw["fps"]) == motion.fps


def test_csv_export_and_import_agree(motion, tmp_path):
    path = export_csv(motion, tmp_path / "m.csv")
    rows = np.loadtxt(path, delimiter=",")
    assert rows.shape == (motion.num_frames, 7 + len(motion.joint_names))
    np.testing.assert_allclose(rows[:, 3:7], motion.root_quat_wxyz[:, [1, 2, 3, 0]], atol=1e-8)  # xyzw
    back = import_csv(load_robot("g1"), path, motion.fps)
    np.testing.assert_allclose(back.root_pos, motion.root_pos, atol=1e-7)
    np.testing.assert_allclose(back.root_quat_wxyz, motion.root_quat_wxyz, atol=1e-7)
    np.testing.assert_allclose(back.joint_pos, motion.joint_pos, atol=1e-7)
    np.testing.assert_allclose(back.body_pos, motion.body_pos, atol=1e-6)


def test_csv_of_another_robot_is_refused(motion, tmp_path):
    path = export_csv(motion, tmp_path / "g1.csv")
    with pytest.raises(InputFileError, match=r"36 columns, but robot 'h1' needs 26"):
        import_csv(load_robot("h1"), path, motion.fps)


def test_evaluating_against_the_wrong_robot_is_refused(motion):
    with pytest.raises(InputFileError, match="not 'h1'"):
        evaluate(motion, load_robot("h1"))


def test_unknown_robot_is_a_config_error():
    human = generate([Stand(0.5)], name="stand")
    with pytest.raises(ConfigError, match="unknown robot 'g2'; valid robots: g1, h1, h1_2"):
        retarget(human, "g2")


def test_empty_motions_are_refused(motion, tmp_path):
    with pytest.raises(InputFileError, match="at least 2 frames"):
        HumanMotion(positions=np.zeros((1, 22, 3)), fps=30.0, source=MotionSource("one.npy", "joints"))
    empty = replace(
        motion,
        **{
            name: getattr(motion, name)[:0]
            for name in (
                "root_pos",
                "root_quat_wxyz",
                "joint_pos",
                "joint_vel",
                "body_pos",
                "body_quat_wxyz",
                "contacts",
                "keypoint_targets",
            )
        },
    )
    path = save(empty, tmp_path / "empty.npz")
    with pytest.raises(InputFileError, match=r"empty\.npz: needs at least 2 frames"):
        load(path)


def test_malformed_files_name_the_file_and_the_problem(motion, tmp_path):
    not_npz = tmp_path / "text.npz"
    not_npz.write_text("hello")
    with pytest.raises(InputFileError, match=r"text\.npz: not an \.npz archive"):
        load(not_npz)
    other = tmp_path / "other.npz"
    np.savez(other, schema="something/1")
    with pytest.raises(InputFileError, match="schema is 'something/1'"):
        load(other)
    spec = load_robot("g1")
    broken = from_qpos(spec, motion.qpos(), motion.fps, motion.contacts)
    path = save(replace(broken, joint_vel=broken.joint_vel[:, :3]), tmp_path / "broken.npz")
    with pytest.raises(InputFileError, match="joint_vel has shape"):
        load(path)
    with pytest.raises(InputFileError, match="no such file"):
        load(tmp_path / "missing.npz")


DAMAGE = {
    "fps 'fast'": ({"fps": np.str_("fast")}, "fps must be a number"),
    "fps array": ({"fps": np.array([30.0, 30.0])}, "fps must be a number"),
    "fps 1e9": ({"fps": np.float64(1e9)}, "fps must lie in 1-1000"),
    "source JSON": ({"source": np.str_("{not json")}, "'source' is not valid JSON"),
    "quality list": ({"quality": np.str_("[1, 2]")}, "'quality' must be a JSON object"),
    "unknown robot": ({"robot": np.str_("foo")}, "robot 'foo' is not registered"),
    "kind": ({"kind": np.str_("dreamt")}, "kind must be"),
    "zero quaternions": (
        {"root_quat_wxyz": np.zeros((40, 4))},
        "root_quat_wxyz holds quaternions that are not of unit",
    ),
    "NaN joints": ({"joint_pos": np.full((40, 29), np.nan)}, "'joint_pos' holds NaN"),
    "text joints": ({"joint_pos": np.full((40, 29), "a")}, "'joint_pos' must hold numbers"),
    "names as number": ({"joint_names": np.float64(3.0)}, "'joint_names' must be a list of names"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_every_field_is_validated(motion, tmp_path, damage):
    good = save(motion, tmp_path / "good.npz")
    with np.load(good) as npz:
        files = dict(npz.items())
    change, message = DAMAGE[damage]
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{**files, **change})
    with pytest.raises(InputFileError, match=message):
        load(bad)
