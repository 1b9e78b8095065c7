"""Policies as Gymnasium-side objects: stable-baselines3's evaluate_policy and plain loops."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from fake_task import ENV_ID, GoalPolicy
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv

from mimicsim.envs.manipulation.flat_observation import FlatObservation, unflatten_observation
from mimicsim.envs.manipulation.registration import register_manipulation_envs
from mimicsim.errors import ConfigError
from mimicsim.policies.manipulation.experts import make_expert
from mimicsim.policies.manipulation.gym_policy import as_gym_policy
from mimicsim.policies.manipulation.zmq_policy import ZmqPolicy
from mimicsim.policies.manipulation.zmq_server import ZmqPolicyServer


def sb3_rewards(gym_policy, env_id: str, episodes: int, seed: int, **env_kwargs) -> list[float]:
    venv = DummyVecEnv([lambda: FlatObservation(gym.make(env_id, **gym_policy.env_kwargs(), **env_kwargs))])
    venv.seed(seed)
    rewards, _ = evaluate_policy(gym_policy, venv, n_eval_episodes=episodes, return_episode_rewards=True, warn=False)
    venv.close()
    return rewards


def test_evaluate_policy_runs_the_zmq_adapter_on_pick_place_like_the_expert_itself():
    register_manipulation_envs()
    with ZmqPolicyServer(make_expert("pick-place")) as server, ZmqPolicy(server.uri) as remote:
        over_zmq = sb3_rewards(as_gym_policy(remote), "mimicsim/PickPlace-v0", 2, seed=5)
    local = sb3_rewards(as_gym_policy(make_expert("pick-place")), "mimicsim/PickPlace-v0", 2, seed=5)
    # Reward 1 on the step that succeeds: both episodes succeed, identically.
    assert over_zmq == local == [1.0, 1.0]


def test_k_of_h_actions_are_executed_and_episode_start_resets():
    inner = GoalPolicy(horizon=4, steps=3)
    policy = as_gym_policy(inner, replan_steps=2)
    env = gym.make(ENV_ID, **policy.env_kwargs())
    obs, _ = env.reset(seed=1)
    start = True
    for _ in range(6):
        action, _ = policy.predict(obs, episode_start=np.array([start]))
        obs, *_ = env.step(action)
        start = False
    assert inner.calls == 3 and inner.resets == 1
    policy.predict(obs, episode_start=np.array([True]))
    assert inner.calls == 4 and inner.resets == 2


def test_a_batch_needs_one_policy_per_environment():
    policy = as_gym_policy(GoalPolicy())
    batch = {"state": np.zeros((2, 13), np.float32), "privileged.goal": np.zeros((2, 13))}
    with pytest.raises(ConfigError, match="one per environment"):
        policy.predict(batch)
    two = as_gym_policy([GoalPolicy(), GoalPolicy()])
    actions, _ = two.predict(batch, episode_start=np.ones(2))
    assert actions.shape == (2, 13)


def test_flat_observations_round_trip():
    env = FlatObservation(gym.make(ENV_ID, cameras=("ego",), privileged=True))
    flat, _ = env.reset(seed=0)
    assert set(flat) == {"state", "instruction", "image.ego", "privileged.goal"}
    assert env.observation_space.contains(flat)
    nested = unflatten_observation(flat)
    assert nested["instruction"] == "reach the goal" and nested["image"]["ego"].shape == (8, 8, 3)
    assert set(nested["privileged"]) == {"goal"}
