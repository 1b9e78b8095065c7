"""Streaming retargeting: one frame in, one robot pose out, nothing from the future."""

from __future__ import annotations

import warnings
from pathlib import Path

import mujoco
import numpy as np
import pytest
from body_models import walking_poses, write_model

from mimicsim.assets import RobotSpec, load_robot
from mimicsim.errors import ConfigError, InputFileError, MimicsimError
from mimicsim.retarget.batch import discover
from mimicsim.retarget.human.formats import load_motion
from mimicsim.retarget.human.formats.body_model import load_body_model
from mimicsim.retarget.human.motion import HumanMotion
from mimicsim.retarget.human.normalize import resample
from mimicsim.retarget.human.procedural import Jump, Squat, Stand, Turn, Walk, generate
from mimicsim.retarget.quality import evaluate
from mimicsim.retarget.retargeter import RetargetConfig, retarget
from mimicsim.retarget.robot_motion import RobotMotion
from mimicsim.retarget.scaling import robot_rest
from mimicsim.retarget.stream import stream
from mimicsim.retarget.stream_targets import OnlineTargets, TargetSettings


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


@pytest.fixture(scope="module")
def walk():
    return generate([Stand(0.4), Walk(1.6), Turn(90.0), Stand(0.3)], fps=30.0, name="stream-walk")


