"""`HumanMotion`: one validated human motion in the internal frame (z-up, metres, seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mimicsim.errors import InputFileError
from mimicsim.retarget.skeleton import SMPL_JOINTS, SMPL_PARENTS


@dataclass(frozen=True)
class MotionSource:
    path: str | None
    format: str
    sha256: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"path": self.path, "format": self.format, "sha256": self.sha256}


@dataclass(frozen=True)
class HumanMotion:
    positions: np.ndarray
    """(T, J, 3) joint positions, z-up, metres."""
    fps: float
    source: MotionSource
    joint_names: tuple[str, ...] = SMPL_JOINTS
    parents: tuple[int, ...] = SMPL_PARENTS
    contacts: np.ndarray | None = None
    """(T, 2) booleans: left foot, right foot on the ground."""
    rotations: np.ndarray | None = field(default=None, repr=False)
    """(T, J, 4) global joint orientations, quaternions wxyz, when the source has them."""

    def __post_init__(self) -> None:
        validate(self)

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def duration(self) -> float:
        return (self.num_frames - 1) / self.fps

    def joint(self, name: str) -> np.ndarray:
        """(T, 3) trajectory of one joint."""
        return self.positions[:, self.joint_names.index(name)]


def validate(motion: HumanMotion) -> None:
    """Raise `InputFileError` naming the source when the motion cannot be used."""
    where = motion.source.path
    pos = motion.positions
    if pos.ndim != 3 or pos.shape[2] != 3:
        raise InputFileError(where, f"joint positions must have shape (T, J, 3), got {pos.shape}")
    if pos.shape[1] != len(motion.joint_names) or len(motion.parents) != len(motion.joint_names):
        raise InputFileError(
            where, f"{pos.shape[1]} joints in the data but {len(motion.joint_names)} joint names "
            f"and {len(motion.parents)} parents"
        )
    if pos.shape[0] < 2:
        raise InputFileError(where, f"a motion needs at least 2 frames, this one has {pos.shape[0]}")
    if not np.isfinite(pos).all():
        bad = np.unique(np.nonzero(~np.isfinite(pos))[0])
        raise InputFileError(where, f"NaN or infinite joint positions in {bad.size} frames (first: {bad[0]})")
    if not (np.isfinite(motion.fps) and motion.fps > 0):
        raise InputFileError(where, f"fps must be a positive number, got {motion.fps}")
    if motion.contacts is not None and motion.contacts.shape != (pos.shape[0], 2):
        raise InputFileError(where, f"contacts must have shape (T, 2), got {motion.contacts.shape}")
    if motion.rotations is not None and motion.rotations.shape != pos.shape[:2] + (4,):
        raise InputFileError(where, f"rotations must have shape (T, J, 4), got {motion.rotations.shape}")
