"""The canonical 22-joint SMPL body skeleton that every human motion is mapped onto."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SMPL_JOINTS: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
)
SMPL_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
# HumanML3D's standard bone lengths (m), for joints 1..21 (the bone to each joint's parent).
SMPL_BONE_LENGTHS: tuple[float, ...] = (
    0.1031,
    0.1099,
    0.1316,
    0.3936,
    0.3902,
    0.1432,
    0.4324,
    0.4256,
    0.0574,
    0.1434,
    0.1494,
    0.2194,
    0.1375,
    0.1434,
    0.1030,
    0.1316,
    0.1230,
    0.2568,
    0.2631,
    0.2660,
    0.2699,
)
SMPL_MIRROR: tuple[int, ...] = tuple(
    SMPL_JOINTS.index(n.replace("left", "@").replace("right", "left").replace("@", "right")) for n in SMPL_JOINTS
)
"""Index of each joint's left-right counterpart (itself for the spine and head)."""
FEET: tuple[str, str] = ("left_foot", "right_foot")
ANKLES: tuple[str, str] = ("left_ankle", "right_ankle")


# Unit bone directions of a relaxed upright stance (arms hanging), in the internal frame: the person
# faces +x, left is +y, up is +z. Approximates the SMPL mean body (hips below and beside the pelvis,
# a slight lumbar curve, head forward of the neck, toes out). Used wherever a rest pose is needed:
# the procedural generator's upper body and the BVH writer's OFFSETs.
SMPL_REST_DIRECTIONS: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 0.0),  # pelvis (root)
    (-0.05, 0.6, -0.8),
    (-0.05, -0.6, -0.8),  # hips
    (-0.2, 0.0, 0.98),  # spine1
    (0.0, 0.08, -1.0),
    (0.0, -0.08, -1.0),  # knees
    (0.02, 0.0, 1.0),  # spine2
    (-0.1, -0.03, -1.0),
    (-0.1, 0.03, -1.0),  # ankles
    (0.45, 0.0, 0.9),  # spine3
    (0.88, 0.15, -0.42),
    (0.88, -0.15, -0.42),  # feet (toes)
    (-0.2, 0.0, 0.98),  # neck
    (-0.23, 0.53, 0.82),
    (-0.23, -0.53, 0.82),  # collars
    (0.6, 0.0, 0.8),  # head
    (-0.09, 0.94, 0.31),
    (-0.09, -0.94, 0.31),  # shoulders
    (0.0, 0.17, -0.98),
    (0.0, -0.17, -0.98),  # elbows
    (0.1, 0.05, -0.99),
    (0.1, -0.05, -0.99),  # wrists
)


def rest_offsets(bone_lengths: tuple[float, ...] | None = None) -> np.ndarray:
    """(22, 3) offsets of each joint from its parent in the rest stance (zero for the pelvis).

    `bone_lengths` lists joints 1..21 like `SMPL_BONE_LENGTHS` (the default)."""
    lengths = np.concatenate([[0.0], SMPL_BONE_LENGTHS if bone_lengths is None else bone_lengths])
    directions = np.asarray(SMPL_REST_DIRECTIONS, dtype=float)
    norms = np.linalg.norm(directions, axis=1, keepdims=True)
    return directions / np.where(norms > 0, norms, 1.0) * lengths[:, None]


LIMB_BONES: tuple[tuple[str, str], ...] = tuple(
    (f"{side}_{a}", f"{side}_{b}")
    for side in ("left", "right")
    for a, b in (("hip", "knee"), ("knee", "ankle"), ("ankle", "foot"), ("shoulder", "elbow"), ("elbow", "wrist"))
)
"""The limb bones (thighs, shins, feet, upper arms, forearms) as (parent joint, child joint)."""


def limb_angular_speed(positions: np.ndarray, names: Sequence[str], fps: float) -> np.ndarray:
    """(T-1,) how fast the fastest limb bone turns between consecutive frames (rad/s): the angle
    between its directions in the two frames, times the frame rate. Twist about a bone is not
    seen in joint positions, so it is not counted. Bones with a joint missing from `names` are
    skipped."""
    index = {name: i for i, name in enumerate(names)}
    bones = [(index[a], index[b]) for a, b in LIMB_BONES if a in index and b in index]
    if not bones or len(positions) < 2:
        return np.zeros(max(len(positions) - 1, 0))
    parents, children = np.array(bones).T
    direction = positions[:, children] - positions[:, parents]
    direction /= np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-9)
    cos = (direction[1:] * direction[:-1]).sum(axis=-1)
    return np.arccos(np.clip(cos, -1.0, 1.0)).max(axis=1) * fps
