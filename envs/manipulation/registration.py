"""Gymnasium registration of the manipulation tasks: `register_manipulation_envs()` makes
`gymnasium.make("mimicsim/PickPlace-v0")` (and Pour, Unfold) work. Idempotent."""

from __future__ import annotations

import gymnasium as gym

MANIPULATION_ENVS = {
    "mimicsim/PickPlace-v0": "mimicsim.envs.manipulation.pick_place:PickPlaceEnv",
    "mimicsim/Pour-v0": "mimicsim.envs.manipulation.pour:PourEnv",
    "mimicsim/Unfold-v0": "mimicsim.envs.manipulation.unfold:UnfoldEnv",
}
# Task names used on the command line (`--task pick-place,pour,unfold`) -> environment ids.
TASK_IDS = {"pick-place": "mimicsim/PickPlace-v0", "pour": "mimicsim/Pour-v0", "unfold": "mimicsim/Unfold-v0"}


def register_manipulation_envs() -> None:
    """Register the three tasks (episode limits live in the envs, so no TimeLimit wrapper)."""
    for env_id, entry_point in MANIPULATION_ENVS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, disable_env_checker=False)
