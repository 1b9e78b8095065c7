"""Physical refinement: roll a tracking policy out on a kinematic `RobotMotion` and keep what the
simulation did as a new `RobotMotion` marked physical (`mimicsim refine`).

The physical motion is sampled at the policy rate; `frame_metrics` carries the per-frame tracking
errors (frame 0 is the start state, copied from the reference, so its errors are 0) and `quality`
says whether the clip was tracked to success (PHC's rule) and, if not, why and where it failed. A
clip the robot cannot follow (say, a floating root) is a failed refinement, not an error: the
motion up to the failure is still written so it can be inspected.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mimicsim.assets import load_robot
from mimicsim.envs.tracking.terms import ERROR_NAMES, SUCCESS_BODY_ERROR
from mimicsim.errors import InputFileError
from mimicsim.policies.tracking.load import load_tracker
from mimicsim.policies.tracking.rollout import ClipRollout, rollout_clips
from mimicsim.policies.tracking.tracker import Tracker
from mimicsim.retarget import robot_motion
from mimicsim.retarget.robot_motion import RobotMotion, from_qpos


@dataclass(frozen=True)
class Refinement:
    motion: RobotMotion
    """The simulated motion (kind "physical"), up to the failure if the robot failed."""
    success: bool
    termination: str | None
    failure_frame: int | None
    """Frame of the input motion at which tracking failed (None on success)."""
    failure_time: float | None
    """Seconds into the clip at which tracking failed (None on success)."""

    def describe(self) -> str:
        if self.success:
            return (
                f"tracked to success: mean body error {self.motion.quality['mean_body_error_m'] * 1000:.0f} mm, "
                f"max {self.motion.quality['max_body_error_m'] * 1000:.0f} mm"
            )
        if self.termination is None:
            return (
                f"not tracked: the mean body error exceeded {SUCCESS_BODY_ERROR} m "
                f"(max {self.motion.quality['max_body_error_m']:.2f} m)"
            )
        return f"not tracked: {self.termination} at frame {self.failure_frame} ({self.failure_time:.2f} s)"


def refine_motion(motion: RobotMotion, tracker: Tracker, name: str = "motion") -> Refinement:
    """Roll `tracker` out on `motion` from its first frame; see the module docstring."""
    cfg = tracker.env_cfg
    if motion.robot != cfg.robot:
        raise InputFileError(name, f"motion is for robot {motion.robot!r} but the policy drives {cfg.robot!r}")
    rollout = rollout_clips(tracker.act, [motion], cfg)[0]
    return _refinement(motion, rollout, name, tracker.metadata)


def refine_file(motion_path: Path, policy: Path, out: Path | None = None) -> Refinement:
    """Refine one RobotMotion file with a policy file (.npz checkpoint or .onnx) and write the
    physical motion to `out` (default: `<motion>_physical.npz` beside the input)."""
    motion = robot_motion.load(motion_path)
    refinement = refine_motion(motion, load_tracker(policy), str(motion_path))
    robot_motion.save(refinement.motion, out or motion_path.with_name(f"{motion_path.stem}_physical.npz"))
    return refinement


def _refinement(motion: RobotMotion, rollout: ClipRollout, name: str, policy: dict[str, Any]) -> Refinement:
    spec = load_robot(motion.robot)
    fps = 1.0 / rollout.dt
    metrics = {key: np.concatenate([[0.0], rollout.errors[key]]) for key in ERROR_NAMES}
    failure_time = None if rollout.failure_frame is None else rollout.failure_frame * rollout.dt
    failure_frame = None if failure_time is None else round(failure_time * motion.fps)
    body = rollout.errors["body_pos_global"]
    quality = {
        "success": rollout.success,
        "termination": rollout.termination,
        "failure_frame": failure_frame,
        "failure_time_s": failure_time,
        "tracked_fraction": (len(rollout.qpos) - 1) / max(1, rollout.reference_frames - 1),
        "mean_body_error_m": float(body.mean()) if len(body) else 0.0,
        "max_body_error_m": float(body.max()) if len(body) else 0.0,
        "mean_joint_error_rad": float(rollout.errors["joint_pos"].mean()) if len(body) else 0.0,
        "success_rule": f"no termination and mean body error <= {SUCCESS_BODY_ERROR} m in every frame (PHC)",
        "policy": {k: policy.get(k) for k in ("robot", "checkpoint", "num_timesteps", "motions") if k in policy},
    }
    physical = from_qpos(
        spec,
        rollout.qpos,
        fps,
        rollout.contacts,
        kind="physical",
        source={"path": name, "refined_from": motion.source, "format": "mimicsim refine"},
    )
    physical = replace(physical, quality=quality, frame_metrics=metrics)
    return Refinement(physical, rollout.success, rollout.termination, failure_frame, failure_time)
