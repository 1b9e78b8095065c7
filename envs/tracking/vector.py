"""`TrackingVectorEnv`: Gymnasium's vector API over one `TrackingBatch` (K robots in this process,
the tracking math vectorised across them; the fast path, see benchmarks/env_speed.py).

    envs = gymnasium.make_vec("mimicsim/Track-G1-v0", num_envs=16, vectorization_mode="vector_entry_point",
                              motions=["walk.npz"])

Episodes restart in the same step they end (`AutoresetMode.SAME_STEP`): the observation returned
for such a robot is its new episode's first; the last one of the ended episode is in
`info["final_obs"]` (rows flagged by `info["_final_obs"]`). `info["errors"]` holds the step's
tracking errors as arrays, `info["termination"]` the reasons ("" when none).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from mimicsim.envs.tracking.batch import MotionInput, TrackingBatch
from mimicsim.envs.tracking.config import TrackingEnvCfg
from mimicsim.envs.tracking.terms import REASONS
from mimicsim.errors import ConfigError

_REASON_NAMES = np.array(REASONS)


class TrackingVectorEnv(VectorEnv):
    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}  # noqa: RUF012 - Gymnasium reads it from the class

    def __init__(
        self,
        motions: MotionInput | Sequence[MotionInput],
        num_envs: int = 16,
        robot: str | None = None,
        cfg: TrackingEnvCfg | None = None,
    ):
        cfg = cfg or TrackingEnvCfg(robot=(robot or "g1").lower().replace("-", "_"))
        if robot is not None and robot.lower().replace("-", "_") != cfg.robot:
            raise ConfigError(f"this environment is for robot {robot!r} but its config names {cfg.robot!r}")
        self.batch = TrackingBatch(motions, cfg, num_envs)
        self.num_envs = num_envs
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (self.batch.obs_size,), dtype=np.float32)
        self.single_action_space = gym.spaces.Box(
            self.batch.action_low.astype(np.float32), self.batch.action_high.astype(np.float32), dtype=np.float32
        )
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        batch = self.batch
        if seed is not None:
            batch.rng = np.random.default_rng(seed)
            batch.sampler.failure_rate[:] = 0.0
        batch.reset(np.arange(self.num_envs))
        return batch.observe(), {"frame": batch.frames.copy()}

    def step(self, actions: np.ndarray):
        t = self.batch.advance(np.asarray(actions))
        ended = np.zeros(self.num_envs, dtype=bool)
        ended[t.ended] = True
        final_obs = np.zeros_like(t.obs)
        final_obs[t.ended] = t.final_obs
        info = {"errors": t.errors, "termination": _REASON_NAMES[t.reason], "final_obs": final_obs, "_final_obs": ended}
        return t.obs, t.reward, t.terminated, t.truncated, info
