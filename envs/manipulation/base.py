"""The base of the Franka + Inspire manipulation tasks: a Gymnasium env speaking Being-H0's interface.

Actions: 13-D absolute joint targets in Being-H0's convention (7 Panda angles in radians, then 6 hand
closures 0 = open .. 1 = closed in the hardware order pinky, ring, middle, index, thumb bend, thumb
rotation; see `mimicsim.assets.hand_mapping`), held for one control step (20 Hz) over a finer
simulation (2 ms unless the task sets `physics_dt`).

Observations: `{"image": {camera: uint8 (H, W, 3)}, "state": float32 (13,), "instruction": str}`.
`state` is the measured joint positions in the action's convention. Images are rendered at reset and
on every `render_every`-th step only; in between, `obs["image"]` repeats the last rendered frames
(`info["image_fresh"]` says which steps are new) so a policy that acts on chunks of k actions pays
for rendering only at its query steps (`render_every=k`). `cameras=()` gives state-only observations.
With `privileged=True` the observation also holds `"privileged"`: the task's ground truth (object
poses, particles, cloth vertices) and `"step"`, for scripted experts and RL.

Every step's `info` carries `is_success`, `score` (in [0, 1]) and `invalid`. Episodes terminate on
success, or as invalid (`info["invalid"] = True` and `info["invalid_reason"]`, never an exception)
when an action is not finite or the physics becomes invalid: MuJoCo raised a warning (bad control,
position, velocity or acceleration: it then resets the state by itself, which would teleport the
robot and let the episode score on), or velocities exploded. Episodes truncate at the task's step
limit. The initial state is drawn from the reset seed.
"""

from __future__ import annotations

import string
from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from mimicsim.assets.franka_inspire import (
    ARM_JOINTS,
    HAND_DRIVER_JOINTS,
    HAND_PREFIX,
    HOME_ARM_QPOS,
)
from mimicsim.assets.hand_mapping import ACTION_DIM, ARM_DIM, being_h0_to_mujoco, mujoco_to_being_h0
from mimicsim.envs.manipulation.scene import CAMERAS, DEFAULT_IMAGE_SIZE, CameraRig, table_scene_spec
from mimicsim.errors import ConfigError

CONTROL_HZ = 20.0
PHYSICS_DT = 0.002
# Friction that holds a grasp: with MuJoCo's default pyramidal cone and impratio 1, a 0.1 kg object
# squeezed with 15 N creeps out of the fingers at the speed the hand lifts; an elliptic cone with
# friction ten times stiffer than the normal direction (MuJoCo's recommendation for grasping) holds it.
FRICTION_CONE = mujoco.mjtCone.mjCONE_ELLIPTIC
IMPRATIO = 10.0
# Beyond these speeds (m/s or rad/s) the simulation has exploded.
_MAX_SPEED = 50.0
# MuJoCo's warnings that mean the state is no longer physical (it resets the state after some).
_FAULTS = {
    mujoco.mjtWarning.mjWARN_BADCTRL: "bad control (NaN or huge)",
    mujoco.mjtWarning.mjWARN_BADQPOS: "bad joint position (NaN or huge); MuJoCo reset the state",
    mujoco.mjtWarning.mjWARN_BADQVEL: "bad joint velocity (NaN or huge); MuJoCo reset the state",
    mujoco.mjtWarning.mjWARN_BADQACC: "bad acceleration (NaN or huge); MuJoCo reset the state",
}
_INSTRUCTION_CHARSET = string.ascii_letters + string.digits + " ,.'-"
_ARM_INIT_NOISE = 0.02  # rad, uniform, on each arm joint at reset


