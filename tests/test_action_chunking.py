import gymnasium as gym
import numpy as np
import pytest
from fake_task import ENV_ID, MAX_STEPS, GoalPolicy

from mimicsim.envs.manipulation.chunking import ActionChunking


def make(horizon=4, replan_steps=None, render_every=None):
    k = horizon if replan_steps is None else replan_steps
    return ActionChunking(gym.make(ENV_ID, privileged=True, render_every=render_every or k), horizon, replan_steps)


def test_executes_k_actions_and_the_policy_sees_only_fresh_images():
    env = make(horizon=4, replan_steps=2)
    obs, _ = env.reset(seed=0)
    fake = env.unwrapped
    chunk = np.linspace(0.0, 0.3, 4)[:, None] * np.ones((4, 13))
    for query in (1, 2):
        obs, _reward, _terminated, _truncated, info = env.step(chunk)
        assert info["chunk_steps"] == 2
        np.testing.assert_allclose(obs["state"], chunk[1], rtol=1e-6)  # the 2nd action, not the 4th
        assert obs["image"]["ego"][0, 0, 0] == 2 * query  # rendered after this chunk's last step
    assert fake.renders == 3  # reset and the two query steps; none in between
    assert env.action_space.shape == (4, 13)


def test_a_render_period_that_misses_the_query_steps_fails_loudly():
    env = make(horizon=4, replan_steps=2, render_every=3)
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match=r"stale images .* render_every=2"):
        env.step(np.zeros((4, 13)))


def test_stops_when_the_episode_ends_inside_a_chunk():
    env = make(horizon=4)
    obs, _ = env.reset(seed=1)
    chunk = GoalPolicy(horizon=4, steps=3).infer(obs)["actions"]
    _, reward, terminated, _, info = env.step(chunk)
    assert terminated and info["is_success"] and info["chunk_steps"] == 3 and reward == 1.0


def test_truncation_at_the_step_limit():
    env = make(horizon=5)
    env.reset(seed=2)
    steps, truncated = 0, False
    while not truncated:
        _, _, terminated, truncated, info = env.step(np.zeros((5, 13)))
        assert not terminated
        steps += info["chunk_steps"]
    assert steps == MAX_STEPS


@pytest.mark.parametrize("shape", [(13,), (4, 12), (1, 13)])
def test_a_malformed_or_short_chunk_is_refused(shape):
    env = make(horizon=4, replan_steps=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action chunk of shape \(H >= 2, 13\)"):
        env.step(np.zeros(shape))


def test_replan_steps_must_fit_the_horizon():
    with pytest.raises(ValueError, match="replan_steps"):
        make(horizon=4, replan_steps=5)


def test_the_wrapped_environment_passes_gymnasiums_checker():
    from gymnasium.utils.env_checker import check_env

    with pytest.warns(UserWarning, match="different from the unwrapped version"):
        check_env(ActionChunking(gym.make(ENV_ID, privileged=True).unwrapped, 4, 2), skip_render_check=True)
