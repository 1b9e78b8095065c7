"""Human hand motion -> Franka + Inspire trajectory, in every convention the robot speaks.

`retarget_hand(motion)` runs the finger retargeter (`fingers.py`) and, when the motion carries the
wrist's pose, the arm's IK (`arm.py`); without a wrist pose the arm holds its home pose. The hand
comes out as MuJoCo driver radians, as Being-H0's closures (0 open .. 1 closed, hardware order) and
as the hardware's 0..1000 integers, all through `assets.hand_mapping`, and the quality report
(`quality.py`) is computed on every result.

The result is a `trajectory.HandTrajectory`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mimicsim.assets.franka_inspire import HOME_ARM_QPOS
from mimicsim.retarget.hand.arm import ArmConfig, solve_arm
from mimicsim.retarget.hand.fingers import FingerConfig, retarget_fingers
from mimicsim.retarget.hand.inspire import InspireKinematics
from mimicsim.retarget.hand.keypoints import HandMotion
from mimicsim.retarget.hand.quality import hand_quality
from mimicsim.retarget.hand.trajectory import HandTrajectory


@dataclass(frozen=True)
class HandRetargetConfig:
    """Settings of hand retargeting."""

    fingers: FingerConfig = field(default_factory=FingerConfig)
    arm: ArmConfig = field(default_factory=ArmConfig)


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
