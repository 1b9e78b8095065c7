"""Is a human motion physically plausible? Ground penetration, floating, foot skating and jitter.

The floor is z = 0 (run `normalize` first to judge the motion rather than its file's floor offset).
Thresholds are calibrated so that the real clips in ../shared/motions pass; the numbers measured on
them are in `Thresholds`' comments. Raw generated clips typically fail on penetration (they sink
10-25 cm) or floating; after `normalize` they are judged on skating and jitter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from mimicsim.retarget.human.motion import HumanMotion
from mimicsim.retarget.human.skeleton import ANKLES, FEET

NEAR_FLOOR = 0.05
"""GMD's contact height: a foot joint within 5 cm of the floor."""
SKATE_SPEED = 0.5
"""GMD's skating speed (m/s) for a foot joint near the floor in two adjacent frames."""
JERK_RATE = 30.0
"""Jerk is measured on a ~30 Hz grid (every round(fps/30)-th frame) so mocap noise at 120 fps and a
20 fps generator are judged alike."""


@dataclass(frozen=True)
class Thresholds:
    """Limits of plausible human motion. Measured on the real clips (CMU 01_01, the HumanML3D serve,
    the 272-dim AMASS clip, all after `normalize`) and given a margin."""

    penetration: float = 0.02
    """Deepest joint below the floor (m). Real mocap: 0 (the raw MotionMillion clip: 0.13)."""
    lowest_foot: float = 0.10
    """Median height of the lowest foot joint (m): a body floating above the floor. Real: 0.01-0.04."""
    airborne: float = 1.0
    """Longest stretch with no foot joint near the floor (s). A human jump's flight lasts < 1 s;
    real clips: up to 0.5 s (CMU's jumps, the AMASS clip)."""
    skate_ratio: float = 0.5
    """GMD skate ratio. Real walks and runs score 0.15-0.45 because toes roll at push-off (the
    clips here: 0.01-0.17; T2M-GPT's sideways walk 0.31)."""
    contact_speed: float = 0.45
    """Mean horizontal speed (m/s) of foot joints near the floor. Real: 0.12-0.30 (0.30: the tennis
    serve's pivoting foot); T2M-GPT's sideways walk: 0.36."""
    jerk_mean: float = 500.0
    """Mean joint jerk (m/s^3) on the 30 Hz grid. Real: 113-210, generated 30-300; 1 cm of
    per-frame noise on any of these clips gives 580-1960."""


@dataclass(frozen=True)
class HumanPlausibility:
    penetration: float
    """Deepest any joint goes below the floor (m)."""
    penetration_frames: float
    """Fraction of frames with a joint more than 1 cm below the floor."""
    lowest_foot: float
    """Median over frames of the lowest foot joint's height (m)."""
    airborne: float
    """Longest stretch (s) with no foot joint within 5 cm of the floor."""
    skate_ratio: float
    """Fraction of frame pairs in which a foot joint within 5 cm of the floor in both frames moves
    faster than 0.5 m/s horizontally (GMD-style)."""
    contact_speed: float
    """Mean horizontal speed (m/s) of foot joints while within 5 cm of the floor."""
    jerk_mean: float
    jerk_p99: float
    """Joint jerk magnitude (m/s^3): mean and 99th percentile."""
    acceleration_p99: float
    """99th percentile of joint acceleration (m/s^2)."""
    plausible: bool
    failures: tuple[str, ...] = field(default=())
    """One sentence per failed check."""

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["failures"] = list(self.failures)
        return data


def _longest_run(flags: np.ndarray) -> int:
    """Length of the longest run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return int((edges[1::2] - edges[::2]).max()) if edges.size else 0


def _jerk_and_acceleration(positions: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    stride = max(1, round(fps / JERK_RATE))
    grid = positions[::stride]
    dt = stride / fps
    if grid.shape[0] < 4:
        return np.zeros(1), np.zeros(1)
    acceleration = np.linalg.norm(np.diff(grid, n=2, axis=0), axis=-1) / dt**2
    jerk = np.linalg.norm(np.diff(grid, n=3, axis=0), axis=-1) / dt**3
    return jerk.reshape(-1), acceleration.reshape(-1)


def human_plausibility(motion: HumanMotion, thresholds: Thresholds = Thresholds()) -> HumanPlausibility:
    """Measure `motion` (floor at z = 0) and judge it against `thresholds`."""
    pos = motion.positions
    feet = pos[:, [motion.joint_names.index(n) for n in ANKLES + FEET]]
    lowest_joint = pos[..., 2].min(axis=1)
    depth = np.maximum(-lowest_joint, 0.0)
    lowest_foot = feet[..., 2].min(axis=1)
    near = feet[..., 2] < NEAR_FLOOR
    both_near = near[1:] & near[:-1]
    horizontal_speed = np.linalg.norm(np.diff(feet[..., :2], axis=0), axis=-1) * motion.fps
    skating = (both_near & (horizontal_speed > SKATE_SPEED)).any(axis=1)
    jerk, acceleration = _jerk_and_acceleration(pos, motion.fps)
    values = {
        "penetration": float(depth.max()),
        "penetration_frames": float((depth > 0.01).mean()),
        "lowest_foot": float(np.median(lowest_foot)),
        "airborne": _longest_run(np.logical_not(near.any(axis=1))) / motion.fps,
        "skate_ratio": float(skating.mean()),
        "contact_speed": float(horizontal_speed[both_near].mean()) if both_near.any() else 0.0,
        "jerk_mean": float(jerk.mean()),
        "jerk_p99": float(np.percentile(jerk, 99)),
        "acceleration_p99": float(np.percentile(acceleration, 99)),
    }
    checks = (
        ("penetration", "m: joints go below the floor (run normalize, or the clip sinks)"),
        ("lowest_foot", "m: the feet float above the floor"),
        ("airborne", "s without a foot on the floor: longer than any human jump"),
        ("skate_ratio", ": feet slide while on the floor"),
        ("contact_speed", "m/s: feet slide while on the floor"),
        ("jerk_mean", "m/s^3: jittery motion"),
    )
    failures = tuple(
        f"{name} {values[name]:.3g} > {getattr(thresholds, name):.3g} {why}"
        for name, why in checks
        if values[name] > getattr(thresholds, name)
    )
    return HumanPlausibility(**values, plausible=not failures, failures=failures)
