"""Training a tracker: a short run writes a checkpoint that loads, resumes and exports to ONNX."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from mimicsim.assets import load_robot
from mimicsim.envs.tracking.config import TrackingEnvCfg
from mimicsim.envs.tracking.reference_clips import squat_clip
from mimicsim.errors import ConfigError, InputFileError
from mimicsim.policies.tracking.checkpoint import read_checkpoint
from mimicsim.policies.tracking.load import load_tracker
from mimicsim.policies.tracking.onnx_export import export_onnx
from mimicsim.policies.tracking.tracker import OnnxTracker
from mimicsim.policies.tracking.training import PPOConfig, TrainConfig, train_tracker
from mimicsim.retarget import robot_motion

SMALL = TrainConfig(
    env=TrackingEnvCfg(robot="g1"),
    ppo=PPOConfig(n_steps=64, batch_size=256, n_epochs=2, hidden=(64, 64)),
    steps=2048,
    num_envs=16,
    workers=1,
    eval_every=1024,
    checkpoint_every=1024,
    seed=3,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tracker")
    motion = robot_motion.save(squat_clip(load_robot("g1"), seconds=2.0), folder / "squat.npz")
    result = train_tracker([motion], folder / "run", SMALL)
    return motion, folder / "run", result


def test_a_short_run_writes_logs_and_checkpoints(run):
    _, out, result = run
    assert result.num_timesteps == 2048
    for name in ("progress.csv", "eval.csv", "config.json", "checkpoints/latest.npz"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "checkpoints").glob("step_*.npz")) == [
        "step_0000001024.npz",
        "step_0000002048.npz",
    ]
    assert any(p.name.startswith("events.out.tfevents") for p in out.iterdir())
    evals = (out / "eval.csv").read_text().splitlines()
    assert evals[0].startswith("timesteps,wall_seconds,success_rate") and len(evals) >= 3
    assert json.loads((out / "config.json").read_text())["config"]["num_envs"] == 16


def test_the_checkpoint_loads_as_a_policy(run):
    _motion, _, result = run
    checkpoint = read_checkpoint(result.checkpoint)
    assert checkpoint.header["num_timesteps"] == 2048 and checkpoint.env_cfg == SMALL.env
    meta = checkpoint.header["tracker"]
    assert meta["robot"] == "g1" and len(meta["joint_names"]) == 29 and len(meta["action_scale"]) == 29
    assert sum(size for _, size in meta["observation_layout"]) == checkpoint.obs_mean.shape[0]
    tracker = load_tracker(result.checkpoint)
    obs = np.random.default_rng(0).normal(size=(5, checkpoint.obs_mean.shape[0])).astype(np.float32)
    assert tracker.act(obs).shape == (5, 29)


def test_training_resumes_from_a_checkpoint(run, tmp_path):
    motion, _, result = run
    resumed = train_tracker(
        [motion],
        tmp_path / "resumed",
        TrainConfig(**{**SMALL.__dict__, "steps": 3072, "workers": 0}),
        resume=result.checkpoint,
    )
    assert resumed.num_timesteps == 3072  # 2048 from the checkpoint + one more rollout
    before, after = read_checkpoint(result.checkpoint), read_checkpoint(resumed.checkpoint)
    assert after.obs_count > before.obs_count  # normalisation statistics carried over and grew
    assert not np.allclose(after.policy["action_net.weight"], before.policy["action_net.weight"])


def test_resuming_with_other_settings_is_refused(run, tmp_path):
    motion, _, result = run
    other = TrainConfig(**{**SMALL.__dict__, "ppo": PPOConfig(hidden=(32,))})
    with pytest.raises(ConfigError, match="other environment or PPO settings"):
        train_tracker([motion], tmp_path / "other", other, resume=result.checkpoint)


def test_onnx_export_matches_torch_and_carries_metadata(run, tmp_path):
    _, _, result = run
    path = export_onnx(result.checkpoint, tmp_path / "policy.onnx")
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    meta = json.loads(props["mimicsim"])
    assert props["joint_names"].split(",") == meta["joint_names"]
    assert {"kp", "kd", "action_scale", "default_joint_pos", "observation_layout", "env"} <= set(meta)
    assert json.loads(path.with_suffix(".json").read_text())["robot"] == "g1"
    torch_tracker, onnx_tracker = load_tracker(result.checkpoint), load_tracker(path)
    assert isinstance(onnx_tracker, OnnxTracker)
    obs = (
        np.random.default_rng(1).normal(size=(64, len(read_checkpoint(result.checkpoint).obs_mean))).astype(np.float32)
    )
    np.testing.assert_allclose(onnx_tracker.act(obs), torch_tracker.act(obs), rtol=1e-4, atol=1e-5)


def test_bad_policy_files_are_explained(tmp_path):
    with pytest.raises(InputFileError, match="no such policy"):
        load_tracker(tmp_path / "missing.npz")
    bogus = tmp_path / "bogus.npz"
    np.savez(bogus, x=np.zeros(3))
    with pytest.raises(InputFileError, match="not a mimicsim tracker checkpoint"):
        load_tracker(bogus)


def test_the_train_tracker_verb(tmp_path, capsys):
    from mimicsim.cli import main

    motion = robot_motion.save(squat_clip(load_robot("g1"), seconds=1.0), tmp_path / "squat.npz")
    assert (
        main(
            [
                "train-tracker",
                str(motion),
                "--robot",
                "g1",
                "--out",
                str(tmp_path / "run"),
                "--steps",
                "0",
                "--num-envs",
                "2",
                "--workers",
                "0",
                "--ppo.batch-size",
                "64",
            ]
        )
        == 0
    )
    assert (tmp_path / "run" / "policy.onnx").is_file() and (tmp_path / "run" / "policy.json").is_file()
    assert "policy:" in capsys.readouterr().out
    assert main(["train-tracker", str(tmp_path / "missing.npz")]) == 2
    assert "missing.npz: no such motion file" in capsys.readouterr().err
