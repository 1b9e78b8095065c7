"""The one mapping layer between the Franka + Inspire conventions.

Three conventions meet here:

- **MuJoCo** (`franka_inspire_spec`): 13 actuators in model order, all radians —
  Panda `joint1..joint7`, then the hand's drivers: thumb yaw, thumb pitch, index, middle, ring,
  pinky (proximal joints). Joint positions read back in the same order.
- **Being-H0** (the VLA's 13-D state and action): the 7 Panda joint angles in radians, then 6 hand
  values, *chosen and fixed here* as the hand's **hardware order** (pinky, ring, middle, index,
  thumb bend, thumb rotation) in **closure units**: 0.0 = fully open, 1.0 = fully closed, linear in
  each driver joint's angle over its range. Being-H0 was trained on real-robot data recorded through
  the hand's own interface, so its hand values most likely follow that order; closure units keep
  them independent of the 0-1000 direction an SDK happens to use.
- **Hardware** (Inspire RH56 `angle_set`): six integers 0..1000 in the order pinky, ring, middle,
  index, thumb bend, thumb rotation. SDKs disagree on whether 1000 means open or closed:
  `HardwareConvention.open_value` says which (Inspire's own SDK: 1000 = open, the default).

Every function accepts batches: arrays of shape (..., 13) or (..., 6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimicsim.errors import ConfigError

ARM_DIM = 7
HAND_DIM = 6
ACTION_DIM = ARM_DIM + HAND_DIM

MUJOCO_HAND_ORDER = ("thumb_yaw", "thumb_pitch", "index", "middle", "ring", "pinky")
HARDWARE_HAND_ORDER = ("pinky", "ring", "middle", "index", "thumb_pitch", "thumb_yaw")
BEING_H0_HAND_ORDER = HARDWARE_HAND_ORDER

# Driver joint ranges in MuJoCo order (radians); equal to the actuators' ctrlrange in
# models/inspire_hand_right.xml (a test keeps them in step). Closure 1.0 is the upper limit:
# every driver flexes (or, for thumb yaw, opposes the thumb) towards positive angles.
HAND_LOWER = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
HAND_UPPER = np.array([1.308, 0.6, 1.47, 1.47, 1.47, 1.47])

# Index permutations between the two hand orders.
_H0_FROM_MJ = np.array([MUJOCO_HAND_ORDER.index(name) for name in BEING_H0_HAND_ORDER])
_MJ_FROM_H0 = np.array([BEING_H0_HAND_ORDER.index(name) for name in MUJOCO_HAND_ORDER])
HARDWARE_MAX = 1000


@dataclass(frozen=True)
class HardwareConvention:
    """How a hand SDK reads its 0..1000 integers: `open_value` is the value of a fully open joint
    (1000 for Inspire's SDK; 0 for SDKs that count closure)."""

    open_value: int = HARDWARE_MAX

    def __post_init__(self) -> None:
        if self.open_value not in (0, HARDWARE_MAX):
            raise ConfigError(f"open_value must be 0 or {HARDWARE_MAX}, got {self.open_value}")


def hand_radians_to_closure(radians: np.ndarray) -> np.ndarray:
    """Driver angles (..., 6) in MuJoCo order -> closures (..., 6) in MuJoCo order."""
    return (np.asarray(radians, dtype=np.float64) - HAND_LOWER) / (HAND_UPPER - HAND_LOWER)


def hand_closure_to_radians(closure: np.ndarray) -> np.ndarray:
    """Closures (..., 6) in MuJoCo order -> driver angles (..., 6) in MuJoCo order."""
    return HAND_LOWER + np.asarray(closure, dtype=np.float64) * (HAND_UPPER - HAND_LOWER)


def mujoco_to_being_h0(values: np.ndarray) -> np.ndarray:
    """MuJoCo actuator-order radians (..., 13) -> Being-H0 vector (..., 13)."""
    values = _check_last_dim(values, ACTION_DIM, "MuJoCo joint vector")
    closure = hand_radians_to_closure(values[..., ARM_DIM:])
    return np.concatenate([values[..., :ARM_DIM], closure[..., _H0_FROM_MJ]], axis=-1)


def being_h0_to_mujoco(vector: np.ndarray) -> np.ndarray:
    """Being-H0 vector (..., 13) -> MuJoCo actuator-order radians (..., 13), e.g. `data.ctrl`."""
    vector = _check_last_dim(vector, ACTION_DIM, "Being-H0 vector")
    radians = hand_closure_to_radians(vector[..., ARM_DIM:][..., _MJ_FROM_H0])
    return np.concatenate([vector[..., :ARM_DIM], radians], axis=-1)


def being_h0_hand_to_hardware(hand: np.ndarray, convention: HardwareConvention = HardwareConvention()) -> np.ndarray:
    """Being-H0 hand closures (..., 6) -> hardware integers (..., 6), clipped to 0..1000.
    Both use the hardware order, so only the units change."""
    closure = np.clip(_check_last_dim(hand, HAND_DIM, "Being-H0 hand vector"), 0.0, 1.0)
    counts = closure * HARDWARE_MAX if convention.open_value == 0 else (1.0 - closure) * HARDWARE_MAX
    return np.rint(counts).astype(np.int64)


def hardware_to_being_h0_hand(counts: np.ndarray, convention: HardwareConvention = HardwareConvention()) -> np.ndarray:
    """Hardware integers (..., 6) -> Being-H0 hand closures (..., 6)."""
    counts = _check_last_dim(counts, HAND_DIM, "hardware hand vector")
    if np.any((counts < 0) | (counts > HARDWARE_MAX)):
        raise ConfigError(f"hardware hand values must lie in 0..{HARDWARE_MAX}, got {counts}")
    fraction = counts / HARDWARE_MAX
    return fraction if convention.open_value == 0 else 1.0 - fraction


def _check_last_dim(values: np.ndarray, size: int, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0 or array.shape[-1] != size:
        raise ConfigError(f"a {what} must have {size} entries in its last axis, got shape {array.shape}")
    return array
