"""The tracking environment: Gymnasium conformity, seeding, reward and termination semantics."""

from __future__ import annotations

import copy
import dataclasses

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from mimicsim.assets import load_robot, robot_names
from mimicsim.envs.tracking.batch import TrackingBatch
from mimicsim.envs.tracking.config import TrackingEnvCfg
from mimicsim.envs.tracking.env import ENV_IDS, TrackingEnv, register_tracking_envs
from mimicsim.envs.tracking.reference_clips import arm_wave_clip, squat_clip
from mimicsim.errors import ConfigError, InputFileError

ROBOTS = robot_names()


@pytest.mark.parametrize("robot", ROBOTS)
def test_robot_stands_under_pd_at_the_environments_physics_settings(robot):
    """Tracking starts from a robot that can hold still: at the environment's 200 Hz physics with
    the reference's own joints as targets, the standing robot neither rocks nor falls over 10 s."""
    spec, sim = load_robot(robot), TrackingEnvCfg(robot=robot).sim
    model = copy.copy(spec.model)
    model.opt.timestep, model.opt.iterations, model.opt.ls_iterations = sim.timestep, sim.iterations, sim.ls_iterations
    data = spec.make_data()
    data.ctrl[:] = spec.default_qpos[spec.qpos_adr]
    start = data.qpos[:3].copy()
    for _ in range(round(10.0 / sim.timestep)):
        mujoco.mj_step(model, data)
    assert np.linalg.norm(data.qpos[:3] - start) < 0.05
    assert np.abs(data.qvel).max() < 0.05


@pytest.fixture(scope="module")
def g1_squat():
    return squat_clip(load_robot("g1"), seconds=2.0)


@pytest.mark.parametrize("robot", ROBOTS)
def test_check_env_passes_for_every_robot(robot):
    register_tracking_envs()
    env = gym.make(ENV_IDS[robot], motions=[arm_wave_clip(load_robot(robot), seconds=1.0)])
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs) and info["frame"] >= 0
    env.close()


def test_registered_ids_cover_every_robot():
    register_tracking_envs()
    assert set(ENV_IDS) == set(robot_names())
    for env_id in ENV_IDS.values():
        assert env_id in gym.registry


def _rollout(env: TrackingEnv, seed: int, steps: int = 40) -> tuple[np.ndarray, list[float]]:
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(0)
    observations, rewards = [obs], []
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(rng.normal(size=env.action_space.shape).astype(np.float32))
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            obs, _ = env.reset()
            observations.append(obs)
    return np.array(observations), rewards


