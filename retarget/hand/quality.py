"""The hand retargeter's quality report, stored in every output.

- `fingertip_direction_error_deg`: the angle between the human's and the robot's wrist->fingertip
  directions, both in their palm frames, per finger and over all five (median, 95th percentile, max).
- `thumb_index_distance`: the robot's thumb-index tip distance against the human's (scaled to the
  robot's hand): absolute error (mm, median and max) and the Pearson correlation over the clip.
- `limit_violations`, `speed_violations`: frames with a driver (or arm joint) outside its range, or
  moving faster than the retargeter's speed limit (arm: the Panda's) between two frames.
- `unreachable_frames`: frames whose wrist pose the arm could not reach (with a wrist pose only).

The replay in simulation adds its own entries (`envs.manipulation.hand_replay`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mimicsim.assets.hand_mapping import HAND_LOWER, HAND_UPPER
from mimicsim.retarget.hand.arm import PANDA_SPEED_LIMITS, panda_ranges
from mimicsim.retarget.hand.keypoints import TIPS
from mimicsim.retarget.hand.trajectory import HandTrajectory

_TOLERANCE = 1e-9


def fingertip_direction_errors(human: np.ndarray, robot: np.ndarray) -> dict[str, np.ndarray]:
    """Per finger, the angle (degrees, per frame) between wrist->tip directions of two (T, 21, 3)
    keypoint sets expressed in their palm frames."""
    errors = {}
    for name, tip in TIPS.items():
        a, b = human[:, tip], robot[:, tip]
        cos = np.sum(a * b, axis=-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
        errors[name] = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return errors


def thumb_index_distances(keypoints: np.ndarray) -> np.ndarray:
    return np.linalg.norm(keypoints[:, TIPS["thumb"]] - keypoints[:, TIPS["index"]], axis=-1)


def hand_quality(trajectory: HandTrajectory) -> dict[str, Any]:
    """The report of the module docstring, as plain JSON-ready values."""
    errors = fingertip_direction_errors(trajectory.human_keypoints, trajectory.robot_keypoints)
    everything = np.concatenate(list(errors.values()))
    direction = {name: _summary(values) for name, values in errors.items()}
    direction["all"] = _summary(everything)
    human_d = thumb_index_distances(trajectory.human_keypoints)
    robot_d = thumb_index_distances(trajectory.robot_keypoints)
    gap = np.abs(robot_d - human_d) * 1000.0
    correlation = float(np.corrcoef(human_d, robot_d)[0, 1]) if np.std(human_d) > 0 and np.std(robot_d) > 0 else 0.0
    dt = 1.0 / trajectory.fps
    drivers, arm = trajectory.drivers, trajectory.arm
    arm_lower, arm_upper = panda_ranges()
    out_of_range = np.any((drivers < HAND_LOWER - _TOLERANCE) | (drivers > HAND_UPPER + _TOLERANCE), axis=1) | np.any(
        (arm < arm_lower - _TOLERANCE) | (arm > arm_upper + _TOLERANCE), axis=1
    )
    too_fast = np.zeros(trajectory.n_frames, dtype=bool)
    too_fast[1:] = np.any(
        np.abs(np.diff(drivers, axis=0)) > trajectory.speed_limits * dt + _TOLERANCE, axis=1
    ) | np.any(np.abs(np.diff(arm, axis=0)) > np.asarray(PANDA_SPEED_LIMITS) * dt + _TOLERANCE, axis=1)
    report: dict[str, Any] = {
        "frames": trajectory.n_frames,
        "fps": trajectory.fps,
        "scale": trajectory.scale,
        "fingertip_direction_error_deg": direction,
        "thumb_index_distance": {
            "error_mm_median": float(np.median(gap)),
            "error_mm_max": float(np.max(gap)),
            "correlation": correlation,
        },
        "limit_violations": int(np.count_nonzero(out_of_range)),
        "speed_violations": int(np.count_nonzero(too_fast)),
    }
    if trajectory.arm_solution is not None:
        solution = trajectory.arm_solution
        report["unreachable_frames"] = [int(i) for i in solution.unreachable]
        report["wrist_position_error_mm"] = _summary(solution.position_error * 1000.0)
        report["wrist_orientation_error_deg"] = _summary(solution.orientation_error)
    return report


def format_report(report: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    direction = report["fingertip_direction_error_deg"]
    pinch = report["thumb_index_distance"]
    lines = [
        f"frames {report['frames']} at {report['fps']:g} fps, hand scale {report['scale']:.3f}",
        "fingertip direction error, median deg: "
        + ", ".join(f"{name} {values['median']:.1f}" for name, values in direction.items()),
        f"thumb-index distance: error median {pinch['error_mm_median']:.1f} mm, "
        f"max {pinch['error_mm_max']:.1f} mm, correlation {pinch['correlation']:.3f}",
        f"limit violations {report['limit_violations']}, speed violations {report['speed_violations']}",
    ]
    if "unreachable_frames" in report:
        lines.append(
            f"arm: {len(report['unreachable_frames'])} unreachable frames, wrist position error median "
            f"{report['wrist_position_error_mm']['median']:.1f} mm"
        )
    if "replay" in report:
        replay = report["replay"]
        lines.append(
            f"replay: {'stable' if replay['stable'] else 'UNSTABLE'}, settled finger error max "
            f"{replay['settled_error_deg_max']:.1f} deg, finger-finger collision steps "
            f"{replay['finger_collision_steps']} of {replay['steps']}"
        )
        held = replay["held"]
        lines.append(
            "replay, targets held 0.5 s mid-clip: steps more than 5 deg off: "
            + ", ".join(f"{name} {h['over_5deg']}/{h['steps']}" for name, h in held.items())
        )
    return "\n".join(lines)


def _summary(values: np.ndarray) -> dict[str, float]:
    return {
        "median": float(np.median(values)),
        "p95": float(np.percentile(values, 95)),
        "max": float(np.max(values)),
    }
