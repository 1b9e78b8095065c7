"""The registry entry of one robot: what a new robot needs and nothing more."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Gain:
    """PD gains for every actuated joint whose name contains `pattern` (first match wins)."""

    pattern: str
    kp: float
    kd: float


@dataclass(frozen=True)
class Keypoint:
    """A point on the robot that retargeting matches to a joint of the SMPL body skeleton."""

    body: str
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class RobotConfig:
    name: str
    model_path: Callable[[], Path]
    """Locates the robot-only MJCF (no floor needed; its actuators are replaced)."""
    source: str
    """Where the model comes from, shown by `mimicsim robots`."""
    gains: tuple[Gain, ...]
    feet: tuple[str, str]
    """Bodies carrying the left and right soles."""
    keypoints: dict[str, Keypoint]
    """SMPL joint name -> point on the robot (pelvis, spine3, head, hips, knees, ankles, feet,
    shoulders, elbows, wrists where the robot has them)."""
    default_pose: dict[str, float] = field(default_factory=dict)
    """Joint angles of the standing pose; unlisted joints are 0. The root height is derived."""
    armature: tuple[tuple[str, float], ...] = ()
    """(pattern, kg m^2): the reflected rotor inertia of every actuated joint whose name contains
    `pattern` (first match wins), for descriptions that leave it out; replaces the model's value."""
    velocity_limit: float = 20.0
    """Joint speed limit (rad/s) used by retargeting and metrics."""
    scale: float | None = None
    """Overrides the human-to-robot scale that retargeting derives from proportions."""
    anchor_body: str = "torso_link"
    """Body that motion tracking measures errors relative to."""
