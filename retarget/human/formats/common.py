"""What every loader shares: units, the up axis, and turning source-frame joints into a `HumanMotion`."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from mimicsim.errors import ConfigError, InputFileError
from mimicsim.npyio import file_sha256
from mimicsim.retarget.human.motion import (
    MAX_HEIGHT,
    MIN_HEIGHT,
    HumanMotion,
    MotionSource,
    bone_lengths,
    check_fps,
)
from mimicsim.retarget.human.normalize import axes_rotation, check_upright, detect_up, parse_up, sides_swapped
from mimicsim.retarget.human.skeleton import SMPL_PARENTS

UNITS: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "cmu": 0.05644, "in": 0.0254}
"""Metres per unit. "cmu": the CMU mocap BVH unit (1/0.45 inch * 0.0254 m ≈ 0.05644 m)."""


def parse_units(units: str | float) -> float:
    """Metres per file unit from a unit name ("m", "cm", "mm", "cmu", "in") or a number."""
    if isinstance(units, (int, float)) and not isinstance(units, bool):
        scale = float(units)
    elif isinstance(units, str) and units.lower() in UNITS:
        return UNITS[units.lower()]
    else:
        try:
            scale = float(units)
        except (TypeError, ValueError):
            raise ConfigError(
                f"units={units!r}: use one of {', '.join(UNITS)} or metres per unit as a number"
            ) from None
    if not (np.isfinite(scale) and scale > 0):
        raise ConfigError(f"units={units!r}: metres per unit must be a positive number")
    return scale


def detect_units(height: float | None, where: Path) -> tuple[str, float]:
    """The unit that makes a skeleton `height` file-units tall a plausible person (0.5-2.5 m).

    The ranges of metres, CMU units, centimetres and millimetres do not overlap, so the answer is
    unique when there is one."""
    if height is None:
        return "m", 1.0
    for name in ("m", "cmu", "cm", "mm"):
        if MIN_HEIGHT <= height * UNITS[name] <= MAX_HEIGHT:
            return name, UNITS[name]
    raise InputFileError(
        where,
        f"cannot tell the units: the skeleton is {height:.4g} file units tall, which is no plausible "
        f"person height ({MIN_HEIGHT}-{MAX_HEIGHT} m) in metres, CMU units, centimetres or millimetres; "
        "pass units= (m, cm, mm, cmu, in, or metres per unit)",
    )


_MIRROR_Y = np.diag([1.0, -1.0, 1.0])
"""Reflection across the sagittal plane of the internal z-up frame."""

MAX_BONE_SPREAD = 0.2
"""Bone lengths varying more than this across frames (relative std, median over bones) are not one
body. Mocap and SMPL clips: 0; text-to-motion generators: 1-3 %."""


def bone_length_spread(positions: np.ndarray) -> float:
    """Median over the SMPL-22 bones of each bone length's relative standard deviation over frames."""
    lengths = bone_lengths(positions, SMPL_PARENTS)[:, 1:]
    return float(np.median(lengths.std(axis=0) / np.maximum(lengths.mean(axis=0), 1e-9)))


def source(path: Path, format: str, details: dict[str, str]) -> MotionSource:
    """Where a motion came from; arrays converted in memory name a path that need not exist."""
    sha256 = file_sha256(path) if path.is_file() else None
    return MotionSource(path=str(path), format=format, sha256=sha256, details=details)


def smpl_motion(
    positions: np.ndarray,
    fps: float,
    path: Path,
    format: str,
    *,
    up: str = "auto",
    trust_up: bool = False,
    details: dict[str, str] | None = None,
    rotations_wxyz: np.ndarray | None = None,
) -> HumanMotion:
    """A `HumanMotion` on the 22-joint SMPL skeleton from joints in the source frame (metres).

    `up` names the source's up axis ("y", "-z", ...) or "auto" to detect it as the axis along which
    the person stands upright in the most frames. Unless `trust_up` (the user chose the axis), the
    result must be upright in some frame: a person who never stands means wrong axes."""
    details = dict(details or {})
    if positions.shape[0] < 2:
        raise InputFileError(path, f"a motion needs at least 2 frames, this one has {positions.shape[0]}")
    if not np.isfinite(positions).all():
        bad = np.unique(np.nonzero(~np.isfinite(positions))[0])
        raise InputFileError(path, f"NaN or infinite values in {bad.size} frames (first: frame {bad[0]})")
    fps = check_fps(fps, path)
    spread = bone_length_spread(positions)
    if spread > MAX_BONE_SPREAD:
        raise InputFileError(
            path,
            f"the joints do not form a skeleton: bone lengths vary by {spread:.0%} across "
            "frames (wrong joint order, or not SMPL-ordered joints?)",
        )
    if up == "auto":
        up = detect_up(positions, path)
        details["up"] = f"{up} (detected)"
    else:
        parse_up(up)
        details["up"] = up
    rotation = axes_rotation(up)
    internal = positions @ rotation.T
    if not trust_up:
        check_upright(internal, path, up)
    if sides_swapped(internal):
        # A left-handed file: a robot asked to follow it would reach across its own body with each
        # limb. Reflecting the lateral axis makes it a right-handed person with its labels intact.
        rotation = _MIRROR_Y @ rotation
        internal = positions @ rotation.T
        details["warning"] = (
            "left and right look swapped (the feet and head point against the facing of the "
            "hips and shoulders: a mirrored skeleton or a left-handed file); mirrored it "
            "left-right so each side keeps its label"
        )
        warnings.warn(f"{path}: {details['warning']}", UserWarning, stacklevel=2)
    rotations = None
    if rotations_wxyz is not None:  # the same change of axes, applied to orientations
        # R' = A R A^-1 is a proper rotation even when the change of axes A is a reflection.
        matrices = Rotation.from_quat(rotations_wxyz.reshape(-1, 4), scalar_first=True).as_matrix()
        rotations = Rotation.from_matrix(rotation @ matrices @ rotation.T).as_quat(scalar_first=True)
        rotations = rotations.reshape(rotations_wxyz.shape)
    return HumanMotion(positions=internal, fps=float(fps), source=source(path, format, details), rotations=rotations)
