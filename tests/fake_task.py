"""A tiny task with the manipulation tasks' interface, for testing the policy and evaluation
machinery without physics: move a 13-D state onto a goal drawn from the episode's seed."""

from __future__ import annotations

import string
from typing import Any

import gymnasium as gym
import numpy as np

ENV_ID = "mimicsim-tests/FakeTask-v0"
MAX_STEPS = 12
IMAGE = (8, 8)


class FakeTask(gym.Env):
    """State = last action; success when it is within 0.05 of the goal; an action with |a| > 5
    makes the episode invalid. Like the manipulation tasks, images are rendered at reset and on
    every `render_every`-th step only (`info["image_fresh"]`)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}  # noqa: RUF012 - Gymnasium reads it from the class

    def __init__(
        self,
        render_mode: str | None = None,
        *,
        cameras: tuple[str, ...] = ("ego",),
        image_size: tuple[int, int] = IMAGE,
        render_every: int = 1,
        privileged: bool = False,
    ):
        assert cameras in ((), ("ego",)) and tuple(image_size) == IMAGE
        self.cameras = cameras
        self.privileged = privileged
        self.render_every = render_every
        self.render_mode = render_mode
        self.action_space = gym.spaces.Box(-10.0, 10.0, (13,), np.float32)
        spaces = {
            "state": gym.spaces.Box(-10.0, 10.0, (13,), np.float32),
            "instruction": gym.spaces.Text(64, charset=string.printable),
        }
        if cameras:
            spaces["image"] = gym.spaces.Dict({"ego": gym.spaces.Box(0, 255, (*IMAGE, 3), np.uint8)})
        if privileged:
            spaces["privileged"] = gym.spaces.Dict({"goal": gym.spaces.Box(-1, 1, (13,), np.float64)})
        self.observation_space = gym.spaces.Dict(spaces)
        self.renders = 0
        self._image = np.zeros((*IMAGE, 3), np.uint8)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._goal = self.np_random.uniform(-0.5, 0.5, 13)
        self._state = np.zeros(13, np.float32)
        self._steps = 0
        return self._obs(fresh=True), self._info(False, fresh=True)

    def step(self, action):
        self._steps += 1
        action = np.asarray(action, np.float32)
        invalid = bool(np.any(np.abs(action) > 5))
        self._state = np.clip(action, -5, 5)
        success = not invalid and self._distance() < 0.05
        fresh = self._steps % self.render_every == 0
        return self._obs(fresh), float(success), success or invalid, False, self._info(invalid, fresh)

    def render(self) -> np.ndarray:
        return np.full((16, 16, 3), 10 * self._steps % 256, np.uint8)

    def _distance(self) -> float:
        return float(np.linalg.norm(self._state - self._goal))

    def _info(self, invalid: bool, fresh: bool) -> dict[str, Any]:
        return {
            "is_success": not invalid and self._distance() < 0.05,
            "score": -self._distance(),
            "invalid": invalid,
            "image_fresh": fresh,
        }

    def _obs(self, fresh: bool) -> dict[str, Any]:
        if fresh and self.cameras:
            self.renders += 1
            self._image = np.full((*IMAGE, 3), self._steps, np.uint8)
        obs = {"state": self._state.copy(), "instruction": "reach the goal"}
        if self.cameras:
            obs["image"] = {"ego": self._image.copy()}
        if self.privileged:
            obs["privileged"] = {"goal": self._goal.copy()}
        return obs


if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point=FakeTask, max_episode_steps=MAX_STEPS)


class GoalPolicy:
    """Reads the privileged goal and walks to it in `steps` equal moves per chunk of `horizon`."""

    def __init__(self, horizon: int = 4, steps: int = 3, action_scale: float = 1.0):
        self.horizon, self.steps, self.action_scale = horizon, steps, action_scale
        self.resets = self.calls = 0

    def reset(self) -> None:
        self.resets += 1

    def infer(self, obs: dict[str, Any]) -> dict[str, np.ndarray]:
        self.calls += 1
        start, goal = np.asarray(obs["state"], float), np.asarray(obs["privileged"]["goal"]) * self.action_scale
        ramp = np.minimum(np.arange(1, self.horizon + 1) / self.steps, 1.0)[:, None]
        return {"actions": start + ramp * (goal - start)}

    def metadata(self) -> dict[str, Any]:
        return {
            "name": "goal",
            "version": "1",
            "action_horizon": self.horizon,
            "action_dim": 13,
            "cameras": [],
            "image_size": None,
            "privileged": True,
        }


def make_goal_policy(task: str) -> GoalPolicy:
    return GoalPolicy()


def make_exploding_policy(task: str) -> GoalPolicy:
    """Overshoots by 20x: every episode goes invalid."""
    return GoalPolicy(action_scale=20.0, steps=1)


class HoldPolicy:
    """A camera policy in Being-H0's shape (16-action chunks, one 64 x 64 third-person image): holds
    the measured joint positions, and checks that its images have the advertised camera and size."""

    def reset(self) -> None:
        pass

    def infer(self, obs: dict[str, Any]) -> dict[str, np.ndarray]:
        image = obs["image"]["third_person"]
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8 and set(obs["image"]) == {"third_person"}
        return {"actions": np.tile(np.asarray(obs["state"], np.float64), (16, 1))}

    def metadata(self) -> dict[str, Any]:
        return {
            "name": "hold",
            "version": "1",
            "action_horizon": 16,
            "action_dim": 13,
            "cameras": ["third_person"],
            "image_size": [64, 64],
        }


def make_hold_policy(task: str) -> HoldPolicy:
    return HoldPolicy()
