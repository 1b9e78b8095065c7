"""Putting a motion in the internal frame and on the floor.

Internal frame: z-up, metres. Facing convention: after `normalize(face=True)` the person faces +x
at frame 0 with their left on +y (so forward = left × up). Loaders call `axes_rotation` to go from a
source's axes to these; `normalize` then puts the feet on the floor, optionally resets facing and
origin, resamples, and estimates foot contacts.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.ndimage import median_filter
from scipy.spatial.transform import Rotation, Slerp

from mimicsim.errors import ConfigError, InputFileError
from mimicsim.retarget.human.contacts import estimate_contacts
from mimicsim.retarget.human.motion import HumanMotion
from mimicsim.retarget.human.skeleton import ANKLES, FEET, SMPL_JOINTS

_AXES = "xyz"
_UPRIGHT_COS = 0.7
"""A frame is upright when the feet-to-head direction is within ~45° of up."""
_GLITCH = 0.03
"""Frames whose lowest foot is this far (m) from its 5-frame median are glitches, not the floor."""


def parse_up(up: str) -> tuple[int, float]:
    """("y" | "+y" | "-z" ...) -> (axis index, sign)."""
    text = up.strip().lower() if isinstance(up, str) else ""
    sign = -1.0 if text.startswith("-") else 1.0
    axis = text.lstrip("+-")
    if axis not in ("x", "y", "z") or len(text) - len(axis) > 1:
        raise ConfigError(f"up={up!r}: use x, y or z, optionally signed (e.g. -y), or auto")
    return _AXES.index(axis), sign


def axes_rotation(up: str) -> np.ndarray:
    """The proper rotation R (internal = R @ source) taking the source's `up` axis to +z.

    The source's axes are permuted cyclically, so the common conventions land as expected: a y-up
    source facing +Z with +X on the person's left (HumanML3D, CMU, SMPL BVH) faces +x with left +y."""
    axis, sign = parse_up(up)
    rotation = np.zeros((3, 3))
    rotation[0, (axis + 1) % 3] = 1.0
    rotation[1, (axis + 2) % 3] = sign
    rotation[2, axis] = sign
    return rotation


def _body_up(positions: np.ndarray) -> np.ndarray:
    """(T, 3) unit vectors from the mid-ankle point to the head, per frame (SMPL-22 joints)."""
    head = positions[:, SMPL_JOINTS.index("head")]
    ankles = positions[:, [SMPL_JOINTS.index(a) for a in ANKLES]].mean(axis=1)
    v = head - ankles
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def detect_up(positions: np.ndarray, where: Path | str | None) -> str:
    """The signed source axis along which the person is upright in the most frames."""
    body_up = _body_up(positions)
    best, best_count, best_mean = "", 0, -np.inf
    for axis in range(3):
        for sign, prefix in ((1.0, ""), (-1.0, "-")):
            cos = sign * body_up[:, axis]
            count, mean = int((cos > _UPRIGHT_COS).sum()), float(cos.mean())
            if (count, mean) > (best_count, best_mean):
                best, best_count, best_mean = prefix + _AXES[axis], count, mean
    if best_count == 0:
        raise InputFileError(
            where,
            "cannot detect the up axis: the person is not upright in any frame along "
            "any axis (joints scrambled or not a standing human?); pass up= (e.g. up=y)",
        )
    return best


def check_upright(positions: np.ndarray, where: Path | str | None, up: str) -> None:
    """Internal-frame joints must stand upright in at least one frame, else the axes are wrong."""
    cos = _body_up(positions)[:, 2]
    if (cos > _UPRIGHT_COS).any():
        return
    state = "upside down" if np.median(cos) < -_UPRIGHT_COS else "lying down"
    raise InputFileError(
        where,
        f"with up={up} the person is {state} in every frame: wrong axes? pass the file's real up "
        "axis (up=y, up=z, ... or up=auto to detect it); if the person really never stands, pass up= explicitly",
    )


def sides_swapped(positions: np.ndarray) -> bool:
    """True when the skeleton's left and right look swapped: the facing given by the hips and shoulders
    (forward = left × up) points against where the feet and the head point, in most frames. A mirrored
    skeleton or a left-handed file does this; real and procedural clips agree in every frame."""
    yaw = facing_yaw(positions)
    toes = sum(
        positions[:, SMPL_JOINTS.index(t)] - positions[:, SMPL_JOINTS.index(a)]
        for a, t in zip(ANKLES, FEET, strict=True)
    )
    pointing = toes + positions[:, SMPL_JOINTS.index("head")] - positions[:, SMPL_JOINTS.index("neck")]
    agreement = np.cos(yaw) * pointing[:, 0] + np.sin(yaw) * pointing[:, 1]
    return bool(np.median(np.sign(agreement)) < 0)


