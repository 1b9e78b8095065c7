"""Refinement: physical rollouts, failure reasons, batch filtering, tracking metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mimicsim.assets import load_robot
from mimicsim.envs.tracking.config import TrackingEnvCfg
from mimicsim.envs.tracking.reference_clips import arm_wave_clip, floating_clip
from mimicsim.errors import InputFileError
from mimicsim.eval.tracking_metrics import tracking_metrics
from mimicsim.policies.tracking.load import load_tracker
from mimicsim.policies.tracking.refine import refine_file, refine_motion
from mimicsim.policies.tracking.refine_batch import refine_batch
from mimicsim.policies.tracking.training import PPOConfig, TrainConfig, train_tracker
from mimicsim.retarget import robot_motion


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A standing clip (the untrained policy's zero actions hold the default pose: tracked) and a
    floating one (impossible), plus a policy checkpoint that was never trained."""
    folder = tmp_path_factory.mktemp("refine")
    g1 = load_robot("g1")
    clips = folder / "clips"
    stand = robot_motion.save(arm_wave_clip(g1, seconds=2.0, amplitude=0.0), clips / "stand.npz")
    float_ = robot_motion.save(floating_clip(g1, seconds=2.0), clips / "float.npz")
    config = TrainConfig(
        env=TrackingEnvCfg(robot="g1"),
        ppo=PPOConfig(n_steps=8, batch_size=16, hidden=(32,)),
        steps=0,
        num_envs=2,
        workers=0,
    )
    policy = train_tracker([stand], folder / "run", config).checkpoint
    return stand, float_, policy


def test_an_impossible_clip_fails_with_a_reason(clips, tmp_path):
    _, float_, policy = clips
    out = tmp_path / "float_physical.npz"
    refinement = refine_file(float_, policy, out)
    assert not refinement.success
    # The reference rises off the floor; the robot cannot: its anchor (and feet) fall behind in height.
    assert refinement.termination in ("anchor_height", "end_effector_height")
    assert 0 < refinement.failure_frame < 60 and refinement.failure_time == pytest.approx(
        refinement.failure_frame / 30, abs=0.04
    )
    assert f"{refinement.termination} at frame {refinement.failure_frame}" in refinement.describe()
    physical = robot_motion.load(out)
    assert physical.kind == "physical" and physical.quality["success"] is False
    assert physical.quality["termination"] == refinement.termination
    assert physical.num_frames < 2 * 50  # stopped at the failure (2 s at 50 Hz)
    assert set(physical.frame_metrics) >= {"body_pos_global", "anchor_pos", "joint_pos"}
    assert physical.frame_metrics["anchor_pos"][-1] > 0.2


def test_a_possible_clip_is_tracked_to_success(clips):
    stand, _, policy = clips
    reference = robot_motion.load(stand)
    refinement = refine_motion(reference, load_tracker(policy), "stand")
    physical = refinement.motion
    assert refinement.success and refinement.termination is None and refinement.failure_frame is None
    assert physical.fps == pytest.approx(50.0) and physical.num_frames == 101
    assert physical.quality["max_body_error_m"] < 0.1
    assert physical.contacts[1:].all()  # both feet stay on the floor (the start pose hovers 1 mm)
    metrics = tracking_metrics(physical, reference)
    assert metrics["success"] and metrics["tracked_fraction"] == pytest.approx(1.0)
    assert metrics["mpjpe_global_mm"] < 100 and metrics["mpjpe_root_mm"] < metrics["mpjpe_global_mm"] + 1e-9
    assert metrics["ground_penetration_frames"] == 0


def test_tracking_metrics_of_a_perfect_rollout_are_zero(clips):
    stand, _, _ = clips
    reference = robot_motion.load(stand)
    metrics = tracking_metrics(reference, reference)
    assert metrics["mpjpe_global_mm"] == pytest.approx(0.0, abs=1e-9) and metrics["joint_error_rad"] == 0.0
    assert metrics["success"]


def test_refine_batch_keeps_tracked_clips_and_reports_the_rest(clips, tmp_path):
    stand, _, policy = clips
    out = tmp_path / "refined"
    report = refine_batch(stand.parent, policy, out, progress=False)
    assert (report.summary.done, report.summary.failed) == (1, 1)
    assert (out / "stand.npz").is_file() and not (out / "float.npz").exists()
    data = json.loads(report.report_path.read_text())
    by_source = {c["source"]: c for c in data["clips"]}
    assert by_source["stand.npz"]["status"] == "done"
    rejected = by_source["float.npz"]
    assert rejected["status"] == "failed" and "height at frame" in rejected["error"]
    assert rejected["quality"]["failure_frame"] > 0
    again = refine_batch(stand.parent, policy, out, progress=False)  # resumable: nothing left to do
    assert (again.summary.done, again.summary.failed, again.summary.skipped) == (0, 0, 1)


def test_refine_refuses_a_motion_of_another_robot(clips, tmp_path):
    _, _, policy = clips
    h1 = robot_motion.save(arm_wave_clip(load_robot("h1"), seconds=1.0), tmp_path / "h1.npz")
    with pytest.raises(InputFileError, match="policy drives 'g1'"):
        refine_file(h1, policy)
    assert not np.any([p.name.endswith("_physical.npz") for p in tmp_path.iterdir()])


def test_the_refine_and_eval_tracking_verbs(clips, tmp_path, capsys):
    from mimicsim.cli import main

    stand, float_, policy = clips
    assert main(["refine", str(float_), "--policy", str(policy), "--out", str(tmp_path / "f.npz")]) == 0
    assert "not tracked" in capsys.readouterr().out and (tmp_path / "f.npz").is_file()
    report = tmp_path / "report.json"
    assert main(["eval-tracking", str(stand.parent), "--policy", str(policy), "--out", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "MPJPE" in printed and "stand.npz" in printed
    data = json.loads(report.read_text())
    assert data["summary"]["clips"] == 2 and data["summary"]["success_rate"] == 0.5
    assert data["clips"]["float.npz"]["success"] is False and data["clips"]["stand.npz"]["success"] is True
    assert main(["refine-batch", str(stand.parent), "--policy", str(tmp_path / "none.onnx")]) == 2


def test_the_shipped_g1_policy_tracks_the_demo_clip(tmp_path):
    """`make demo`'s contract: if this fails after a retargeting change, retrain the policy
    (policies/pretrained/README.md)."""
    from mimicsim.policies.tracking.pretrained import pretrained_policy
    from mimicsim.retarget.human.procedural import demo_clip
    from mimicsim.retarget.retargeter import retarget

    tracker = load_tracker(pretrained_policy("g1"))
    assert tracker.metadata["joint_names"] == list(load_robot("g1").joint_names)
    refinement = refine_motion(retarget(demo_clip(), "g1"), tracker, "demo")
    assert refinement.success, refinement.describe()
