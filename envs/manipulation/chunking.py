"""Action chunks: execute `k` of each policy chunk's `H` actions, then ask the policy again.

VLA policies such as Being-H0 answer one observation with a chunk of H actions; the harness runs
the first k of them open-loop and then queries again (k = H: pure open-loop chunking, k = 1:
closed-loop). Only the observation after the k-th action reaches the policy, so only that one needs
camera images. The manipulation tasks render images at reset and on every `render_every`-th step
only (`info["image_fresh"]` marks those steps): make the environment with `render_every=k` and the
images are rendered exactly at the query steps, which on CPU rendering is most of the cost of a step
with cameras. The wrapper checks that every image it hands to the policy is fresh, so a mismatched
`render_every` fails loudly instead of feeding the policy stale frames.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np


class ActionChunking(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Steps an environment with action chunks of shape (H, action_dim).

    `step(chunk)` executes the first `replan_steps` actions, stopping early when the episode ends,
    and returns the last observation, the summed reward, the last termination flags and the last
    info with `info["chunk_steps"]`, the number of control steps taken.

    Args:
        env: An environment with a 1-D Box action space.
        horizon: H, the policy's chunk length (the action space becomes (H, action_dim)).
        replan_steps: k, actions executed per chunk before the policy is asked again (1 <= k <= H);
            defaults to H. Every chunk must hold at least k actions.
    """

    def __init__(self, env: gym.Env, horizon: int, replan_steps: int | None = None):
        gym.utils.RecordConstructorArgs.__init__(self, horizon=horizon, replan_steps=replan_steps)
        gym.Wrapper.__init__(self, env)
        space = env.action_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"ActionChunking needs a 1-D Box action space, got {space}")
        replan_steps = horizon if replan_steps is None else replan_steps
        if not 1 <= replan_steps <= horizon:
            raise ValueError(f"replan_steps must be in [1, horizon={horizon}], got {replan_steps}")
        self.horizon = horizon
        self.replan_steps = replan_steps
        self.action_space = gym.spaces.Box(
            low=np.broadcast_to(space.low, (horizon, *space.shape)),
            high=np.broadcast_to(space.high, (horizon, *space.shape)),
            dtype=space.dtype,
        )

    def step(self, chunk: np.ndarray) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        chunk = np.asarray(chunk)
        action_shape = self.env.action_space.shape or ()
        if chunk.ndim != 2 or chunk.shape[1:] != action_shape or len(chunk) < self.replan_steps:
            raise ValueError(
                f"expected an action chunk of shape (H >= {self.replan_steps}, {action_shape[0]}), got {chunk.shape}"
            )
        total = 0.0
        for i in range(self.replan_steps):
            obs, reward, terminated, truncated, info = self.env.step(chunk[i])
            total += float(reward)
            if terminated or truncated:
                break
        else:
            if info.get("image_fresh") is False and "image" in obs:
                every = getattr(self.env.unwrapped, "render_every", "?")
                raise RuntimeError(
                    f"the observation after {self.replan_steps} actions has stale images "
                    f"(render_every={every}); make the environment with "
                    f"render_every={self.replan_steps}"
                )
        return obs, total, terminated, truncated, {**info, "chunk_steps": i + 1}