def foot_heights(positions: np.ndarray, joint_names: tuple[str, ...] = SMPL_JOINTS) -> np.ndarray:
    """(T,) height of the lowest ankle or toe joint per frame."""
    idx = [joint_names.index(n) for n in ANKLES + FEET]
    return positions[:, idx, 2].min(axis=1)


def floor_height(positions: np.ndarray, joint_names: tuple[str, ...] = SMPL_JOINTS) -> float:
    """Height of the floor under the feet: the lowest foot over the clip, ignoring glitch frames
    (isolated spikes that differ from the 5-frame median by more than 3 cm)."""
    lowest = foot_heights(positions, joint_names)
    smooth = median_filter(lowest, size=min(5, lowest.size), mode="nearest")
    good = np.abs(lowest - smooth) <= _GLITCH
    return float(lowest[good].min() if good.any() else np.median(lowest))


def facing_yaw(positions: np.ndarray, joint_names: tuple[str, ...] = SMPL_JOINTS) -> np.ndarray:
    """(T,) heading (rad about +z, 0 = facing +x) from the hips and shoulders: forward = left × up."""

    def across(left: str, right: str) -> np.ndarray:
        return positions[:, joint_names.index(left)] - positions[:, joint_names.index(right)]

    left = across("left_hip", "right_hip") + across("left_shoulder", "right_shoulder")
    return np.arctan2(-left[:, 0], left[:, 1])


def resample(motion: HumanMotion, fps: float) -> HumanMotion:
    """The motion at `fps`: positions interpolated linearly, rotations by slerp, contacts by nearest frame.
    Keeps the duration (the last frame falls on or before the original end)."""
    if not (np.isfinite(fps) and fps > 0):
        raise ConfigError(f"fps={fps}: must be a positive number")
    if fps == motion.fps:
        return motion
    times = np.arange(motion.num_frames) / motion.fps
    new_times = np.arange(int(np.floor(motion.duration * fps + 1e-9)) + 1) / fps
    flat = motion.positions.reshape(motion.num_frames, -1)
    positions = np.stack([np.interp(new_times, times, column) for column in flat.T], axis=1)
    positions = positions.reshape(len(new_times), *motion.positions.shape[1:])
    nearest = np.clip(np.rint(new_times * motion.fps).astype(int), 0, motion.num_frames - 1)
    contacts = None if motion.contacts is None else motion.contacts[nearest]
    rotations = None
    if motion.rotations is not None:
        rotations = np.stack(
            [
                Slerp(times, Rotation.from_quat(motion.rotations[:, j], scalar_first=True))(new_times).as_quat(
                    scalar_first=True
                )
                for j in range(motion.rotations.shape[1])
            ],
            axis=1,
        )
    return replace(motion, positions=positions, fps=float(fps), contacts=contacts, rotations=rotations)


def normalize(
    motion: HumanMotion,
    *,
    floor: bool = True,
    face: bool = False,
    origin: bool = False,
    fps: float | None = None,
    contacts: bool = True,
) -> HumanMotion:
    """The motion made ready for retargeting.

    Args:
        floor: Shift vertically so the lowest foot touches z = 0 (robust to a few glitch frames).
            Raw generated clips often sink 10-25 cm or float.
        face: Rotate about +z so that at frame 0 the person faces +x (left on +y).
        origin: Translate horizontally so that the pelvis starts above the origin.
        fps: Resample to this frame rate.
        contacts: Estimate foot contacts (`mimicsim.retarget.human.contacts`) on the result.
    """
    if fps is not None:
        motion = resample(motion, fps)
    positions = motion.positions.copy()
    rotations = motion.rotations
    pelvis0 = positions[0, motion.joint_names.index("pelvis")].copy()
    if face:
        yaw = float(facing_yaw(positions[:1], motion.joint_names)[0])
        turn = Rotation.from_euler("z", -yaw)
        positions = turn.apply((positions - pelvis0).reshape(-1, 3)).reshape(positions.shape) + pelvis0
        if rotations is not None:
            flat = turn * Rotation.from_quat(rotations.reshape(-1, 4), scalar_first=True)
            rotations = flat.as_quat(scalar_first=True).reshape(rotations.shape)
    if origin:
        positions[..., :2] -= pelvis0[:2]
    if floor:
        positions[..., 2] -= floor_height(positions, motion.joint_names)
    result = replace(motion, positions=positions, rotations=rotations)
    if contacts:
        result = replace(result, contacts=estimate_contacts(result.positions, result.fps, result.joint_names))
    return result
