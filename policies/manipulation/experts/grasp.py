"""What the scripted experts share about grasping: hand closures, the side power grasp's geometry,
the plan's waypoints, and the grasp-and-lift sequence.

The grasp is a power grasp from the side: fingers level, thumb side up, the palm facing the object.
The hand comes down beside the object with the thumb already rotated into the palm (thumb rotation
first: rotated later it would sweep through the object), so the thumb stands just behind the object
and the fingers lie open beyond it; then the fingers curl round the object's far side and the thumb
bends, pressing it into the fingers. Measured with a free-floating hand: upright cylinders 4.4-5 cm
across hold with their axis anywhere in a 1.5 cm square around the chosen point and lift 0.15 m
slipping less than 2 cm (with MuJoCo's default friction cone they slip out: the environments use an
elliptic cone with impratio 10). Why this pose: the Inspire hand sticks out 0.21 m from the flange,
and with the flange level near the table only this yaw of the hand (the fingers 45 degrees to the
left of the line from the robot's base to the object) keeps the Panda more than 0.35 rad from every
joint limit and its wrist off the table across the whole workspace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.spatial.transform import Rotation

from mimicsim.assets.franka_inspire import inspire_hand_spec
from mimicsim.assets.hand_mapping import BEING_H0_HAND_ORDER

# Hand closures (0 open .. 1 closed) per driver, by name.
OPEN = {"thumb_yaw": 0.0, "thumb_pitch": 0.0, "index": 0.0, "middle": 0.0, "ring": 0.0, "pinky": 0.0}
THUMB_IN = {**OPEN, "thumb_yaw": 1.0}  # pre-shape: the thumb rotated in front of the palm
CURLED = {**THUMB_IN, "index": 1.0, "middle": 1.0, "ring": 1.0, "pinky": 1.0}
GRASP = {**CURLED, "thumb_pitch": 1.0}

# The hand frame: x along the fingers, y out of the palm, z thumb side. The IK drives the hand
# model's grasp site; where it sits in that frame:
THUMB_FRONT = 0.18  # the rotated thumb reaches x = 0.174: the object's near side stays beyond it (m)
THUMB_CLEARANCE = 0.025  # the hand comes down this much further back, clear of the object (m)
OBJECT_Y = 0.062  # the object's axis in front of the palm (m); 0.055-0.07 hold
GRASP_BELOW_TOP = 0.045  # the hand's z = 0 plane this far below the object's top (m)
HAND_YAW_OFFSET = np.radians(45.0)  # fingers this far left of the line from the base to the object
# Nullspace posture for the IK: holds the side grasp mid-workspace far from every joint limit.


@cache
def grasp_site_local() -> np.ndarray:
    """Where the IK's grasp site sits in the hand frame (compiled once, on first use)."""
    return inspire_hand_spec().compile().site("grasp").pos.copy()


def hand_vector(closure: Mapping[str, float]) -> np.ndarray:
    """Closures by driver name -> the 6 hand values in Being-H0's order."""
    return np.array([closure[name] for name in BEING_H0_HAND_ORDER])


def side_grasp_rotation(xy: np.ndarray) -> np.ndarray:
    """Grasp-site orientation for an object at `xy`: fingers level, thumb side up, palm facing it."""
    yaw = np.arctan2(xy[1], xy[0]) + HAND_YAW_OFFSET
    return Rotation.from_euler("z", yaw).as_matrix()


def support_half_width(
    half_size: np.ndarray, round_: bool, object_quat_wxyz: np.ndarray, direction: np.ndarray
) -> float:
    """How far an upright object (a cylinder if `round_`, else a box of `half_size`) reaches from its
    axis along the horizontal `direction`."""
    if round_:
        return float(half_size[0])
    axes = Rotation.from_quat(object_quat_wxyz, scalar_first=True).as_matrix()
    return float(half_size[0] * abs(axes[:, 0] @ direction) + half_size[1] * abs(axes[:, 1] @ direction))


def object_in_hand(reach_along_fingers: float, below_top: float) -> np.ndarray:
    """Where a grasped upright object's top centre sits in the hand frame: its near side just beyond
    the rotated thumb (it reaches `reach_along_fingers` from its axis along the fingers), its axis
    in front of the palm, its top `below_top` above the hand's z = 0 plane."""
    return np.array([THUMB_FRONT + reach_along_fingers, OBJECT_Y, below_top])


def site_for_object(top_centre: np.ndarray, rotation: np.ndarray, in_hand: np.ndarray) -> np.ndarray:
    """Grasp-site position (world) that puts an object whose top centre is at `top_centre` (world)
    at `in_hand` (hand frame) for a hand with orientation `rotation`."""
    return top_centre - rotation @ (in_hand - grasp_site_local())


@dataclass(frozen=True)
class Waypoint:
    """Reach `position`/`rotation` (grasp site, world frame) and `hand` closures by the end of
    `duration` seconds, moving smoothly from the previous waypoint."""

    duration: float
    position: np.ndarray
    rotation: np.ndarray
    hand: Mapping[str, float]


def grasp_and_lift(site: np.ndarray, rotation: np.ndarray, lift: float, approach: float = 0.12) -> list[Waypoint]:
    """Waypoints that bring the hand, its thumb rotated in, `approach` above the grasp-site pose and
    `THUMB_CLEARANCE` further back along the fingers, lower it beside the object, slide it forward
    until the thumb stands just behind the object, curl the fingers, bend the thumb and lift the
    object by `lift`."""
    back = site - THUMB_CLEARANCE * rotation[:, 0]
    up = np.array([0.0, 0.0, lift])
    return [
        Waypoint(1.5, back + np.array([0.0, 0.0, approach]), rotation, THUMB_IN),
        Waypoint(0.3, back + np.array([0.0, 0.0, approach]), rotation, THUMB_IN),  # servos lag ~0.1 s
        Waypoint(1.0, back, rotation, THUMB_IN),
        Waypoint(0.4, site, rotation, THUMB_IN),
        Waypoint(0.2, site, rotation, THUMB_IN),  # arrive (servo lag) before the fingers close
        Waypoint(0.5, site, rotation, CURLED),
        Waypoint(0.4, site, rotation, GRASP),
        Waypoint(0.2, site, rotation, GRASP),  # let the thumb finish pressing before the load comes on
        Waypoint(1.0, site + up, rotation, GRASP),
    ]


def held_pose(
    object_pose_wxyz: np.ndarray, site_position: np.ndarray, site_rotation: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """An object's origin and orientation (rotation matrix) in the grasp-site frame."""
    rotation = Rotation.from_quat(object_pose_wxyz[3:], scalar_first=True).as_matrix()
    return site_rotation.T @ (object_pose_wxyz[:3] - site_position), site_rotation.T @ rotation