class ManipulationEnv(gym.Env):
    """Shared machinery; a task subclass adds its objects and defines reset, privileged state and
    scoring through the `_build_task`, `_reset_task`, `_privileged` and `_evaluate` hooks."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}  # noqa: RUF012 - Gymnasium reads it from the class
    max_steps: int = 200  # a task's default; an instance may be given its own
    settle_seconds: ClassVar[float] = 0.2  # physics run at reset so objects come to rest
    physics_dt: ClassVar[float] = PHYSICS_DT  # a task may take a coarser step where it stays stable

    def __init__(
        self,
        render_mode: str | None = None,
        *,
        cameras: tuple[str, ...] = CAMERAS,
        image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
        render_every: int = 1,
        privileged: bool = False,
        max_steps: int | None = None,
        render_size: tuple[int, int] = (360, 480),
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        unknown = [c for c in cameras if c not in CAMERAS]
        if unknown:
            raise ConfigError(f"unknown camera(s) {unknown}; choose from {list(CAMERAS)}")
        if render_every < 1:
            raise ConfigError(f"render_every must be >= 1, got {render_every}")
        self.render_mode = render_mode
        self.cameras = tuple(cameras)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.render_every = int(render_every)
        self.privileged = privileged
        self.render_size = (int(render_size[0]), int(render_size[1]))
        if max_steps is not None:
            self.max_steps = int(max_steps)

        spec = table_scene_spec()
        spec.option.timestep = self.physics_dt
        spec.option.cone = FRICTION_CONE
        spec.option.impratio = IMPRATIO
        self._build_task(spec)
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self.n_substeps = round(1.0 / (CONTROL_HZ * self.physics_dt))
        self._arm_qpos = np.array([self.model.joint(j).qposadr[0] for j in ARM_JOINTS])
        self._hand_qpos = np.array([self.model.joint(j).qposadr[0] for j in HAND_DRIVER_JOINTS])
        hand_bodies = [b for b in range(self.model.nbody) if self.model.body(b).name.startswith(HAND_PREFIX)]
        self._hand_geoms = np.flatnonzero(np.isin(self.model.geom_bodyid, hand_bodies))
        self._cameras = CameraRig(self.model)
        self._images: dict[str, np.ndarray] = {}
        self._step_count = 0
        self.instruction = ""

        low = np.concatenate([self.model.jnt_range[[self.model.joint(j).id for j in ARM_JOINTS], 0], np.zeros(6)])
        high = np.concatenate([self.model.jnt_range[[self.model.joint(j).id for j in ARM_JOINTS], 1], np.ones(6)])
        self.action_space: spaces.Box = spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
        obs_spaces: dict[str, spaces.Space] = {
            "state": spaces.Box(-np.inf, np.inf, (ACTION_DIM,), np.float32),
            "instruction": spaces.Text(max_length=256, min_length=1, charset=_INSTRUCTION_CHARSET),
        }
        if self.cameras:
            obs_spaces["image"] = spaces.Dict(
                {c: spaces.Box(0, 255, (*self.image_size, 3), np.uint8) for c in self.cameras}
            )
        if privileged:
            shapes = {"step": (1,), **self._privileged_shapes()}
            obs_spaces["privileged"] = spaces.Dict(
                {k: spaces.Box(-np.inf, np.inf, shape, np.float64) for k, shape in shapes.items()}
            )
        self.observation_space = spaces.Dict(obs_spaces)

    # ----------------------------------------------------------------- task hooks
    def _build_task(self, spec: mujoco.MjSpec) -> None:
        """Add the task's objects to the scene spec."""
        raise NotImplementedError

    def _reset_task(self, rng: np.random.Generator) -> str:
        """Place the task's objects for a new episode (qpos/model fields); returns the instruction."""
        raise NotImplementedError

    def _privileged_shapes(self) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def _privileged(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _evaluate(self) -> tuple[bool, float, dict[str, Any]]:
        """(is_success, score in [0, 1], extra info) for the current state."""
        raise NotImplementedError

    def _task_state_valid(self) -> bool:
        """Whether the task's own bodies are still physical (a task may check, e.g., a torn cloth)."""
        return True

    # ----------------------------------------------------------------- Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        arm = np.asarray(HOME_ARM_QPOS) + self.np_random.uniform(-_ARM_INIT_NOISE, _ARM_INIT_NOISE, ARM_DIM)
        self.data.qpos[self._arm_qpos] = arm
        self.data.ctrl[:] = being_h0_to_mujoco(np.concatenate([arm, np.zeros(6)]))
        self.instruction = self._reset_task(self.np_random)
        mujoco.mj_forward(self.model, self.data)
        for _ in range(round(self.settle_seconds / self.physics_dt)):
            mujoco.mj_step(self.model, self.data)
        self._step_count = 0
        self._images = {}
        _, score, extra = self._evaluate()
        info = {"is_success": False, "score": score, "invalid": False, "image_fresh": bool(self.cameras), **extra}
        return self._observe(), info

    def step(self, action: np.ndarray):
        action = np.asarray(action, dtype=np.float64)
        if np.all(np.isfinite(action)):
            self.data.ctrl[:] = being_h0_to_mujoco(np.clip(action, self.action_space.low, self.action_space.high))
            reason = self._simulate()
            if not reason and not self._task_state_valid():
                reason = "the task's objects left their physical state"
        else:
            reason = "the action is not finite (NaN or inf)"
        self._step_count += 1
        if reason:
            success, score, extra = False, 0.0, {"invalid_reason": reason}
        else:
            success, score, extra = self._evaluate()
        terminated = success or bool(reason)
        truncated = not terminated and self._step_count >= self.max_steps
        fresh = bool(self.cameras) and self._step_count % self.render_every == 0
        if fresh:
            self._images = {}
        info = {"is_success": success, "score": score, "invalid": bool(reason), "image_fresh": fresh, **extra}
        return self._observe(), 0.0 + float(success), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return self._cameras.render(self.data, "third_person", self.render_size)

    def close(self) -> None:
        self._cameras.close()

    # ----------------------------------------------------------------- helpers
    @property
    def render_count(self) -> int:
        """Images rendered so far (observations and `render()`)."""
        return self._cameras.render_count

    @property
    def step_count(self) -> int:
        return self._step_count

    def hand_touches(self, geoms: np.ndarray) -> bool:
        """Whether any hand geom is in contact with any of `geoms`."""
        contact = self.data.contact[: self.data.ncon]
        g1, g2 = contact.geom1, contact.geom2
        hand1, hand2 = np.isin(g1, self._hand_geoms), np.isin(g2, self._hand_geoms)
        return bool(np.any((hand1 & np.isin(g2, geoms)) | (hand2 & np.isin(g1, geoms))))

    def _simulate(self) -> str:
        """One control step of physics; why it became invalid, or "" (see the module docstring)."""
        before = {kind: self.data.warning[kind].number for kind in _FAULTS}
        for _ in range(self.n_substeps):
            mujoco.mj_step(self.model, self.data)
            for kind, count in before.items():
                if self.data.warning[kind].number != count:
                    return f"MuJoCo: {_FAULTS[kind]}"
        if not (np.all(np.isfinite(self.data.qvel)) and np.max(np.abs(self.data.qvel)) < _MAX_SPEED):
            return f"the simulation exploded (a speed above {_MAX_SPEED:g})"
        return ""

    def _observe(self) -> dict[str, Any]:
        qpos = np.nan_to_num(self.data.qpos)
        state = mujoco_to_being_h0(np.concatenate([qpos[self._arm_qpos], qpos[self._hand_qpos]]))
        obs: dict[str, Any] = {"state": state.astype(np.float32), "instruction": self.instruction}
        if self.cameras:
            if not self._images:
                self._images = {c: self._cameras.render(self.data, c, self.image_size) for c in self.cameras}
            obs["image"] = dict(self._images)
        if self.privileged:
            obs["privileged"] = {"step": np.array([float(self._step_count)]), **self._privileged()}
        return obs
