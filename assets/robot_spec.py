"""`RobotSpec`: a compiled robot on a flat floor and everything other modules need to know of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from mimicsim.assets.robot_config import RobotConfig


@dataclass(frozen=True)
class RobotSpec:
    name: str
    model: mujoco.MjModel
    config: RobotConfig
    joint_names: tuple[str, ...]
    """Actuated joints in actuator order (also the order of every joint array in mimicsim)."""
    qpos_adr: np.ndarray
    qvel_adr: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    effort_limit: np.ndarray
    velocity_limit: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    default_qpos: np.ndarray
    """Full qpos (root xyz, root quat wxyz, joints) of the standing pose, feet on the floor."""
    standing_height: float
    """Height of the highest point of the robot in the standing pose (m)."""
    mass: float
    sole_sites: tuple[str, str]
    """Sites at the centre of the left and right soles."""
    keypoint_sites: dict[str, str]
    """SMPL joint name -> site name on the robot."""
    derived: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)
    """Set-up that other modules derive from this robot once and reuse (the collision queries:
    copying a mesh model costs tens of milliseconds, more than retargeting a short clip); it lives
    and dies with the robot, so a worker that loads the robot once sets it up once."""

    @property
    def dof(self) -> int:
        return len(self.joint_names)

    @property
    def default_joint_pos(self) -> np.ndarray:
        return self.default_qpos[self.qpos_adr]

    @property
    def source(self) -> str:
        return self.config.source

    def make_data(self) -> mujoco.MjData:
        """MjData in the standing pose with the actuators holding it."""
        data = mujoco.MjData(self.model)
        data.qpos[:] = self.default_qpos
        data.ctrl[:] = self.default_joint_pos
        mujoco.mj_forward(self.model, data)
        return data
