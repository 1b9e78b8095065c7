"""`as_gym_policy`: any `Policy` (a VLA adapter, a scripted expert) as a Gymnasium-side policy with
stable-baselines3's `predict`, so `stable_baselines3.common.evaluation.evaluate_policy` and any plain
Gymnasium loop run it on the manipulation tasks one action per step.

The policy answers chunks of H actions; `predict` executes k of them (`replan_steps`, default H)
before asking again, and starts afresh (`policy.reset()`) for every environment whose
`episode_start` is set. Observations may be the tasks' own nested ones or `FlatObservation`'s, one
at a time or a vector environment's batch (one policy per environment: policies keep per-episode
state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mimicsim.envs.manipulation.flat_observation import unflatten_observation
from mimicsim.errors import ConfigError
from mimicsim.policies.manipulation.protocol import Policy, check_actions, check_metadata


def env_kwargs(meta: Mapping[str, Any], replan_steps: int) -> dict[str, Any]:
    """`gymnasium.make` keyword arguments giving the policy described by `meta` (checked metadata)
    what it reads: its cameras at its image size, rendered only at query steps (every
    `replan_steps`), and privileged state if it asks for it."""
    kwargs: dict[str, Any] = {
        "cameras": tuple(meta["cameras"]),
        "render_every": replan_steps,
        "privileged": meta["privileged"],
    }
    if meta["image_size"] is not None:
        kwargs["image_size"] = tuple(meta["image_size"])
    return kwargs


class GymPolicy:
    """See `as_gym_policy`."""

    def __init__(self, policies: Sequence[Policy], replan_steps: int | None = None):
        if not policies:
            raise ConfigError("as_gym_policy needs at least one policy")
        self.policies = list(policies)
        self.meta = check_metadata(self.policies[0].metadata())
        self.replan_steps = replan_steps or self.meta["action_horizon"]
        if not 1 <= self.replan_steps <= self.meta["action_horizon"]:
            raise ConfigError(
                f"replan_steps must be in [1, {self.meta['action_horizon']}] (the policy's horizon), "
                f"got {self.replan_steps}"
            )
        self._queues: list[list[np.ndarray]] = [[] for _ in self.policies]
        self._started = [False] * len(self.policies)

    def env_kwargs(self) -> dict[str, Any]:
        """`gymnasium.make` keyword arguments for a task this policy can run on (`env_kwargs`)."""
        return env_kwargs(self.meta, self.replan_steps)

    def reset(self) -> None:
        """Start a new episode in every environment (for loops that pass no `episode_start`)."""
        self._started = [False] * len(self.policies)

    def predict(
        self,
        observation: Mapping[str, Any],
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """The next action for `observation` (stable-baselines3's signature; `state` passes through,
        `deterministic` is the policy's own business). Batched observations give (n, action_dim)."""
        batched = np.ndim(observation["state"]) == 2
        count = len(observation["state"]) if batched else 1
        if count != len(self.policies):
            raise ConfigError(
                f"{count} environment(s) but {len(self.policies)} policy(ies): give as_gym_policy one per environment"
            )
        starts = np.zeros(count, bool) if episode_start is None else np.asarray(episode_start, bool).reshape(count)
        actions = []
        for i in range(count):
            single = {key: value[i] for key, value in observation.items()} if batched else observation
            actions.append(self._next_action(i, single, bool(starts[i])))
        return (np.stack(actions) if batched else actions[0]), state

    def _next_action(self, i: int, observation: Mapping[str, Any], episode_start: bool) -> np.ndarray:
        if episode_start or not self._started[i]:
            self.policies[i].reset()
            self._queues[i] = []
            self._started[i] = True
        if not self._queues[i]:
            result = self.policies[i].infer(unflatten_observation(observation))
            chunk = check_actions(result, self.meta["action_dim"])
            self._queues[i] = list(chunk[: self.replan_steps])
        return self._queues[i].pop(0).astype(np.float32)


def as_gym_policy(policy: Policy | Sequence[Policy], replan_steps: int | None = None) -> GymPolicy:
    """A stable-baselines3-style policy over `policy` (or one policy per environment of a vector
    environment), executing `replan_steps` of each chunk's actions (None: all of them).

    Make the environment with `gym_policy.env_kwargs()`; wrap it in `FlatObservation` for
    stable-baselines3, whose vector environments take no nested observations.
    """
    return GymPolicy([policy] if not isinstance(policy, Sequence) else policy, replan_steps)
