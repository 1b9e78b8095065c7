"""The Franka arm under a moving wrist: per-frame inverse kinematics (mink) placing the Inspire
hand's mount (the Panda's `attachment_site`) on the human wrist's trajectory.

The human's wrist pose is taken relative to its first frame and applied to the hand's home pose
(the Panda's `HOME_ARM_QPOS`, palm down in front of the base): the robot starts where the tasks
start and moves as the wrist moves, whatever the frame the file was recorded in (a z-up world in
metres). Each frame is solved in a few sub-steps whose joint speeds stay within the Panda's limits
and whose angles stay within its ranges, so a frame beyond reach is approached as far as the limits
allow and reported (its position and orientation errors), never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import mink
import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from mimicsim.assets.franka_inspire import ARM_JOINTS, HOME_ARM_QPOS, panda_spec
from mimicsim.errors import ConfigError

MOUNT_SITE = "attachment_site"
PANDA_SPEED_LIMITS = (2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61)
"""Franka Panda joint speed limits, rad/s (Franka's datasheet)."""


@dataclass(frozen=True)
class ArmConfig:
    """Settings of the arm's IK."""

    substeps: int = 4
    """IK sub-steps per frame (each within the speed limits over its share of the frame)."""
    reach_tolerance: float = 0.01
    """A frame whose mount ends farther than this (m) from its target is reported unreachable."""
    orientation_tolerance: float = 5.0
    """... or whose orientation is off by more than this (degrees)."""
    orientation_cost: float = 0.5
    """The orientation task's cost beside position's 1 (per radian against per metre)."""
    posture_cost: float = 1e-2
    """Pull towards the home pose (per radian), which settles the arm's redundant direction."""

    def __post_init__(self) -> None:
        if self.substeps < 1:
            raise ConfigError(f"substeps must be >= 1, got {self.substeps}")
        for name in ("reach_tolerance", "orientation_tolerance", "orientation_cost", "posture_cost"):
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ConfigError(f"{name} must be a positive number, got {getattr(self, name)}")


@dataclass(frozen=True)
class ArmSolution:
    """`joint_pos (T, 7)` radians; `target_pos (T, 3)`, `target_quat_wxyz (T, 4)` the mount's targets;
    `position_error (T,)` m, `orientation_error (T,)` degrees; `unreachable` the frames beyond the
    tolerances."""

    joint_pos: np.ndarray
    target_pos: np.ndarray
    target_quat_wxyz: np.ndarray
    position_error: np.ndarray
    orientation_error: np.ndarray
    unreachable: np.ndarray


@lru_cache(maxsize=1)
def panda_ranges() -> tuple[np.ndarray, np.ndarray]:
    """The Panda's joint ranges (lower, upper), radians, from its model."""
    ranges = panda_spec().compile().jnt_range[:7]
    return ranges[:, 0].copy(), ranges[:, 1].copy()


def home_mount_pose() -> tuple[np.ndarray, np.ndarray]:
    """Position and rotation matrix of the mount at the home pose."""
    model = panda_spec().compile()
    data = mujoco.MjData(model)
    data.qpos[: len(HOME_ARM_QPOS)] = HOME_ARM_QPOS
    mujoco.mj_kinematics(model, data)
    site = model.site(MOUNT_SITE).id
    return data.site_xpos[site].copy(), data.site_xmat[site].reshape(3, 3).copy()


def wrist_targets(wrist_pos: np.ndarray, wrist_quat_wxyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mount's target positions (T, 3) and orientations (T, 4, wxyz): the wrist's motion since
    its first frame, applied to the home pose (rotations in the world frame)."""
    home_pos, home_rot = home_mount_pose()
    rotations = Rotation.from_quat(wrist_quat_wxyz, scalar_first=True)
    relative = rotations * rotations[0].inv()
    target_rot = relative * Rotation.from_matrix(home_rot)
    return home_pos + (wrist_pos - wrist_pos[0]), target_rot.as_quat(scalar_first=True)


def solve_arm(
    wrist_pos: np.ndarray, wrist_quat_wxyz: np.ndarray, fps: float, config: ArmConfig = ArmConfig()
) -> ArmSolution:
    """Arm joint angles following the wrist (see the module docstring)."""
    model = panda_spec().compile()
    configuration = mink.Configuration(model)
    q = np.array(HOME_ARM_QPOS, dtype=np.float64)
    configuration.update(q)
    task = mink.FrameTask(
        MOUNT_SITE, "site", position_cost=1.0, orientation_cost=config.orientation_cost, lm_damping=1e-3
    )
    # The home pose keeps joints 1 and 3 coaxial; a light pull towards it settles the redundant
    # direction instead of letting it drift to a limit.
    posture = mink.PostureTask(model, cost=config.posture_cost)
    posture.set_target(q)
    limits = [
        mink.ConfigurationLimit(model),
        mink.VelocityLimit(model, dict(zip(ARM_JOINTS, PANDA_SPEED_LIMITS, strict=True))),
    ]
    targets_pos, targets_quat = wrist_targets(wrist_pos, wrist_quat_wxyz)
    n = len(targets_pos)
    joint_pos = np.empty((n, 7))
    pos_err, ori_err = np.empty(n), np.empty(n)
    dt = 1.0 / (fps * config.substeps)
    site = model.site(MOUNT_SITE).id
    for t in range(n):
        target = mink.SE3.from_rotation_and_translation(mink.SO3(targets_quat[t]), targets_pos[t])
        task.set_target(target)
        for _ in range(config.substeps):
            velocity = mink.solve_ik(configuration, [task, posture], dt, solver="daqp", damping=1e-4, limits=limits)
            configuration.integrate_inplace(velocity, dt)
        joint_pos[t] = configuration.q[:7]
        data = configuration.data
        pos_err[t] = np.linalg.norm(data.site_xpos[site] - targets_pos[t])
        reached = Rotation.from_matrix(data.site_xmat[site].reshape(3, 3))
        wanted = Rotation.from_quat(targets_quat[t], scalar_first=True)
        ori_err[t] = np.degrees((reached * wanted.inv()).magnitude())
    unreachable = np.flatnonzero((pos_err > config.reach_tolerance) | (ori_err > config.orientation_tolerance))
    return ArmSolution(joint_pos, targets_pos, targets_quat, pos_err, ori_err, unreachable)
