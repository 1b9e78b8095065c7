"""The 272-dim motion representation of MotionMillion ("Go to Zero") and MotionStreamer -> exact joints.

Source convention: y-up, metres, 30 fps in the released datasets; the person starts facing +Z with
+X on their left. Layout per frame: [0:2] root XZ velocity with the heading removed; [2:8] the
heading change from the previous frame as 6D (first two rows of a rotation matrix); [8:74] 22 local
joint positions (heading removed, root XZ at the origin, floor at the clip's lowest y); [74:140]
local joint velocities; [140:272] 22 SMPL local rotations as 6D.

Recovery: heading_t = delta_t @ heading_{t-1} (heading_0 = delta_0); joints_t = heading_t^T @ local_t;
the root velocity of frame 0 is taken as is and that of frame t >= 1 is un-rotated by heading_{t-1};
their running sum is the root XZ. The result equals the source's SMPL joints minus (root XZ at
frame 0, the clip's lowest y).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mimicsim.npyio import read_npy
from mimicsim.retarget.human.formats.features import denormalise, feature_matrix, feature_motion
from mimicsim.retarget.human.motion import HumanMotion

DIM = 272
FPS = 30.0
ROOT_HEIGHT = 9  # y of joint 0 in the local positions
_LOCAL = slice(8, 8 + 22 * 3)


def rotation_6d_to_matrix(d6: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices whose first two rows are Gram-Schmidt-orthonormalised from d6 (..., 6)."""
    a, b = d6[..., :3], d6[..., 3:]
    with np.errstate(invalid="ignore", divide="ignore"):  # degenerate rows become NaN, reported by the caller
        r0 = a / np.linalg.norm(a, axis=-1, keepdims=True)
        r1 = b - np.sum(r0 * b, axis=-1, keepdims=True) * r0
        r1 = r1 / np.linalg.norm(r1, axis=-1, keepdims=True)
    return np.stack([r0, r1, np.cross(r0, r1)], axis=-2)


def recover_joints(features: np.ndarray) -> np.ndarray:
    """(T, 22, 3) y-up joint positions from raw (T, 272) features."""
    num = features.shape[0]
    deltas = rotation_6d_to_matrix(features[:, 2:8])
    heading = np.empty_like(deltas)
    heading[0] = deltas[0]
    for t in range(1, num):  # a running product; T 3x3 products cost microseconds
        heading[t] = deltas[t] @ heading[t - 1]
    inverse = np.swapaxes(heading, 1, 2)
    joints = np.einsum("tij,tkj->tki", inverse, features[:, _LOCAL].reshape(num, 22, 3))
    velocity = np.zeros((num, 3))
    velocity[:, 0] = features[:, 0]
    velocity[:, 2] = features[:, 1]
    velocity[1:] = np.einsum("tij,tj->ti", inverse[:-1], velocity[1:])
    root = np.cumsum(velocity, axis=0)
    joints[..., 0] += root[:, None, 0]
    joints[..., 2] += root[:, None, 2]
    return joints


def from_features(features: np.ndarray, path: Path, *, mean=None, std=None, fps: float = FPS) -> HumanMotion:
    features = denormalise(feature_matrix(features, DIM, path), mean, std, path)
    return feature_motion(
        features,
        recover_joints,
        ROOT_HEIGHT,
        path,
        "rep272",
        fps,
        normalised_by_user=mean is not None,
        stats_hint="e.g. mean=motionmillion_mean.npy std=motionmillion_std.npy",
    )


def load_rep272(
    path: str | Path, *, mean: str | Path | None = None, std: str | Path | None = None, fps: float = FPS
) -> HumanMotion:
    """A (T, 272) feature file as a `HumanMotion`.

    Args:
        mean: Mean statistics the features were normalised with (with `std`); omit for raw features.
        std: Std statistics the features were normalised with.
        fps: Frame rate (30 for the released MotionMillion/MotionStreamer data).
    """
    path = Path(path)
    return from_features(read_npy(path), path, mean=mean, std=std, fps=fps)