def test_seeding_makes_rollouts_identical(g1_squat):
    cfg = TrackingEnvCfg(robot="g1")
    cfg = dataclasses.replace(cfg, randomization=dataclasses.replace(cfg.randomization, enabled=True))
    a = _rollout(TrackingEnv([g1_squat], cfg=cfg), seed=7)
    b = _rollout(TrackingEnv([g1_squat], cfg=cfg), seed=7)
    c = _rollout(TrackingEnv([g1_squat], cfg=cfg), seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    assert not np.array_equal(a[0][0], c[0][0])  # another seed starts elsewhere


def test_reward_is_maximal_and_nothing_terminates_at_the_reference(g1_squat):
    env = TrackingEnv([g1_squat], robot="g1")
    env.reset(seed=0)
    ref = env.reference
    best = env.cfg.reward.max_reward_per_second * env.batch.dt
    for frame in (0, 17, ref.num_frames - 2):
        env.set_state(ref.qpos[frame], ref.qvel[frame], frame)
        result = env.evaluate()
        assert result.termination is None
        assert result.reward == pytest.approx(best, rel=1e-9)
        assert max(result.errors.values()) < 1e-6


def test_perturbing_the_state_lowers_the_reward_and_crossing_a_threshold_terminates(g1_squat):
    env = TrackingEnv([g1_squat], robot="g1")
    env.reset(seed=0)
    ref, frame = env.reference, 20
    best = env.cfg.reward.max_reward_per_second * env.batch.dt
    rewards = []
    for lift in (0.05, 0.1, 0.2):  # metres the whole robot is raised, below the 0.25 m threshold
        qpos = ref.qpos[frame].copy()
        qpos[2] += lift
        env.set_state(qpos, ref.qvel[frame], frame)
        result = env.evaluate()
        assert result.termination is None
        rewards.append(result.reward)
    assert best > rewards[0] > rewards[1] > rewards[2]

    qpos = ref.qpos[frame].copy()
    qpos[2] += 0.3
    env.set_state(qpos, ref.qvel[frame], frame)
    assert env.evaluate().termination == "anchor_height"

    qpos = ref.qpos[frame].copy()
    qpos[3:7] = [np.cos(0.5), np.sin(0.5), 0.0, 0.0]  # rolled by 1 rad about the pelvis
    env.set_state(qpos, ref.qvel[frame], frame)
    assert env.evaluate().termination == "anchor_orientation"

    qpos = ref.qpos[frame].copy()
    knee = env.batch.robot.joint_names.index("left_knee_joint")
    hip = env.batch.robot.joint_names.index("left_hip_pitch_joint")
    qpos[env.batch.robot.qpos_adr[[hip, knee]]] = [-1.5, 0.0]  # left leg swung forward: foot rises
    env.set_state(qpos, ref.qvel[frame], frame)
    assert env.evaluate().termination == "end_effector_height"


def test_step_reports_errors_and_the_reason_of_a_failure(g1_squat):
    env = TrackingEnv([g1_squat], robot="g1")
    env.reset(seed=0, options={"frame": 0})
    _obs, reward, terminated, truncated, info = env.step(np.zeros(env.action_space.shape, np.float32))
    assert info["frame"] == 1 and set(info["errors"]) >= {"anchor_pos", "body_pos_global", "joint_pos"}
    assert 0 < reward <= env.cfg.reward.max_reward_per_second * env.batch.dt
    env.data.qpos[2] += 1.0  # lift the robot far off its reference
    _, _, terminated, truncated, info = env.step(np.zeros(env.action_space.shape, np.float32))
    assert terminated and not truncated and info["termination"] in ("anchor_height", "end_effector_height")


def test_episodes_are_truncated_at_the_end_of_their_clip(g1_squat):
    env = TrackingEnv([g1_squat], cfg=TrackingEnvCfg(robot="g1").evaluation())
    env.reset(seed=0, options={"frame": env.reference.num_frames - 3})
    actions = (env.reference.joint_pos - env.batch.default_joint_pos) / env.batch.action_scale
    outcomes = [env.step(actions[env.frame + 1].astype(np.float32))[2:4] for _ in range(2)]
    assert outcomes == [(False, False), (False, True)]


def test_batch_rows_match_single_environments(g1_squat):
    """The vectorised engine computes exactly what K separate environments would."""
    cfg = TrackingEnvCfg(robot="g1").evaluation()
    batch = TrackingBatch([g1_squat], cfg, num_envs=3, seed=0)
    frames = np.array([0, 10, 25])
    batch.reset(np.arange(3), frames)
    actions = np.random.default_rng(1).normal(size=(3, 29)) * 0.5
    result = batch.step(actions)
    for k in range(3):
        env = TrackingEnv([g1_squat], cfg=cfg)
        env.reset(seed=0, options={"frame": int(frames[k])})
        _, reward, _, _, info = env.step(actions[k])
        assert reward == pytest.approx(result.reward[k], rel=1e-12)
        assert info["errors"]["body_pos"] == pytest.approx(result.errors["body_pos"][k], rel=1e-12)


def test_failure_weighted_sampling_starts_before_failures():
    env = TrackingEnv([arm_wave_clip(load_robot("g1"), seconds=6.0)], robot="g1")
    env.reset(seed=0)
    sampler = env.batch.sampler
    assert sampler.num_bins == 6
    for _ in range(30):
        sampler.record(int(sampler.bin_start[3]) + 1, failed=True)
    probabilities = sampler.probabilities()
    assert probabilities.argmax() == 3
    assert probabilities[2] > probabilities[1] > probabilities[0] == probabilities[5]  # earlier bins favoured
    starts = [env.reset()[1]["frame"] for _ in range(200)]
    before_failures = np.mean([sampler.bin_start[1] <= f < sampler.bin_end[3] for f in starts])
    assert before_failures > 0.7  # uniform sampling would give 1/2


def test_bad_inputs_are_explained():
    with pytest.raises(ConfigError, match="robot"):
        TrackingEnv([squat_clip(load_robot("g1"), seconds=1.0)], robot="h1", cfg=TrackingEnvCfg(robot="g1"))
    with pytest.raises(InputFileError, match="not 'h1'"):
        TrackingEnv([squat_clip(load_robot("g1"), seconds=1.0)], robot="h1")


def test_vector_env_steps_a_batch_and_restarts_ended_episodes(g1_squat):
    register_tracking_envs()
    envs = gym.make_vec(ENV_IDS["g1"], num_envs=4, vectorization_mode="vector_entry_point", motions=[g1_squat])
    obs, info = envs.reset(seed=1)
    assert obs.shape == (4, envs.single_observation_space.shape[0]) and info["frame"].shape == (4,)
    envs.unwrapped.batch.datas[2].qpos[2] += 1.0  # robot 2 is lifted far off its reference
    obs, reward, terminated, _truncated, info = envs.step(np.zeros(envs.action_space.shape, np.float32))
    assert terminated.tolist() == [False, False, True, False] and reward.shape == (4,)
    assert info["_final_obs"].tolist() == [False, False, True, False]
    assert info["termination"][2] in ("anchor_height", "end_effector_height")
    assert not np.array_equal(info["final_obs"][2], obs[2])  # the new episode's first observation
    assert info["errors"]["body_pos_global"].shape == (4,)
    envs.close()


TRACKING_FAULTS = {
    "nan action": (lambda data, action: action * np.nan, "non_finite_action"),
    "inf action": (lambda data, action: action - np.inf, "non_finite_action"),
    "nan state": (lambda data, action: data.qpos.__setitem__(9, np.nan) or action, "simulation_unstable"),
    "huge velocities": (lambda data, action: data.qvel.__setitem__(slice(None), 1e12) or action, "simulation_unstable"),
}


@pytest.mark.parametrize("fault", TRACKING_FAULTS)
@pytest.mark.parametrize("robot", ROBOTS)
def test_a_fault_terminates_with_its_reason_and_nothing_non_finite_escapes(robot, fault):
    register_tracking_envs()
    env = gym.make(ENV_IDS[robot], motions=[squat_clip(load_robot(robot), seconds=1.0)])
    obs, _ = env.reset(seed=0)
    inject, reason = TRACKING_FAULTS[fault]
    action = inject(env.unwrapped.batch.datas[0], np.zeros(env.action_space.shape))
    obs, reward, terminated, _truncated, info = env.step(action)
    assert terminated and info["termination"] == reason
    assert np.isfinite(reward) and np.all(np.isfinite(obs))
    obs, _ = env.reset(seed=1)  # the next episode is clean
    assert np.all(np.isfinite(obs))
    env.close()
