"""`HumanMotion`: one validated human motion in the internal frame.

Internal frame (every loader converts into it): z-up, metres, seconds; after `normalize(face=True)`
the person faces +x with their left on +y at frame 0. The canonical skeleton is the 22-joint SMPL
body (`mimicsim.retarget.human.skeleton`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mimicsim.errors import InputFileError
from mimicsim.retarget.human.skeleton import SMPL_JOINTS, SMPL_PARENTS

MIN_HEIGHT, MAX_HEIGHT = 0.5, 2.5
"""Accepted person heights (m). Anything else is almost always a units mistake."""

# Stature / (leg chain + trunk chain) for the SMPL mean body: HumanML3D's standard skeleton
# (chain 1.476 m) stands with its head joint at 1.58 m, and the crown is ~13 cm above that joint.
STATURE_PER_CHAIN = 1.16
_LEG_CHAINS = (("left_hip", "left_knee", "left_ankle"), ("right_hip", "right_knee", "right_ankle"))
_TRUNK_CHAIN = ("pelvis", "spine1", "spine2", "spine3", "neck", "head")
# Units a wrong-height skeleton may really be in (name, metres per unit), for the error hint.
_UNIT_GUESSES = (("centimetres", 0.01), ("millimetres", 0.001), ("CMU units", 0.05644), ("inches", 0.0254))


@dataclass(frozen=True)
class MotionSource:
    path: str | None
    format: str
    sha256: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    """How the file was read (skeleton, units, up axis, normalisation...), for reports."""

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "format": self.format, "sha256": self.sha256, "details": dict(self.details)}


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

    @property
    def height(self) -> float | None:
        """Estimated standing height (m) from bone lengths; None for skeletons that are not SMPL-22."""
        return estimate_height(self.positions, self.joint_names)

    def joint(self, name: str) -> np.ndarray:
        """(T, 3) trajectory of one joint."""
        return self.positions[:, self.joint_names.index(name)]


def bone_lengths(positions: np.ndarray, parents: tuple[int, ...]) -> np.ndarray:
    """(T, J) distance of each joint from its parent (0 for roots)."""
    parent_pos = positions[:, [max(p, 0) for p in parents]]
    lengths = np.linalg.norm(positions - parent_pos, axis=-1)
    lengths[:, [j for j, p in enumerate(parents) if p < 0]] = 0.0
    return lengths


def estimate_height(positions: np.ndarray, joint_names: tuple[str, ...] = SMPL_JOINTS) -> float | None:
    """Standing height (m) of the skeleton, from median bone lengths, so it does not depend on the
    pose (a squat or a lying clip measure the same). None when the SMPL joints are not all present."""
    if not set(_TRUNK_CHAIN).union(*_LEG_CHAINS) <= set(joint_names):
        return None

    def chain(names: tuple[str, ...]) -> float:
        idx = [joint_names.index(n) for n in names]
        steps = np.linalg.norm(np.diff(positions[:, idx], axis=1), axis=-1)
        return float(np.median(steps, axis=0).sum())

    leg = 0.5 * (chain(_LEG_CHAINS[0]) + chain(_LEG_CHAINS[1]))
    return STATURE_PER_CHAIN * (leg + chain(_TRUNK_CHAIN))


def units_hint(height: float) -> str:
    """A sentence guessing the units of a skeleton that measures `height` metres."""
    guesses = [
        f"{name} (×{scale:g} gives {height * scale:.2f} m)"
        for name, scale in _UNIT_GUESSES
        if 1.0 <= height * scale <= 2.2
    ]
    if guesses:
        return "the numbers look like " + " or ".join(guesses) + "; pass units= to convert"
    return "check the file's units (metres are expected) and that it holds one person's joints"


MIN_FPS, MAX_FPS = 1.0, 1000.0
"""Frame rates mimicsim accepts. Every rate in use (mocap up to 480 Hz, generators at 20-60) lies
inside; outside it a file's rate is a mistake, and buffers sized by it (smoothing kernels, resampled
frames) would be absurd."""


def check_fps(fps: object, where: str | Path | None) -> float:
    """`fps` as a float, or `InputFileError` naming `where` when it is not a number in
    [MIN_FPS, MAX_FPS]."""
    try:
        value = float(fps)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputFileError(where, f"fps must be a number, got {fps!r}") from None
    if not (np.isfinite(value) and MIN_FPS <= value <= MAX_FPS):
        raise InputFileError(where, f"fps must lie in {MIN_FPS:g}-{MAX_FPS:g} frames per second, got {value:g}")
    return value


def validate(motion: HumanMotion) -> None:
    """Raise `InputFileError` naming the source when the motion cannot be used."""
    where = motion.source.path
    pos = motion.positions
    if pos.ndim != 3 or pos.shape[2] != 3:
        raise InputFileError(where, f"joint positions must have shape (T, J, 3), got {pos.shape}")
    if pos.shape[1] != len(motion.joint_names) or len(motion.parents) != len(motion.joint_names):
        raise InputFileError(
            where,
            f"{pos.shape[1]} joints in the data but {len(motion.joint_names)} joint names "
            f"and {len(motion.parents)} parents",
        )
    if pos.shape[0] < 2:
        raise InputFileError(where, f"a motion needs at least 2 frames, this one has {pos.shape[0]}")
    if not np.isfinite(pos).all():
        bad = np.unique(np.nonzero(~np.isfinite(pos))[0])
        raise InputFileError(where, f"NaN or infinite joint positions in {bad.size} frames (first: {bad[0]})")
    check_fps(motion.fps, where)
    if motion.contacts is not None and motion.contacts.shape != (pos.shape[0], 2):
        raise InputFileError(where, f"contacts must have shape (T, 2), got {motion.contacts.shape}")
    if motion.rotations is not None and motion.rotations.shape != (*pos.shape[:2], 4):
        raise InputFileError(where, f"rotations must have shape (T, J, 4), got {motion.rotations.shape}")
    height = estimate_height(pos, motion.joint_names)
    if height is not None and not MIN_HEIGHT <= height <= MAX_HEIGHT:
        raise InputFileError(
            where,
            f"the person would be {height:.3g} m tall, outside {MIN_HEIGHT}-{MAX_HEIGHT} m: " + units_hint(height),
        )
