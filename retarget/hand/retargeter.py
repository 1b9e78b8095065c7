"""Human hand motion -> Franka + Inspire trajectory, in every convention the robot speaks.

`retarget_hand(motion)` runs the finger retargeter (`fingers.py`) and, when the motion carries the
wrist's pose, the arm's IK (`arm.py`); without a wrist pose the arm holds its home pose. The hand
comes out as MuJoCo driver radians, as Being-H0's closures (0 open .. 1 closed, hardware order) and
as the hardware's 0..1000 integers, all through `assets.hand_mapping`, and the quality report
(`quality.py`) is computed on every result.

`HandTrajectory` is saved as an npz (`save_hand_trajectory`) with schema
`mimicsim.hand_trajectory/1`: `fps`, `joint_names` (the 13 MuJoCo actuated joints), `hand_order`
(the hardware order of `closures` and `hardware`), `drivers (T, 6)` radians in MuJoCo order,
`arm (T, 7)` radians, `closures (T, 6)`, `hardware (T, 6)` int (1000 = open, Inspire's SDK),
`being_h0 (T, 13)`, `robot_keypoints`/`human_keypoints (T, 21, 3)` in the palm frame (the human's
scaled), `scale`, `unreachable` frame indices, and JSON `source` and `quality`; a replay adds
`replay_fps`, `replay_state (K, 13)` and `replay_action (K, 13)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mimicsim.assets.franka_inspire import HOME_ARM_QPOS
from mimicsim.assets.hand_mapping import (
    HARDWARE_HAND_ORDER,
    being_h0_hand_to_hardware,
    mujoco_to_being_h0,
)
from mimicsim.atomic import atomic_path
from mimicsim.retarget.hand.arm import ArmConfig, ArmSolution, solve_arm
from mimicsim.retarget.hand.fingers import FingerConfig, retarget_fingers
from mimicsim.retarget.hand.inspire import DRIVER_JOINTS, InspireKinematics
from mimicsim.retarget.hand.keypoints import HandMotion
from mimicsim.retarget.hand.quality import hand_quality

SCHEMA = "mimicsim.hand_trajectory/1"
ARM_JOINT_NAMES = tuple(f"joint{i}" for i in range(1, 8))


@dataclass(frozen=True)
class HandRetargetConfig:
    """Settings of hand retargeting."""

    fingers: FingerConfig = FingerConfig()
    arm: ArmConfig = ArmConfig()


@dataclass
class HandTrajectory:
    """A retargeted hand motion (see the module docstring for the fields)."""

    fps: float
    drivers: np.ndarray
    arm: np.ndarray
    human_keypoints: np.ndarray
    robot_keypoints: np.ndarray
    scale: float
    source: dict[str, str]
    speed_limits: np.ndarray
    """Driver speed limits (rad/s, MuJoCo order) the retargeter kept to."""
    arm_solution: ArmSolution | None = None
    quality: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.drivers.shape[0])

    @property
    def being_h0(self) -> np.ndarray:
        """(T, 13): 7 arm radians, then closures in the hardware order."""
        return mujoco_to_being_h0(np.concatenate([self.arm, self.drivers], axis=1))

    @property
    def closures(self) -> np.ndarray:
        return self.being_h0[:, 7:]

    @property
    def hardware(self) -> np.ndarray:
        return being_h0_hand_to_hardware(self.closures)


def retarget_hand(motion: HandMotion, config: HandRetargetConfig = HandRetargetConfig()) -> HandTrajectory:
    """Retarget `motion` (see the module docstring); the result carries its quality report."""
    fingers = retarget_fingers(motion, config.fingers)
    arm_solution = None
    if motion.wrist_pos is not None and motion.wrist_quat_wxyz is not None:
        arm_solution = solve_arm(motion.wrist_pos, motion.wrist_quat_wxyz, motion.fps, config.arm)
        arm = arm_solution.joint_pos
    else:
        arm = np.tile(np.asarray(HOME_ARM_QPOS, dtype=np.float64), (motion.n_frames, 1))
    speeds = np.array([config.fingers.thumb_speed] * 2 + [config.fingers.finger_speed] * 4)
    trajectory = HandTrajectory(
        fps=motion.fps,
        drivers=fingers.drivers,
        arm=arm,
        human_keypoints=fingers.human,
        robot_keypoints=InspireKinematics().keypoints(fingers.drivers),
        scale=fingers.scale,
        source=dict(motion.source),
        speed_limits=speeds,
        arm_solution=arm_solution,
    )
    trajectory.quality = hand_quality(trajectory)
    return trajectory


def save_hand_trajectory(
    path: str | Path, trajectory: HandTrajectory, extra: dict[str, np.ndarray] | None = None
) -> Path:
    """Write `trajectory` (and `extra` arrays, such as a replay's) atomically as an npz."""
    arrays: dict[str, Any] = {
        "schema": np.array(SCHEMA),
        "fps": np.array(trajectory.fps),
        "joint_names": np.array(ARM_JOINT_NAMES + DRIVER_JOINTS),
        "hand_order": np.array(HARDWARE_HAND_ORDER),
        "drivers": trajectory.drivers,
        "arm": trajectory.arm,
        "closures": trajectory.closures,
        "hardware": trajectory.hardware,
        "being_h0": trajectory.being_h0,
        "human_keypoints": trajectory.human_keypoints,
        "robot_keypoints": trajectory.robot_keypoints,
        "scale": np.array(trajectory.scale),
        "unreachable": np.array(
            [] if trajectory.arm_solution is None else trajectory.arm_solution.unreachable, dtype=np.int64
        ),
        "source": np.array(json.dumps(trajectory.source)),
        "quality": np.array(json.dumps(trajectory.quality)),
        **(extra or {}),
    }
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return Path(path)
