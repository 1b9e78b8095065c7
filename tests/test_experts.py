"""Scripted experts speak the policy protocol, follow their plan and solve their tasks."""

from __future__ import annotations

import numpy as np
import pytest

from mimicsim.envs.manipulation.pick_place import PickPlaceEnv
from mimicsim.envs.manipulation.pour import PourEnv
from mimicsim.envs.manipulation.unfold import GRID, UnfoldEnv, folded_grid
from mimicsim.errors import ConfigError
from mimicsim.policies.manipulation.experts import PickPlaceExpert, make_expert
from mimicsim.policies.manipulation.experts.scripted import READY_POSITION
from mimicsim.policies.manipulation.experts.unfold import folded_edge
from mimicsim.policies.manipulation.protocol import Policy, check_actions, check_metadata

TASK_ENVS = {"pick-place": PickPlaceEnv, "pour": PourEnv, "unfold": UnfoldEnv}


def test_expert_speaks_the_protocol_and_reaches_its_ready_pose():
    env = PickPlaceEnv(cameras=(), privileged=True)
    expert = PickPlaceExpert(action_horizon=5)
    assert isinstance(expert, Policy)
    meta = check_metadata(expert.metadata())
    assert meta["privileged"] and meta["action_horizon"] == 5 and meta["cameras"] == []
    obs, _ = env.reset(seed=0)
    expert.reset()
    for _ in range(6):  # 30 steps: the joint-space move to the ready pose takes 1.5 s
        actions = check_actions(expert.infer(obs), 13)
        assert actions.shape == (5, 13)
        assert np.all(actions >= env.action_space.low - 1e-6) and np.all(actions <= env.action_space.high + 1e-6)
        for action in actions:
            obs, *_ = env.step(action)
    np.testing.assert_allclose(env.data.site("hand/grasp").xpos, READY_POSITION, atol=0.03)
    env.close()


def test_expert_needs_privileged_observations_and_a_known_task():
    with pytest.raises(ConfigError, match="privileged"):
        PickPlaceExpert().infer({"state": np.zeros(13, np.float32), "instruction": "x"})
    with pytest.raises(ConfigError, match="pick-place, pour, unfold"):
        make_expert("juggle")


@pytest.mark.parametrize("side", range(4))
def test_the_unfold_expert_finds_the_free_edge_and_where_it_belongs(side):
    centre = np.array([0.5, 0.05])
    folded = folded_grid(side, 0.5, 0.3, centre).reshape(GRID, GRID, 3)
    flat = folded_grid(side, 0.0, 0.3, centre).reshape(GRID, GRID, 3)
    free, toward_crease, flat_edge = folded_edge(folded)
    free_row = [flat[-1], flat[0], flat[:, -1], flat[:, 0]][side]
    # Flat, the free edge is back at its unfolded place, a cloth length from the far edge.
    np.testing.assert_allclose(flat_edge, free_row[:, :2].mean(axis=0), atol=1e-6)
    # Folded in half, the free edge lies over the far edge and the crease is half a cloth away.
    assert np.linalg.norm(flat_edge - free) == pytest.approx((GRID - 1) * 0.02, abs=0.02)
    assert np.dot(flat_edge - free, toward_crease) > 0


@pytest.mark.parametrize("task, seeds", [("pick-place", (0, 1)), ("pour", (0, 1)), ("unfold", (0, 1))])
def test_expert_solves_its_task(task, seeds):
    env = TASK_ENVS[task](cameras=(), privileged=True)
    expert = make_expert(task)
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        expert.reset()
        done = False
        while not done:
            for action in expert.infer(obs)["actions"]:
                obs, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
                if done:
                    break
        assert info["is_success"] and not info["invalid"], f"{task} seed {seed}: {info}"
        assert env.step_count < env.max_steps
    env.close()
