"""The manipulation tasks: Gymnasium compliance, seeding, lazy rendering, invalid physics."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from mimicsim.envs.manipulation.registration import MANIPULATION_ENVS, register_manipulation_envs

SMALL = {"image_size": (32, 32)}


@pytest.fixture(scope="module", autouse=True)
def _registered():
    register_manipulation_envs()


def _flatten(obs) -> dict:
    out = {"state": obs["state"], "instruction": obs["instruction"]}
    out.update({f"image/{k}": v for k, v in obs.get("image", {}).items()})
    out.update({f"privileged/{k}": v for k, v in obs.get("privileged", {}).items()})
    return out


def _rollout(env_id: str, seed: int, steps: int = 3) -> tuple[list[dict], dict]:
    env = gym.make(env_id, privileged=True, **SMALL)
    obs, info = env.reset(seed=seed)
    trace = [_flatten(obs)]
    action = obs["state"].copy()
    action[0] += 0.05
    for _ in range(steps):
        obs, _, _, _, info = env.step(action)
        trace.append(_flatten(obs))
    env.close()
    return trace, info


@pytest.mark.parametrize("env_id", list(MANIPULATION_ENVS))
def test_check_env(env_id):
    env = gym.make(env_id, privileged=True, max_steps=5, **SMALL)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", list(MANIPULATION_ENVS))
def test_same_seed_same_episode_different_seed_differs(env_id):
    first, info_a = _rollout(env_id, seed=3)
    second, info_b = _rollout(env_id, seed=3)
    for a, b in zip(first, second, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], np.ndarray):
                assert np.array_equal(a[key], b[key]), key
            else:
                assert a[key] == b[key], key
    assert info_a["score"] == info_b["score"] and info_a["is_success"] == info_b["is_success"]
    other, _ = _rollout(env_id, seed=4)
    assert not np.array_equal(first[0]["image/third_person"], other[0]["image/third_person"])
    privileged = [k for k in first[0] if k.startswith("privileged/") and k != "privileged/step"]
    assert any(not np.array_equal(first[0][k], other[0][k]) for k in privileged)


def test_observation_layout_and_info():
    env = gym.make("mimicsim/PickPlace-v0", **SMALL)
    obs, info = env.reset(seed=0)
    assert obs["state"].dtype == np.float32 and obs["state"].shape == (13,)
    assert set(obs["image"]) == {"third_person", "wrist"}
    assert obs["image"]["wrist"].dtype == np.uint8 and obs["image"]["wrist"].shape == (32, 32, 3)
    assert "privileged" not in obs
    assert isinstance(obs["instruction"], str) and " the " in f" {obs['instruction']} "
    _, _, _, _, info = env.step(obs["state"])
    assert {"is_success", "score", "invalid"} <= set(info)
    env.close()


def test_images_are_rendered_only_at_query_steps():
    env = gym.make("mimicsim/PickPlace-v0", render_every=3, cameras=("wrist",), **SMALL).unwrapped
    obs, info = env.reset(seed=0)
    assert env.render_count == 1 and info["image_fresh"]
    counts, fresh = [], []
    for _ in range(6):
        obs, _, _, _, info = env.step(obs["state"])
        counts.append(env.render_count)
        fresh.append(info["image_fresh"])
    assert counts == [1, 1, 2, 2, 2, 3]
    assert fresh == [False, False, True, False, False, True]
    state_only = gym.make("mimicsim/PickPlace-v0", cameras=()).unwrapped
    obs, _ = state_only.reset(seed=0)
    state_only.step(obs["state"])
    assert "image" not in obs and state_only.render_count == 0
    env.close()
    state_only.close()


def test_exploding_physics_marks_the_episode_invalid():
    env = gym.make("mimicsim/PickPlace-v0", cameras=()).unwrapped
    obs, _ = env.reset(seed=0)
    env.data.qvel[:] = 1e6
    obs, _, terminated, _truncated, info = env.step(obs["state"])
    assert info["invalid"] and terminated and not info["is_success"]
    assert np.all(np.isfinite(obs["state"]))
    env.close()


FAULTS = {
    "nan action": lambda env, action: action * np.nan,
    "inf action": lambda env, action: action + np.inf,
    "nan state": lambda env, action: env.data.qpos.__setitem__(0, np.nan) or action,
    "huge velocity": lambda env, action: env.data.qvel.__setitem__(slice(None), 1e12) or action,
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("env_id", ["mimicsim/PickPlace-v0", "mimicsim/Pour-v0", "mimicsim/Unfold-v0"])
def test_a_fault_ends_the_episode_as_invalid_with_its_reason(env_id, fault):
    env = gym.make(env_id, cameras=()).unwrapped
    obs, _ = env.reset(seed=1)
    action = FAULTS[fault](env, obs["state"].astype(np.float64))
    obs, reward, terminated, _, info = env.step(action)
    assert terminated and info["invalid"] and not info["is_success"] and info["invalid_reason"]
    assert np.isfinite(reward) and np.all(np.isfinite(obs["state"])) and info["score"] == 0.0
    if "action" in fault:
        assert "not finite" in info["invalid_reason"]
    env.close()


def test_a_torn_cloth_marks_the_episode_invalid():
    env = gym.make("mimicsim/Unfold-v0", cameras=()).unwrapped
    obs, _ = env.reset(seed=0)
    env.data.qpos[env._vertex_qpos[0] + 2] += 0.3  # one corner vertex 30 cm above its neighbours
    _, _, terminated, _, info = env.step(obs["state"])
    assert info["invalid"] and terminated
    env.close()


def test_the_beads_settle_inside_the_cup():
    from mimicsim.envs.manipulation.pour import CUP_RADIUS

    env = gym.make("mimicsim/Pour-v0", cameras=(), privileged=True).unwrapped
    obs, info = env.reset(seed=5)
    for _ in range(10):
        obs, _, _, _, info = env.step(obs["state"])
    cup = obs["privileged"]["cup_pose_wxyz"]
    beads = obs["privileged"]["particles"]
    assert np.all(np.linalg.norm(beads[:, :2] - cup[:2], axis=1) < CUP_RADIUS)
    assert np.all(beads[:, 2] > cup[2]) and info["spilled"] == 0 and info["score"] == 0.0
    env.close()
