"""Quality of a retargeted (kinematic) robot motion, measured on the robot's own geometry.

| metric | meaning | bar |
|---|---|---|
| keypoint_error_mm | mean distance of robot keypoints from the scaled human targets | < 40 |
| ground_penetration_frames | frames with any collision geom more than 1 cm below the floor | 0 |
| foot_slide_mm_per_frame | horizontal sole travel per frame while the source foot is in contact (mean) | < 5 |
| self_collision_frames | frames with two robot geoms overlapping more than 5 mm deeper than they do standing | 0 |
| joint_limit_violations | (frame, joint) entries outside the joint range | 0 |
| velocity_violation_frames | frame transitions with a joint faster than the robot's speed limit | 0 |
| joint_jump_frames | transitions with a joint faster than 3*pi rad/s while no source limb turns that fast | 0 |

Also reported: maxima and 95th percentiles, frames above 3*pi rad/s (GMR's wild-frame count),
the source's fastest limb turn, and mean joint jerk. The 5 mm self-penetration threshold is the
one the project's GMR baseline was measured with; the deepest penetration beyond standing is
reported too. Self pairs are MuJoCo's own (`retarget.collision`: every two collision geoms of
bodies that are not parent and child), found by its collision pipeline, so a plain MuJoCo replay
of the motion sees the same contacts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from mimicsim.assets import RobotSpec, load_robot
from mimicsim.errors import InputFileError
from mimicsim.retarget.collision import contact_query
from mimicsim.retarget.robot_motion import RobotMotion, load

GROUND_TOLERANCE = 0.01
SELF_TOLERANCE = 0.005
WILD_SPEED = 3 * np.pi
LIMIT_TOLERANCE = 1e-6
SOURCE_SPEED = "source_limb_speed"
"""Per-frame series of a retargeted motion: how fast the source's fastest limb turned from the
previous frame (rad/s, `skeleton.limb_angular_speed`; 0 at the first frame)."""

BARS: dict[str, tuple[str, float]] = {
    "keypoint_error_mm": ("<", 40.0),
    "ground_penetration_frames": ("==", 0),
    "foot_slide_mm_per_frame": ("<", 5.0),
    "self_collision_frames": ("==", 0),
    "joint_limit_violations": ("==", 0),
    "velocity_violation_frames": ("==", 0),
    "joint_jump_frames": ("==", 0),
}


def evaluate(motion: RobotMotion, spec: RobotSpec | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(summary metrics, per-frame series) of a robot motion. `spec` defaults to `motion.robot`."""
    spec = spec if spec is not None else load_robot(motion.robot)
    if motion.robot != spec.name or tuple(motion.joint_names) != spec.joint_names:
        raise InputFileError(
            None,
            f"motion is for robot {motion.robot!r} with {len(motion.joint_names)} joints, "
            f"not {spec.name!r} with {spec.dof}",
        )
    query = contact_query(spec, margin=0.0)
    model = query.model
    data = mujoco.MjData(model)
    qpos = motion.qpos()
    T = motion.num_frames
    ground = np.zeros(T)  # deepest penetration below the floor (m, >= 0)
    self_depth = np.zeros(T)  # deepest self penetration beyond the pair's standing overlap (m, >= 0)
    soles = np.empty((T, 2, 3))
    keypoints = np.empty((T, len(motion.keypoint_names), 3))
    sole_ids = [model.site(s).id for s in spec.sole_sites]
    kp_ids = [model.site(spec.keypoint_sites[n]).id for n in motion.keypoint_names]
    deepest = {"ground": (0.0, ""), "self": (0.0, "")}
    for t in range(T):
        data.qpos[:] = qpos[t]
        mujoco.mj_kinematics(model, data)
        contacts = query.query(data)
        floor = query.is_floor(contacts)
        depth = np.minimum(np.where(floor, 0.0, contacts.rest), 0.0) - contacts.dist
        for kind, mask, per_frame in (("ground", floor, ground), ("self", ~floor, self_depth)):
            if mask.any():
                i = int(np.flatnonzero(mask)[np.argmax(depth[mask])])
                per_frame[t] = max(0.0, depth[i])
                if per_frame[t] > deepest[kind][0]:
                    deepest[kind] = (
                        per_frame[t],
                        f"{query.describe(contacts.geom1[i], contacts.geom2[i])} at frame {t}",
                    )
        soles[t] = data.site_xpos[sole_ids]
        keypoints[t] = data.site_xpos[kp_ids]

    series: dict[str, np.ndarray] = {"ground_penetration_m": ground, "self_penetration_m": self_depth}
    summary: dict[str, Any] = {"frames": T, "fps": motion.fps}
    if motion.keypoint_targets is not None:
        err = np.linalg.norm(keypoints - motion.keypoint_targets, axis=-1)  # (T, K)
        series["keypoint_error_m"] = err.mean(axis=1)
        summary.update(
            keypoint_error_mm=1e3 * float(err.mean()),
            keypoint_error_p95_mm=1e3 * float(np.quantile(err, 0.95)),
            keypoint_error_max_mm=1e3 * float(err.max()),
            keypoint_error_by_joint_mm={
                n: round(1e3 * float(e), 1) for n, e in zip(motion.keypoint_names, err.mean(axis=0), strict=True)
            },
        )
    summary.update(
        ground_penetration_max_mm=1e3 * float(ground.max()),
        ground_penetration_frames=int((ground > GROUND_TOLERANCE).sum()),
        ground_penetration_deepest=deepest["ground"][1],
        self_penetration_max_mm=1e3 * float(self_depth.max()),
        self_collision_frames=int((self_depth > SELF_TOLERANCE).sum()),
        self_penetration_deepest=deepest["self"][1],
    )
    summary.update(_foot_slide(soles, motion.contacts))
    summary.update(_joint_metrics(motion, spec))
    if SOURCE_SPEED in motion.frame_metrics:
        summary.update(_joint_jumps(motion))
    summary["passes"] = passes(summary)
    return summary, series


