"""The canonical 22-joint SMPL body skeleton that every human motion is mapped onto."""

from __future__ import annotations

SMPL_JOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
)
SMPL_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
# HumanML3D's standard bone lengths (m), for joints 1..21 (the bone to each joint's parent).
SMPL_BONE_LENGTHS: tuple[float, ...] = (
    0.1031, 0.1099, 0.1316, 0.3936, 0.3902, 0.1432, 0.4324, 0.4256, 0.0574, 0.1434, 0.1494,
    0.2194, 0.1375, 0.1434, 0.1030, 0.1316, 0.1230, 0.2568, 0.2631, 0.2660, 0.2699,
)
FEET: tuple[str, str] = ("left_foot", "right_foot")
ANKLES: tuple[str, str] = ("left_ankle", "right_ankle")


def joint_index(name: str) -> int:
    return SMPL_JOINTS.index(name)
