"""Hand retargeting onto the Inspire hand and the Franka: input validation, the finger and arm
solvers, the quality bars on the shared clip, the replay, and `mimicsim retarget-hand`."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mimicsim.assets.hand_mapping import HAND_LOWER, HAND_UPPER
from mimicsim.cli import main
from mimicsim.envs.manipulation.hand_replay import replay_hand
from mimicsim.retarget.hand.arm import home_mount_pose, solve_arm
from mimicsim.retarget.hand.fingers import FingerConfig, retarget_fingers
from mimicsim.retarget.hand.inspire import InspireKinematics, finger_tables
from mimicsim.retarget.hand.keypoints import MEDIAPIPE_FROM_MANO, MIRROR, load_hand, make_hand
from mimicsim.retarget.hand.retargeter import HandRetargetConfig, retarget_hand

CLIP = "hands/right_hand_keypoints21.npy"


def robot_hand(closure: float, frames: int = 12) -> np.ndarray:
    """The Inspire hand's own keypoints at one closure of every driver, as a human input: a fist
    (closure 1) is exactly the robot's fully closed fingertip directions."""
    drivers = HAND_LOWER + closure * (HAND_UPPER - HAND_LOWER)
    return np.repeat(InspireKinematics().keypoints(drivers), frames, axis=0)


@pytest.mark.parametrize("closure", [0.0, 1.0])
def test_open_hand_gives_closures_near_0_and_fist_near_1(closure):
    # Without thumb-finger avoidance: the model's fully closed hand itself has the thumb 12 mm
    # inside the index (MuJoCo's own contacts), which avoidance would not copy.
    config = HandRetargetConfig(fingers=FingerConfig(collision_weight=0.0))
    trajectory = retarget_hand(make_hand(robot_hand(closure), 30.0), config)
    assert np.allclose(trajectory.closures, closure, atol=0.03), trajectory.closures[-1]
    expected_counts = 1000 * (1.0 - closure)  # Inspire's SDK: 1000 = open
    assert np.all(np.abs(trajectory.hardware - expected_counts) <= 30)


def test_fist_with_the_thumb_kept_clear_of_the_fingers():
    closures = retarget_hand(make_hand(robot_hand(1.0), 30.0)).closures[-1]  # hardware order
    assert np.allclose(closures[:4], 1.0, atol=0.03)  # pinky, ring, middle, index
    assert closures[4] > 0.6  # the thumb still bends in, beside the index rather than through it
    tables = finger_tables(finger_steps=1024, thumb_steps=48)
    assert tables.clearance[0, -1, -1] < 0  # the fully closed model does overlap


def test_a_sudden_fist_is_reached_within_the_speed_limit():
    keypoints = np.concatenate([robot_hand(0.0, 5), robot_hand(1.0, 25)])
    config = FingerConfig(finger_speed=6.0, thumb_speed=6.0, collision_weight=0.0)
    drivers = retarget_fingers(make_hand(keypoints, 30.0), config).drivers
    steps = np.abs(np.diff(drivers, axis=0))
    assert np.all(steps <= 6.0 / 30.0 + 1e-9)
    assert steps.max() > 0.9 * 6.0 / 30.0  # it did move as fast as it may
    assert np.allclose(drivers[-1], HAND_UPPER, atol=0.03 * (HAND_UPPER - HAND_LOWER))
    assert np.all((drivers >= HAND_LOWER) & (drivers <= HAND_UPPER))


def test_mirrored_left_hand_equals_the_right(shared_motions):
    right = np.load(shared_motions / CLIP)[:90].astype(np.float64)
    as_right = retarget_fingers(make_hand(right, 30.0)).drivers
    as_left = retarget_fingers(make_hand(right @ MIRROR, 30.0, side="left")).drivers
    assert np.allclose(as_left, as_right, atol=1e-9)
    # An unmirrored left hand is a different hand: the test could tell.
    assert not np.allclose(retarget_fingers(make_hand(right @ MIRROR, 30.0)).drivers, as_right, atol=1e-3)


