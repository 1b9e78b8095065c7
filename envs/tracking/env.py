"""`TrackingEnv`: the Gymnasium environment in which a humanoid follows `RobotMotion` clips in MuJoCo
(BeyondMimic's recipe), registered as `mimicsim/Track-G1-v0`, `-H1-v0` and `-H1_2-v0`:

    env = gymnasium.make("mimicsim/Track-G1-v0", motions=["walk.npz"])

It is one robot of a `TrackingBatch` (the vectorised engine). `info["errors"]` carries the step's
tracking errors (see `tracking_terms.ERROR_NAMES`), `info["frame"]` the reference frame the robot is
compared with, and `info["termination"]` the reason when an episode fails. Episodes end by
truncation at the end of their clip or after `episode_seconds`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from mimicsim.envs.tracking.batch import MotionInput, TrackingBatch
from mimicsim.envs.tracking.config import TrackingEnvCfg
from mimicsim.envs.tracking.kinematics import refresh_kinematics
from mimicsim.envs.tracking.terms import ERROR_NAMES, REASONS
from mimicsim.errors import ConfigError

ENV_IDS = {"g1": "mimicsim/Track-G1-v0", "h1": "mimicsim/Track-H1-v0", "h1_2": "mimicsim/Track-H1_2-v0"}


def register_tracking_envs() -> None:
    """Register the tracking environments with Gymnasium (idempotent): `gymnasium.make(id, motions=...)`
    gives a `TrackingEnv`, `gymnasium.make_vec(id, num_envs, vectorization_mode="vector_entry_point",
    motions=...)` a `TrackingVectorEnv`."""
    for robot, env_id in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point="mimicsim.envs.tracking.env:TrackingEnv",
                kwargs={"robot": robot},
                vector_entry_point="mimicsim.envs.tracking.vector:TrackingVectorEnv",
            )


@dataclass(frozen=True)
class Evaluation:
    """The tracking terms of one robot state against one reference frame."""

    reward: float
    termination: str | None
    errors: dict[str, float]


class TrackingEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}  # noqa: RUF012 - Gymnasium reads it from the class

    def __init__(
        self,
        motions: MotionInput | Sequence[MotionInput],
        robot: str | None = None,
        cfg: TrackingEnvCfg | None = None,
        render_mode: str | None = None,
        render_size: tuple[int, int] = (480, 480),
    ):
        """Args:
        motions: RobotMotion files (or loaded motions) of this robot; several are sampled together.
        robot: g1, h1 or h1_2 (set by the registered ids); must agree with `cfg.robot`.
        cfg: the environment's configuration (defaults: BeyondMimic's).
        render_mode: None or "rgb_array" (a camera following the pelvis).
        render_size: (width, height) of rendered frames.
        """
        if cfg is None:
            cfg = TrackingEnvCfg(robot=(robot or "g1").lower().replace("-", "_"))
        if robot is not None and robot.lower().replace("-", "_") != cfg.robot:
            raise ConfigError(f"this environment is for robot {robot!r} but its config names {cfg.robot!r}")
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"render_mode must be None or 'rgb_array', not {render_mode!r}")
        self.cfg, self.render_mode, self._render_size = cfg, render_mode, render_size
        self.batch = TrackingBatch(motions, cfg, num_envs=1)
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.batch.dt)}
        self.action_space = gym.spaces.Box(
            self.batch.action_low.astype(np.float32), self.batch.action_high.astype(np.float32), dtype=np.float32
        )
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.batch.obs_size,), dtype=np.float32)
        self._renderer: mujoco.Renderer | None = None
        self._camera: mujoco.MjvCamera | None = None

    # -- Gymnasium API ------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Options: `frame` (start at this reference frame) or `clip` (at the first frame of this
        clip) instead of a failure-weighted sample; start noise per the config applies either way.
        A seed restarts everything random, including the record of where episodes failed."""
        super().reset(seed=seed)
        batch = self.batch
        batch.rng = self.np_random
        if seed is not None:
            batch.sampler.failure_rate[:] = 0.0
        options = options or {}
        if "frame" in options:
            frames = [int(options["frame"])]
        elif "clip" in options:
            frames = [int(batch.reference.clip_first[int(options["clip"])])]
        else:
            frames = None
        batch.reset([0], frames)
        return batch.observe()[0], {"frame": int(batch.frames[0])}

    def step(self, action: np.ndarray):
        batch = self.batch
        result = batch.step(np.asarray(action)[None])
        code = int(result.reason[0])
        terminated = code != 0
        truncated = not terminated and bool(batch.truncated()[0])
        info: dict[str, Any] = {
            "frame": int(batch.frames[0]),
            "errors": {name: float(result.errors[name][0]) for name in ERROR_NAMES},
        }
        if terminated:
            info["termination"] = REASONS[code]
        if terminated or truncated:
            batch.record_episode_ends(np.array([True]), np.array([terminated]))
        return batch.observe()[0], float(result.reward[0]), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        from mimicsim.rendering import make_renderer, tracking_camera

        if self._renderer is None:
            width, height = self._render_size
            self._renderer = make_renderer(self.model, width, height)
            self._camera = tracking_camera(
                self.model,
                self.data,
                self.batch.points.root_body,
                distance=1.9 * self.batch.robot.standing_height,
                elevation=-12.0,
            )
        renderer = self._renderer
        renderer.update_scene(self.data, self._camera)
        return renderer.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # -- beyond Gymnasium: state access for tests and tools -----------------------------------------

    @property
    def model(self):
        return self.batch.models[0]

    @property
    def data(self):
        return self.batch.datas[0]

    @property
    def reference(self):
        return self.batch.reference

    @property
    def frame(self) -> int:
        """The reference frame the robot is compared with now."""
        return int(self.batch.frames[0])

    def set_state(self, qpos: np.ndarray, qvel: np.ndarray, frame: int) -> None:
        """Put the robot in (qpos, qvel) at reference frame `frame`."""
        self.batch.set_state(0, qpos, qvel, frame)
        self.batch.state.finish()

    def evaluate(self) -> Evaluation:
        """Reward, termination and errors of the current state against the current frame (what
        `step` reports after its physics), e.g. after `set_state` or after editing `data`."""
        batch = self.batch
        refresh_kinematics(self.model, self.data)
        batch.state.read(0, batch.state.views(self.data))
        batch.state.finish()
        result = batch.terms.evaluate(batch.state, batch.frames, batch.actions, batch.prev_actions)
        code = int(result.reason[0])
        return Evaluation(
            float(result.reward[0]),
            REASONS[code] if code else None,
            {name: float(result.errors[name][0]) for name in ERROR_NAMES},
        )
