"""A retargeted hand motion and its file.

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

from mimicsim.assets.franka_inspire import INSPIRE_DRIVER_JOINTS
from mimicsim.assets.hand_mapping import HARDWARE_HAND_ORDER, being_h0_hand_to_hardware, mujoco_to_being_h0
from mimicsim.atomic import atomic_path
from mimicsim.retarget.hand.arm import ArmSolution

SCHEMA = "mimicsim.hand_trajectory/1"
ARM_JOINT_NAMES = tuple(f"joint{i}" for i in range(1, 8))


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


def save_hand_trajectory(
    path: str | Path, trajectory: HandTrajectory, extra: dict[str, np.ndarray] | None = None
) -> Path:
    """Write `trajectory` (and `extra` arrays, such as a replay's) atomically as an npz."""
    arrays: dict[str, Any] = {
        "schema": np.array(SCHEMA),
        "fps": np.array(trajectory.fps),
        "joint_names": np.array(ARM_JOINT_NAMES + INSPIRE_DRIVER_JOINTS),
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