def test_mirrored_left_wrist_moves_the_arm_as_the_right():
    t = np.arange(20) / 30.0
    pos = np.stack([0.05 * np.sin(3 * t), 0.04 * t, -0.03 * t], axis=1)
    quat = Rotation.from_euler("xz", np.stack([0.3 * t, 0.5 * t], axis=1)).as_quat(scalar_first=True)
    keypoints = robot_hand(0.3, len(t))
    right = retarget_hand(make_hand(keypoints, 30.0, wrist_pos=pos, wrist_quat_wxyz=quat))
    mirrored = Rotation.from_matrix(MIRROR @ Rotation.from_quat(quat, scalar_first=True).as_matrix() @ MIRROR)
    left = retarget_hand(
        make_hand(
            keypoints @ MIRROR,
            30.0,
            side="left",
            wrist_pos=pos @ MIRROR,
            wrist_quat_wxyz=mirrored.as_quat(scalar_first=True),
        )
    )
    assert np.allclose(left.arm, right.arm, atol=1e-6)
    assert np.allclose(left.drivers, right.drivers, atol=1e-9)


def test_mano_order_is_mapped_to_mediapipe(tmp_path, shared_motions):
    mediapipe = np.load(shared_motions / CLIP)[:10]
    mano = np.empty_like(mediapipe)
    mano[:, MEDIAPIPE_FROM_MANO] = mediapipe
    np.save(tmp_path / "mano.npy", mano)
    assert np.allclose(load_hand(tmp_path / "mano.npy", layout="mano").keypoints, mediapipe)
    assert not np.allclose(load_hand(tmp_path / "mano.npy").keypoints, mediapipe)


def test_arm_follows_a_reachable_wrist_and_reports_what_it_cannot_reach():
    t = np.arange(40) / 30.0
    pos = np.stack([0.08 * np.sin(2 * t), 0.08 * (1 - np.cos(2 * t)), -0.05 * np.sin(2 * t)], axis=1)
    quat = Rotation.from_euler("z", 0.4 * np.sin(2 * t)[:, None]).as_quat(scalar_first=True)
    pos[30:] += [1.5, 0.0, 0.0]  # 1.5 m further: beyond the Panda's reach
    solution = solve_arm(pos, quat, 30.0)
    assert solution.position_error[:30].max() < 0.003
    assert solution.orientation_error[:30].max() < 1.0
    assert list(solution.unreachable) == list(range(30, 40))
    home, _ = home_mount_pose()
    assert np.allclose(solution.target_pos[0], home)


def test_shared_clip_meets_the_bars(shared_motions):
    trajectory = retarget_hand(load_hand(shared_motions / CLIP))
    quality = trajectory.quality
    assert quality["frames"] == 621
    assert quality["limit_violations"] == 0
    assert quality["speed_violations"] == 0
    assert quality["fingertip_direction_error_deg"]["all"]["median"] <= 15.0
    assert quality["thumb_index_distance"]["correlation"] >= 0.9
    assert np.all((trajectory.hardware >= 0) & (trajectory.hardware <= 1000))


def test_shared_clip_replays_stably_and_free_fingers_settle_on_target(shared_motions):
    trajectory = retarget_hand(load_hand(shared_motions / CLIP))
    replay = replay_hand(trajectory.being_h0, trajectory.fps)
    report = replay.report
    assert report["stable"]
    assert np.all(np.isfinite(replay.qpos))
    assert report["steps"] == 414  # 20.7 s at 20 Hz
    # Every driver ends within 5 degrees of its target, none of them stopped by the palm.
    assert report["settled_error_deg_max"] <= 5.0 and not report["blocked"], report["settled_error_deg"]
    assert all(held["over_5deg"] == 0 for held in report["held"].values()), report["held"]


def test_a_held_half_closed_hand_settles_on_target():
    from mimicsim.assets.franka_inspire import HOME_ARM_QPOS
    from mimicsim.assets.hand_mapping import mujoco_to_being_h0

    half = HAND_LOWER + 0.5 * (HAND_UPPER - HAND_LOWER)
    being_h0 = np.tile(mujoco_to_being_h0(np.concatenate([HOME_ARM_QPOS, half])), (45, 1))
    report = replay_hand(being_h0, 30.0).report
    assert report["steps"] == 30
    for name, held in report["held"].items():
        assert held["steps"] == 20 and held["over_5deg"] == 0, (name, held)
    assert report["settled_error_deg_max"] < 1.0 and not report["blocked"]