def _foot_slide(soles: np.ndarray, contacts: np.ndarray) -> dict[str, float]:
    """Horizontal sole travel between consecutive frames that are both in source contact."""
    steps = np.linalg.norm(np.diff(soles[:, :, :2], axis=0), axis=-1)  # (T-1, 2)
    held = contacts[1:] & contacts[:-1]
    slide = steps[held]
    if slide.size == 0:
        return {"foot_slide_mm_per_frame": 0.0, "foot_slide_p95_mm": 0.0, "foot_slide_max_mm": 0.0}
    return {
        "foot_slide_mm_per_frame": 1e3 * float(slide.mean()),
        "foot_slide_p95_mm": 1e3 * float(np.quantile(slide, 0.95)),
        "foot_slide_max_mm": 1e3 * float(slide.max()),
    }


def _joint_metrics(motion: RobotMotion, spec: RobotSpec) -> dict[str, float | int]:
    q = motion.joint_pos
    outside = (q < spec.lower - LIMIT_TOLERANCE) | (q > spec.upper + LIMIT_TOLERANCE)
    speed = _joint_speed(motion)
    too_fast = speed > spec.velocity_limit * (1 + 1e-6) + LIMIT_TOLERANCE * motion.fps
    jerk = np.abs(np.diff(q, n=3, axis=0)) * motion.fps**3 if len(q) > 3 else np.zeros((1, q.shape[1]))
    return {
        "joint_limit_violations": int(outside.sum()),
        "velocity_violation_frames": int(too_fast.any(axis=1).sum()),
        "max_joint_speed": float(speed.max()) if speed.size else 0.0,
        "frames_over_3pi": int(_wild(speed, motion.fps).sum()),
        "mean_jerk": float(jerk.mean()),
    }


def _joint_speed(motion: RobotMotion) -> np.ndarray:
    """(T-1, n) joint speed of each transition (rad/s), as the solver bounds it."""
    return np.abs(np.diff(motion.joint_pos, axis=0)) * motion.fps


def _wild(speed: np.ndarray, fps: float) -> np.ndarray:
    """(T-1,) transitions with a joint above 3 pi rad/s (a joint held to exactly 3 pi is not)."""
    return np.asarray((speed > WILD_SPEED * (1 + 1e-6) + LIMIT_TOLERANCE * fps).any(axis=1))


def _joint_jumps(motion: RobotMotion) -> dict[str, float | int]:
    """Transitions above 3 pi rad/s that the source does not explain: all its limbs turn slower
    than 3 pi rad/s there (`SOURCE_SPEED`, stored by the retargeter)."""
    source = motion.frame_metrics[SOURCE_SPEED][1:]
    jumps = _wild(_joint_speed(motion), motion.fps) & (source < WILD_SPEED)
    return {
        "source_limb_speed_max": float(source.max()) if source.size else 0.0,
        "joint_jump_frames": int(jumps.sum()),
    }


def passes(summary: dict[str, Any]) -> dict[str, bool]:
    """Which bars the summary meets (bars whose metric is absent are left out)."""
    out = {}
    for key, (op, bound) in BARS.items():
        if key in summary:
            value = summary[key]
            out[key] = bool(value < bound if op == "<" else value == bound)
    return out


def with_quality(motion: RobotMotion, spec: RobotSpec | None = None) -> RobotMotion:
    """The motion with its quality summary and per-frame series attached."""
    summary, series = evaluate(motion, spec)
    return replace(motion, quality=summary, frame_metrics={**motion.frame_metrics, **series})


def evaluate_file(path: str | Path) -> dict[str, Any]:
    return evaluate(load(path))[0]


def format_table(rows: Iterable[tuple[str, dict[str, Any]]]) -> str:
    """A fixed-width text table, one row per (label, summary)."""
    columns = [
        ("keypoint_error_mm", "kp err mm", "{:.1f}"),
        ("ground_penetration_frames", "gnd>1cm", "{:d}"),
        ("ground_penetration_max_mm", "gnd max mm", "{:.1f}"),
        ("foot_slide_mm_per_frame", "slide mm/f", "{:.2f}"),
        ("foot_slide_max_mm", "slide max", "{:.1f}"),
        ("self_collision_frames", "self>5mm", "{:d}"),
        ("self_penetration_max_mm", "self max mm", "{:.1f}"),
        ("joint_limit_violations", "lim viol", "{:d}"),
        ("velocity_violation_frames", "vel viol", "{:d}"),
        ("frames_over_3pi", ">3pi", "{:d}"),
        ("joint_jump_frames", "jumps", "{:d}"),
        ("source_limb_speed_max", "src limb/s", "{:.1f}"),
        ("mean_jerk", "jerk", "{:.0f}"),
    ]
    rows = list(rows)
    label_width = max([len(r[0]) for r in rows] + [4])
    header = f"{'clip':<{label_width}}  " + "  ".join(f"{title:>11}" for _, title, _ in columns) + "  pass"
    lines = [header, "-" * len(header)]
    for label, s in rows:
        cells = [(fmt.format(s[key]) if key in s else "-") for key, _, fmt in columns]
        ok = "yes" if all(s.get("passes", {}).values()) else "NO"
        lines.append(f"{label:<{label_width}}  " + "  ".join(f"{c:>11}" for c in cells) + f"  {ok}")
    return "\n".join(lines)
