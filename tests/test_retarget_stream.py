"""Streaming retargeting: one frame in, one robot pose out, nothing from the future."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest
from body_models import walking_poses, write_model

from mimicsim.assets import load_robot
from mimicsim.errors import ConfigError, InputFileError
from mimicsim.retarget.human.formats import load_motion
from mimicsim.retarget.human.formats.body_model import load_body_model
from mimicsim.retarget.human.procedural import Stand, Turn, Walk, generate
from mimicsim.retarget.quality import evaluate
from mimicsim.retarget.retargeter import RetargetConfig, retarget
from mimicsim.retarget.stream import stream


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


def test_stream_follows_the_offline_retarget(g1, walk) -> None:
    """Within 2 cm of the offline retarget's keypoints, with every quality bar that matters live."""
    offline = retarget(walk, g1)
    live = stream(g1, fps=walk.fps)
    poses = [live.push(frame) for frame in walk.positions]
    assert [p.frame for p in poses] == list(range(walk.num_frames))
    streamed = live.motion()
    distance = np.linalg.norm(
        _keypoints(g1, streamed.qpos(), offline.keypoint_names)
        - _keypoints(g1, offline.qpos(), offline.keypoint_names),
        axis=-1,
    )
    assert distance.mean() < 0.02
    summary, _ = evaluate(streamed, g1)
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