def _write_bad(tmp_path, name):
    path = tmp_path / name
    good = np.zeros((10, 21, 3))
    good[:, 1:] = robot_hand(0.2, 10)[:, 1:]
    if name == "shape.npy":
        np.save(path, np.zeros((10, 20, 3)))
    elif name == "nan.npy":
        bad = good.copy()
        bad[3, 4, 0] = np.nan
        np.save(path, bad)
    elif name == "centimetres.npy":
        np.save(path, good * 100.0)
    elif name == "pickle.npy":
        path.write_bytes(pickle.dumps({"keypoints": good}))
    elif name == "no_keypoints.npz":
        np.savez(path, points=good)
    elif name == "quaternion.npz":
        np.savez(path, keypoints=good, wrist_pos=np.zeros((10, 3)), wrist_quat_wxyz=np.ones((10, 4)))
    elif name == "one_frame.npy":
        np.save(path, good[:1])
    elif name == "fps.npz":
        np.savez(path, keypoints=good, fps=np.array(0.0))
    elif name == "wrist_pos_only.npz":
        np.savez(path, keypoints=good, wrist_pos=np.zeros((10, 3)))
    elif name == "wrist_frames.npz":
        np.savez(path, keypoints=good, wrist_pos=np.zeros((9, 3)), wrist_quat_wxyz=np.tile([1.0, 0, 0, 0], (9, 1)))
    elif name == "text.npy":
        path.write_text("not numpy")
    return path


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("shape.npy", "must have shape (T, 21, 3)"),
        ("nan.npy", "NaN or infinite keypoints"),
        ("centimetres.npy", "convert the keypoints to metres"),
        ("pickle.npy", "does not unpickle"),
        ("no_keypoints.npz", "needs a 'keypoints' array"),
        ("quaternion.npz", "unit quaternions"),
        ("one_frame.npy", "at least 2 frames"),
        ("fps.npz", "fps must lie in"),
        ("wrist_pos_only.npz", "give both 'wrist_pos'"),
        ("wrist_frames.npz", "like the keypoints"),
        ("text.npy", "not a NumPy .npy file"),
    ],
)
def test_bad_files_are_refused_with_one_line_and_nothing_written(tmp_path, capsys, name, message):
    path = _write_bad(tmp_path, name)
    out = tmp_path / "out" / "hand.npz"
    assert main(["retarget-hand", str(path), "--out", str(out), "--dataset", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not out.exists() and not (tmp_path / "ds").exists()


def test_retarget_hand_writes_npz_video_and_appends_dataset_episodes(tmp_path, capsys):
    import imageio.v2 as imageio
    import pyarrow.parquet as pq

    keypoints = np.concatenate([robot_hand(0.0, 8), robot_hand(0.6, 8)])
    np.savez(tmp_path / "hand.npz", keypoints=keypoints, fps=np.array(30.0))
    out, video, dataset = tmp_path / "hand_out.npz", tmp_path / "hand.mp4", tmp_path / "demos"
    args = ["retarget-hand", str(tmp_path / "hand.npz"), "--out", str(out), "--dataset", str(dataset)]
    assert main([*args, "--video", str(video)]) == 0
    assert main([*args, "--task", "close the hand"]) == 0
    with np.load(out) as saved:
        assert str(saved["schema"]) == "mimicsim.hand_trajectory/1"
        assert saved["closures"].shape == (16, 6) and saved["hardware"].dtype == np.int64
        assert saved["replay_state"].shape == saved["replay_action"].shape == (11, 13)
        quality = json.loads(str(saved["quality"]))
        assert quality["replay"]["stable"] and quality["limit_violations"] == 0
    assert imageio.get_reader(video).count_frames() == 11

    info = json.loads((dataset / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0"
    assert (info["total_episodes"], info["total_frames"], info["total_tasks"], info["fps"]) == (2, 22, 2, 20)
    features = info["features"]
    for camera in ("third_person", "wrist"):
        assert features[f"observation.images.{camera}"]["dtype"] == "video"
        assert features[f"observation.images.{camera}"]["shape"] == [224, 224, 3]
    assert features["observation.state"]["shape"] == features["action"]["shape"] == [13]
    assert features["action"]["names"][7:] == ["pinky", "ring", "middle", "index", "thumb_pitch", "thumb_yaw"]
    episodes = pq.read_table(dataset / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [e["episode_index"] for e in episodes] == [0, 1]
    assert [(e["dataset_from_index"], e["dataset_to_index"]) for e in episodes] == [(0, 11), (11, 22)]
    tasks = pq.read_table(dataset / "meta/tasks.parquet").to_pylist()
    assert [t["task"] for t in tasks][1] == "close the hand"
    for e in episodes:
        rows = pq.read_table(dataset / info["data_path"].format(chunk_index=0, file_index=e["data/file_index"]))
        assert set(rows.column_names) >= {"observation.state", "action", "timestamp", "frame_index", "index"}
        assert rows.column("index").to_pylist() == list(range(e["dataset_from_index"], e["dataset_to_index"]))
        assert rows.column("episode_index").to_pylist() == [e["episode_index"]] * e["length"]
        assert np.asarray(rows.column("action").to_pylist()).shape == (e["length"], 13)
        for camera in ("third_person", "wrist"):
            key = f"observation.images.{camera}"
            mp4 = dataset / info["video_path"].format(
                video_key=key, chunk_index=0, file_index=e[f"videos/{key}/file_index"]
            )
            assert imageio.get_reader(mp4).count_frames() == e["length"]
    stats = json.loads((dataset / "meta/stats.json").read_text())
    assert stats["action"]["count"] == [22]
    state = np.concatenate(
        [
            np.asarray(
                pq.read_table(dataset / f"data/chunk-000/file-00{i}.parquet").column("observation.state").to_pylist()
            )
            for i in (0, 1)
        ]
    )
    assert np.allclose(stats["observation.state"]["mean"], state.mean(axis=0), atol=1e-5)
    assert np.allclose(stats["observation.state"]["std"], state.std(axis=0), atol=1e-5)


def test_retarget_hand_with_a_wrist_pose_reports_unreachable_frames(tmp_path, capsys):
    t = np.arange(24) / 30.0
    pos = np.stack([0.05 * np.sin(3 * t), 0.03 * t, np.zeros_like(t)], axis=1)
    pos[18:] += [0.0, 0.0, 1.0]  # a metre up: beyond the Panda's reach
    quat = Rotation.from_euler("z", 0.3 * t[:, None]).as_quat(scalar_first=True)
    np.savez(tmp_path / "wrist.npz", keypoints=robot_hand(0.3, len(t)), wrist_pos=pos, wrist_quat_wxyz=quat)
    out = tmp_path / "wrist_out.npz"
    assert main(["retarget-hand", str(tmp_path / "wrist.npz"), "--out", str(out)]) == 0
    assert "6 unreachable frames" in capsys.readouterr().out
    with np.load(out) as saved:
        assert list(saved["unreachable"]) == list(range(18, 24))
        quality = json.loads(str(saved["quality"]))
        assert quality["unreachable_frames"] == list(range(18, 24))
        assert quality["wrist_position_error_mm"]["max"] > 100.0
        assert quality["limit_violations"] == quality["speed_violations"] == 0
        assert np.ptp(saved["arm"][:18], axis=0).max() > 0.05  # the arm did follow the wrist


def test_an_incompatible_dataset_is_refused_before_anything_is_written(tmp_path, capsys):
    from mimicsim.lerobot_dataset import Episode, append_episode

    dataset = tmp_path / "other"
    other = Episode({"observation.state": np.zeros((3, 7)), "action": np.zeros((3, 7))}, {}, "something else")
    append_episode(dataset, other, fps=20, robot_type="arm")
    np.save(tmp_path / "hand.npy", robot_hand(0.2, 6))
    out = tmp_path / "hand_out.npz"
    assert main(["retarget-hand", str(tmp_path / "hand.npy"), "--out", str(out), "--dataset", str(dataset)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "differ from this episode's" in err
    assert not out.exists()
    assert json.loads((dataset / "meta/info.json").read_text())["total_episodes"] == 1


def test_retarget_hand_side_left_matches_the_mirrored_right(tmp_path):
    right = np.concatenate([robot_hand(0.1, 6), robot_hand(0.7, 6)])
    np.save(tmp_path / "right.npy", right)
    np.save(tmp_path / "left.npy", right @ MIRROR)
    assert main(["retarget-hand", str(tmp_path / "right.npy"), "--out", str(tmp_path / "r.npz")]) == 0
    assert main(["retarget-hand", str(tmp_path / "left.npy"), "--side", "left", "--out", str(tmp_path / "l.npz")]) == 0
    with np.load(tmp_path / "r.npz") as r, np.load(tmp_path / "l.npz") as left:
        assert np.allclose(r["closures"], left["closures"], atol=1e-9)
        assert json.loads(str(left["source"]))["side"] == "left"
