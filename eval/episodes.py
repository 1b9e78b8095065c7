"""Episodes: per-episode seeds from one run seed, running one episode, and its record.

Episode i of a run with seed S is seeded by `episode_seed(S, i)` whatever the number of workers or
the order they run in, so a run's results do not depend on how it was parallelised, and any one
episode can be replayed alone from the seed in its record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from mimicsim.envs.manipulation.chunking import ActionChunking
from mimicsim.policies.manipulation.protocol import Policy, PolicyError, check_actions


@dataclass(frozen=True)
class EpisodeRecord:
    """What one episode did. `length` counts control steps; `queries` counts policy calls.
    An invalid episode (the simulation became unstable) is never a success."""

    task: str
    index: int
    seed: int
    success: bool
    score: float
    length: int
    queries: int
    invalid: bool
    instruction: str
    reason: str = ""
    """Why an invalid episode is invalid (the simulation's fault, the policy's error)."""
    zero_chunks: int = 0
    """Chunks the policy flagged as all zeros (a Being-H0 server answers zeros when its model fails)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def episode_seed(run_seed: int, index: int) -> int:
    """The 32-bit seed of episode `index`: one child of the run's SeedSequence per episode."""
    return int(np.random.SeedSequence(run_seed, spawn_key=(index,)).generate_state(1)[0])


class FrameRecorder(gym.Wrapper):
    """Keeps `env.render()` after reset and after every control step while `recording` is True
    (the environment must be made with render_mode="rgb_array")."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.recording = False
        self.frames: list[np.ndarray] = []

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        result = self.env.reset(**kwargs)
        self.frames = []
        self._capture()
        return result

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        result = self.env.step(action)
        self._capture()
        return result

    def _capture(self) -> None:
        if self.recording:
            self.frames.append(np.asarray(self.env.render()))


def run_episode(
    env: ActionChunking,
    policy: Policy,
    *,
    task: str,
    index: int,
    seed: int,
    action_dim: int,
) -> EpisodeRecord:
    """Run one episode of `policy` on `env` from `seed` until it terminates or is truncated.

    The env's `info` must carry `is_success` and `score` on every step and may carry `invalid` and
    `invalid_reason`. A policy that fails to give a valid chunk (an error, a timeout, NaN, a wrong
    shape) ends the episode as invalid with the reason: one bad answer must not stop the evaluation.
    """
    obs, info = env.reset(seed=seed)
    instruction = str(obs.get("instruction", "")) if isinstance(obs, dict) else ""
    length = queries = zero_chunks = 0
    reason = ""
    try:
        policy.reset()
    except PolicyError as exc:  # a remote policy's reset is a request like any other
        reason = f"policy: {exc}"
    while not reason:
        try:
            result = policy.infer(obs)
            chunk = check_actions(result, action_dim)
        except PolicyError as exc:
            reason = f"policy: {exc}"
            break
        queries += 1
        zero_chunks += bool(result.get("zero_chunk", False))
        obs, _, terminated, truncated, info = env.step(chunk)
        length += info["chunk_steps"]
        if terminated or truncated:
            break
    invalid = bool(reason) or bool(info.get("invalid", False))
    return EpisodeRecord(
        task=task,
        index=index,
        seed=seed,
        success=bool(info["is_success"]) and not invalid,
        score=float(info["score"]),
        length=length,
        queries=queries,
        invalid=invalid,
        instruction=instruction,
        reason=reason or (str(info.get("invalid_reason", "the simulation became invalid")) if invalid else ""),
        zero_chunks=zero_chunks,
    )
