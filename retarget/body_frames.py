"""Orientations of the body segments that joint positions determine: pelvis, torso (chest) and
feet. Built the same way from a human's joints and from a robot's, so an upright body facing +x
has the identity frame and no per-robot convention is needed (x forward, y left, z up)."""

from __future__ import annotations

import numpy as np


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def lateral_up_frame(left: np.ndarray, right: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations whose y axis runs right -> left and whose z axis is `up` made
    orthogonal to it; x = y cross z points forward."""
    y = _unit(left - right)
    z = _unit(up - np.sum(up * y, axis=-1, keepdims=True) * y)
    return np.stack([np.cross(y, z), y, z], axis=-1)


def yaw_pitch_frame(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations Rz(yaw) @ Ry(pitch); positive pitch tips the x axis down."""
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    zero = np.zeros_like(yaw)
    return np.stack(
        [
            np.stack([cy * cp, -sy, cy * sp], axis=-1),
            np.stack([sy * cp, cy, sy * sp], axis=-1),
            np.stack([-sp, zero, cp], axis=-1),
        ],
        axis=-2,
    )


def heading(frames: np.ndarray) -> np.ndarray:
    """Yaw (rad) of each frame's x axis."""
    return np.arctan2(frames[..., 1, 0], frames[..., 0, 0])


def foot_direction(ankle: np.ndarray, toe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Yaw and elevation (rad, positive = toe above ankle) of the ankle -> toe vector."""
    d = toe - ankle
    return np.arctan2(d[..., 1], d[..., 0]), np.arctan2(d[..., 2], np.linalg.norm(d[..., :2], axis=-1))


def foot_frames(
    ankle: np.ndarray, toe: np.ndarray, flat_elevation: float, body_yaw: np.ndarray, max_turn: float
) -> np.ndarray:
    """(T, 3, 3) foot orientations: yaw of the foot (within `max_turn` of `body_yaw`), pitch
    relative to its flat-on-the-floor elevation (a human's toe joint sits lower than its ankle
    even when the foot is flat)."""
    yaw, elevation = foot_direction(ankle, toe)
    turn = np.clip(np.angle(np.exp(1j * (yaw - body_yaw))), -max_turn, max_turn)
    return yaw_pitch_frame(body_yaw + turn, flat_elevation - elevation)
