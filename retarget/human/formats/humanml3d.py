"""HumanML3D's 263-dim motion features (T2M-GPT, MotionGPT, MoMask, MDM) -> exact joint positions.

Source convention: y-up, metres, 20 fps; the person starts facing +Z with +X on their left.
Layout per frame: [0] root yaw rate about +Y (rad/frame); [1:3] root XZ velocity in the heading
frame (m/frame); [3] root height; [4:67] joints 1-21 relative to the root, heading removed;
[67:193] 6D rotations; [193:259] joint velocities; [259:263] foot contacts.

Recovery matches HumanML3D's own `recover_from_ric`: the yaw rate of frame t-1 is integrated into the
heading of frame t (heading 0 at frame 0); HumanML3D stores the heading as the quaternion
(cos a, 0, sin a, 0), i.e. a rotation of 2a about +Y, and un-rotates velocities and local joints by
its inverse. Generators normalise features with their dataset's Mean.npy/Std.npy; pass those as
`mean=`/`std=` to de-normalise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mimicsim.npyio import read_npy
from mimicsim.retarget.human.formats.features import denormalise, feature_matrix, feature_motion
from mimicsim.retarget.human.motion import HumanMotion

DIM = 263
FPS = 20.0
ROOT_HEIGHT = 3
_LOCAL = slice(4, 4 + 21 * 3)


def _unrotate_y(v: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate vectors (..., 3) about +Y by -2*angle: the inverse of HumanML3D's heading quaternion."""
    c, s = np.cos(2 * angle), np.sin(2 * angle)
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    return np.stack([x * c - z * s, y, x * s + z * c], axis=-1)


def recover_joints(features: np.ndarray) -> np.ndarray:
    """(T, 22, 3) y-up joint positions from raw (T, 263) features."""
    num = features.shape[0]
    angle = np.concatenate([[0.0], np.cumsum(features[:-1, 0])])
    step = np.zeros((num, 3))
    step[1:, 0] = features[:-1, 1]
    step[1:, 2] = features[:-1, 2]
    root = np.cumsum(_unrotate_y(step, angle), axis=0)
    root[:, 1] = features[:, ROOT_HEIGHT]
    local = _unrotate_y(features[:, _LOCAL].reshape(num, 21, 3), angle[:, None])
    local[..., 0] += root[:, None, 0]
    local[..., 2] += root[:, None, 2]
    return np.concatenate([root[:, None], local], axis=1)


def from_features(features: np.ndarray, path: Path, *, mean=None, std=None, fps: float = FPS) -> HumanMotion:
    features = denormalise(feature_matrix(features, DIM, path), mean, std, path)
    return feature_motion(
        features,
        recover_joints,
        ROOT_HEIGHT,
        path,
        "humanml3d",
        fps,
        normalised_by_user=mean is not None,
        stats_hint="e.g. mean=HumanML3D/Mean.npy std=HumanML3D/Std.npy",
    )


def load_humanml3d(
    path: str | Path, *, mean: str | Path | None = None, std: str | Path | None = None, fps: float = FPS
) -> HumanMotion:
    """A (T, 263) HumanML3D feature file as a `HumanMotion`.

    Args:
        mean: Mean.npy the features were normalised with (with `std`); omit for raw features.
        std: Std.npy the features were normalised with.
        fps: Frame rate (HumanML3D is 20).
    """
    path = Path(path)
    return from_features(read_npy(path), path, mean=mean, std=std, fps=fps)