def _keypoints(spec, qpos: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    data = mujoco.MjData(spec.model)
    ids = [spec.model.site(spec.keypoint_sites[n]).id for n in names]
    out = []
    for row in qpos:
        data.qpos[:] = row
        mujoco.mj_kinematics(spec.model, data)
        out.append(data.site_xpos[ids].copy())
    return np.array(out)


BAR_M = 0.02
"""The streamed robot's keypoints stay this close (m, mean over frames and keypoints) to the
offline retarget's of the same clip."""


def _stream_vs_offline(spec: RobotSpec, motion: HumanMotion) -> tuple[float, dict, RobotMotion]:
    """Mean keypoint distance (m) between the streamed and the offline robot, the streamed
    robot's quality summary, and the streamed robot."""
    offline = retarget(motion, spec)
    live = stream(spec, fps=motion.fps)
    poses = [live.push(frame) for frame in motion.positions]
    assert [p.frame for p in poses] == list(range(motion.num_frames))
    streamed = live.motion()
    names = offline.keypoint_names
    distance = np.linalg.norm(
        _keypoints(spec, streamed.qpos(), names) - _keypoints(spec, offline.qpos(), names), axis=-1
    )
    return float(distance.mean()), evaluate(streamed, spec)[0], streamed


@pytest.mark.parametrize("robot", ["g1", "h1", "h1_2"])
def test_stream_stays_near_the_offline_retarget(robot: str) -> None:
    """On every robot, through a walk, a turn, a squat and a jump (a flight, which the stream
    cannot see the end of): within the bar of the offline retarget, and never into the floor."""
    clip = generate(
        [Stand(0.3), Walk(1.2), Turn(90.0), Squat(depth=0.3, duration=1.0), Jump(height=0.2, distance=0.3), Stand(0.3)],
        fps=30.0,
        name="stream-bar",
    )
    distance, summary, _ = _stream_vs_offline(load_robot(robot), clip)
    assert distance < BAR_M, f"{robot}: streamed robot {1e3 * distance:.1f} mm from the offline one"
    assert summary["ground_penetration_frames"] == 0


def _shared_clips(folder: Path) -> list[tuple[str, HumanMotion]]:
    """Every body motion in `folder` the stream can read, once each: CMU 01_01 at 30 fps (GMR's
    condition; its 120 fps original is the same motion four times as long), and one of each pair
    of files holding the same clip."""
    clips = []
    for path in discover(folder):
        name = str(path.relative_to(folder))
        if name in ("humanml3d_263/012314_new_joint_vecs.npy", "representation_272/000000_smplx_joints55.npy"):
            continue  # the same motions as their golden-pair partners
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                motion = load_motion(path)
        except MimicsimError:
            continue  # normalisation statistics, the hand
        clips.append((name, resample(motion, 30.0) if motion.fps > 30.0 else motion))
    return clips


@pytest.mark.parametrize("robot", ["g1", "h1", "h1_2"])
def test_stream_stays_near_the_offline_retarget_on_real_clips(robot: str, shared_motions: Path) -> None:
    spec = load_robot(robot)
    clips = _shared_clips(shared_motions)
    assert len(clips) >= 6
    failures = []
    for name, motion in clips:
        distance, summary, _ = _stream_vs_offline(spec, motion)
        if distance >= BAR_M or summary["ground_penetration_frames"]:
            failures.append(
                f"{name}: {1e3 * distance:.1f} mm, {summary['ground_penetration_frames']} frames in the floor"
            )
    assert not failures, f"{robot}: " + "; ".join(failures)


def test_stream_follows_the_offline_retarget(g1, walk) -> None:
    """Every quality bar that matters live, on G1."""
    distance, summary, streamed = _stream_vs_offline(g1, walk)
    assert distance < BAR_M
    assert summary["ground_penetration_frames"] == 0
    assert summary["self_collision_frames"] == 0
    assert summary["joint_limit_violations"] == 0 and summary["velocity_violation_frames"] == 0
    assert summary["keypoint_error_mm"] < 40
    assert streamed.contacts.any(axis=0).all()  # both feet were pinned at some point


def test_a_pose_depends_on_no_later_frame(g1, walk) -> None:
    """Two clips sharing their first frames get the same poses for those frames."""
    shared = 40
    other = walk.positions.copy()
    other[shared:] = other[shared:][::-1]  # the same start, another future
    runs = []
    for clip in (walk.positions, other):
        live = stream(g1, fps=walk.fps, record=False)
        runs.append(np.array([live.push(frame).qpos for frame in clip]))
    np.testing.assert_array_equal(runs[0][:shared], runs[1][:shared])
    assert not np.allclose(runs[0][shared + 5 :], runs[1][shared + 5 :])


def test_bad_frames_are_refused_and_the_stream_goes_on(g1, walk) -> None:
    live = stream(g1, fps=walk.fps)
    with pytest.raises(InputFileError, match="units="):
        live.push(walk.positions[0] * 1000.0)  # millimetres in a metres stream: no plausible person
    live.push(walk.positions[0])
    nan = walk.positions[1].copy()
    nan[3, 1] = np.nan
    for bad, message in ((nan, "NaN"), (np.zeros((21, 3)), r"\(22, 3\)"), ({"poses": np.zeros(66)}, "joint positions")):
        with pytest.raises(ValueError, match=message):
            live.push(bad)
    assert live.push(walk.positions[1]).frame == 1
    assert live.motion().num_frames == 2


def test_up_axis_and_units_are_converted(g1, walk) -> None:
    to_y_up = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # internal x, y, z -> file z, x, y
    clip = walk.positions[:20]
    reference = stream(g1, fps=walk.fps, record=False)
    expected = np.array([reference.push(f).qpos for f in clip])
    for up in ("y", "auto"):
        live = stream(g1, fps=walk.fps, up=up, units="cm", record=False)
        got = np.array([live.push(100.0 * (f @ to_y_up.T)).qpos for f in clip])
        np.testing.assert_allclose(got, expected, atol=1e-9)


def test_body_model_frames(g1, tmp_path: Path) -> None:
    """Parameters pushed frame by frame give the poses of their joints pushed frame by frame."""
    write_model(tmp_path, "smplh")
    poses, trans = walking_poses("smplh", 30)
    betas = np.linspace(-1.0, 1.0, 10)
    np.savez(tmp_path / "clip.npz", poses=poses, trans=trans, betas=betas, fps=30.0)
    joints = load_motion(tmp_path / "clip.npz", body_models=tmp_path, up="y").positions
    model = load_body_model(tmp_path, "smplh", "neutral")
    by_params = stream(g1, fps=30.0, up="y", body_model=model, betas=betas, record=False)
    by_joints = stream(g1, fps=30.0, record=False)
    worst = 0.0
    for t in range(len(poses)):
        a = by_params.push({"poses": poses[t], "trans": trans[t]}).qpos
        b = by_joints.push(joints[t]).qpos
        worst = max(worst, float(np.abs(a - b).max()))
    # The two paths' joints agree to ~1e-12 m; the solver's collision bookkeeping (a pair is
    # re-measured only once it may have moved) can turn that into differences of a few mm or mrad.
    assert worst < 5e-3, worst


def test_whole_clip_settings_are_refused(g1) -> None:
    with pytest.raises(ConfigError, match="whole clip"):
        stream(g1, RetargetConfig(smoothing=0.1), fps=30.0)
    with pytest.raises(ConfigError, match="frame rate"):
        stream(g1, fps=0.0)


def test_running_median_matches_numpy() -> None:
    from mimicsim.retarget.stream_targets import RunningMedian

    values = np.random.default_rng(0).normal(size=60)
    window = RunningMedian(size=7)
    for i, value in enumerate(values):
        window.add(float(value))
        assert window.median() == pytest.approx(np.median(values[max(0, i - 6) : i + 1]))


def test_the_ground_shift_holds_through_a_flight(g1) -> None:
    """In the air the stream cannot know where the feet will land: the body's height shift stays
    what it was at take-off instead of drifting towards the last (tiptoe) contact frame's."""
    clip = generate([Stand(0.3), Jump(height=0.3, distance=0.2), Stand(0.3)], fps=30.0, name="flight")
    targets = OnlineTargets(robot_rest(g1), TargetSettings(fps=clip.fps))
    shift, airborne = np.empty(clip.num_frames), np.empty(clip.num_frames, dtype=bool)
    for t, frame in enumerate(clip.positions):
        targets.update(frame)
        assert targets.contacts.state is not None and targets._shift is not None
        airborne[t] = not targets.contacts.state.any()  # the estimate (before re-steps and pins)
        shift[t] = targets._shift
    flight = np.flatnonzero(airborne)
    assert flight.size >= 5 and np.all(np.diff(flight) == 1)  # one flight, several frames long
    assert np.ptp(shift[flight[0] - 1 : flight[-1] + 1]) == 0.0
    assert np.ptp(shift) > 0.0  # the shift does move while a foot is down
