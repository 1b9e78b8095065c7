"""How well a physical rollout follows its kinematic reference.

- success: PHC's rule — the whole clip without termination, and the mean distance of the tracked
  bodies from the reference at most 0.5 m in every frame;
- mpjpe_global_mm: mean distance of the robot's keypoints (the SMPL joints it was retargeted on)
  from the reference's, world frame;
- mpjpe_root_mm: the same with each pose taken relative to its own pelvis (drift removed);
- joint_error_rad: mean absolute joint-angle error;
- foot_slide_mm_per_frame: horizontal sole travel between frames in which the simulated foot
  touches the floor (mean); also per second;
- ground_penetration_max_mm, ground_penetration_frames: deepest collision geometry below the
  floor; frames deeper than 1 cm.

Reference and rollout are compared at the rollout's frames (the reference is resampled to them);
foot slide and penetration are measured on the simulated motion with the same definitions as the
retargeting metrics (`retarget.quality`), so kinematic and physical clips are comparable.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import mujoco
import numpy as np

from mimicsim.assets import load_robot
from mimicsim.envs.tracking.kinematics import TrackedPoints
from mimicsim.envs.tracking.reference import resample_qpos
from mimicsim.envs.tracking.terms import SUCCESS_BODY_ERROR
from mimicsim.errors import InputFileError
from mimicsim.retarget.quality import evaluate as physical_plausibility
from mimicsim.retarget.robot_motion import RobotMotion

COLUMNS = (
    ("success", "success", "{}"),
    ("tracked_fraction", "tracked", "{:.0%}"),
    ("mpjpe_global_mm", "MPJPE mm", "{:.1f}"),
    ("mpjpe_root_mm", "root-rel mm", "{:.1f}"),
    ("joint_error_rad", "joint rad", "{:.3f}"),
    ("foot_slide_mm_per_frame", "slide mm/f", "{:.2f}"),
    ("ground_penetration_max_mm", "gnd max mm", "{:.1f}"),
    ("termination", "failure", "{}"),
)


def tracking_metrics(physical: RobotMotion, reference: RobotMotion) -> dict[str, Any]:
    """Metrics of `physical` (a rollout, e.g. from `refine`) against `reference` (see the table)."""
    if physical.robot != reference.robot:
        raise InputFileError(None, f"rollout is of robot {physical.robot!r}, reference of {reference.robot!r}")
    spec = load_robot(physical.robot)
    ref_qpos = resample_qpos(spec, reference, 1.0 / physical.fps)
    reference_frames = len(ref_qpos)
    frames = min(reference_frames, physical.num_frames)
    sim_qpos = physical.qpos()[:frames]
    ref_qpos = ref_qpos[:frames]
    points = TrackedPoints.of(spec)
    keypoint_sites = np.array([spec.model.site(s).id for s in spec.keypoint_sites.values()])
    sim_kp, sim_body = _positions(spec.model, sim_qpos, keypoint_sites, points.body_ids)
    ref_kp, ref_body = _positions(spec.model, ref_qpos, keypoint_sites, points.body_ids)
    root_rel = (sim_kp - sim_qpos[:, None, :3]) - (ref_kp - ref_qpos[:, None, :3])
    body_error = np.linalg.norm(sim_body - ref_body, axis=-1).mean(axis=1)
    tracked_fraction = (frames - 1) / max(1, reference_frames - 1)
    termination = physical.quality.get("termination")
    success = termination is None and tracked_fraction >= 1.0 - 1e-9 and float(body_error.max()) <= SUCCESS_BODY_ERROR
    plausibility, _ = physical_plausibility(physical, spec)
    return {
        "success": bool(success),
        "termination": termination,
        "tracked_fraction": float(tracked_fraction),
        "frames": int(frames),
        "fps": physical.fps,
        "mpjpe_global_mm": 1e3 * float(np.linalg.norm(sim_kp - ref_kp, axis=-1).mean()),
        "mpjpe_root_mm": 1e3 * float(np.linalg.norm(root_rel, axis=-1).mean()),
        "joint_error_rad": float(np.abs(sim_qpos[:, spec.qpos_adr] - ref_qpos[:, spec.qpos_adr]).mean()),
        "mean_body_error_m": float(body_error.mean()),
        "max_body_error_m": float(body_error.max()),
        "foot_slide_mm_per_frame": plausibility["foot_slide_mm_per_frame"],
        "foot_slide_mm_per_s": plausibility["foot_slide_mm_per_frame"] * physical.fps,
        "ground_penetration_max_mm": plausibility["ground_penetration_max_mm"],
        "ground_penetration_frames": plausibility["ground_penetration_frames"],
        "self_collision_frames": plausibility["self_collision_frames"],
    }


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Success rate and means over clips (MPJPE etc. over the frames each clip was tracked)."""
    rows = list(rows)
    if not rows:
        return {"clips": 0}
    mean = {
        key: float(np.mean([r[key] for r in rows]))
        for key in (
            "mpjpe_global_mm",
            "mpjpe_root_mm",
            "joint_error_rad",
            "foot_slide_mm_per_frame",
            "ground_penetration_max_mm",
            "tracked_fraction",
        )
    }
    return {"clips": len(rows), "success_rate": float(np.mean([r["success"] for r in rows])), **mean}


def format_table(rows: Iterable[tuple[str, dict[str, Any]]]) -> str:
    rows = list(rows)
    header = ["clip"] + [title for _, title, _ in COLUMNS]
    body = [
        [name] + [fmt.format(m[key]) if m.get(key) is not None else "-" for key, _, fmt in COLUMNS] for name, m in rows
    ]
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *body])


def _positions(
    model: mujoco.MjModel, qpos: np.ndarray, sites: np.ndarray, bodies: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    data = mujoco.MjData(model)
    kp, body = np.empty((len(qpos), len(sites), 3)), np.empty((len(qpos), len(bodies), 3))
    for t, row in enumerate(qpos):
        data.qpos[:] = row
        mujoco.mj_kinematics(model, data)
        kp[t], body[t] = data.site_xpos[sites], data.xpos[bodies]
    return kp, body
