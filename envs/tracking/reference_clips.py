"""Small reference clips made from a robot's own standing pose: for tests, benchmarks and smoke
runs that must not depend on human data or the retargeter.

- `arm_wave_clip`: feet planted, arms swinging (easy, physically possible);
- `squat_clip`: knees bend and straighten with the feet kept flat on the floor (possible, harder);
- `floating_clip`: the whole robot rises off the floor in its standing pose (impossible).
"""

from __future__ import annotations

import mujoco
import numpy as np

from mimicsim.assets import RobotSpec
from mimicsim.retarget.robot_motion import RobotMotion, from_qpos


def arm_wave_clip(
    spec: RobotSpec, seconds: float = 3.0, fps: float = 30.0, amplitude: float = 0.6, period: float = 2.0
) -> RobotMotion:
    t = _times(seconds, fps)
    qpos = _standing(spec, len(t))
    wave = amplitude * np.sin(2 * np.pi * t / period)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        _add(spec, qpos, f"{side}_shoulder_pitch", sign * wave)
        _add(spec, qpos, f"{side}_elbow", 0.5 * amplitude * (1 - np.cos(2 * np.pi * t / period)))
    return _motion(spec, qpos, fps, "arm_wave")


def squat_clip(
    spec: RobotSpec, seconds: float = 4.0, fps: float = 30.0, depth: float = 0.5, period: float = 2.0
) -> RobotMotion:
    """Hip pitch -a, knee +2a, ankle pitch -a keeps thighs and shins symmetric and the feet flat;
    the root is lowered so the soles stay where they stood."""
    t = _times(seconds, fps)
    qpos = _standing(spec, len(t))
    bend = 0.5 * depth * (1 - np.cos(2 * np.pi * t / period))
    for side in ("left", "right"):
        _add(spec, qpos, f"{side}_hip_pitch", -bend)
        _add(spec, qpos, f"{side}_knee", 2 * bend)
        _add(spec, qpos, f"{side}_ankle_pitch" if _has(spec, f"{side}_ankle_pitch") else f"{side}_ankle", -bend)
    model, data = spec.model, mujoco.MjData(spec.model)
    soles = [model.site(s).id for s in spec.sole_sites]
    data.qpos[:] = spec.default_qpos
    mujoco.mj_kinematics(model, data)
    planted = data.site_xpos[soles].mean(axis=0)
    for row in qpos:
        data.qpos[:] = row
        mujoco.mj_kinematics(model, data)
        row[:3] += planted - data.site_xpos[soles].mean(axis=0)
    return _motion(spec, qpos, fps, "squat")


def floating_clip(spec: RobotSpec, seconds: float = 2.0, fps: float = 30.0, rise: float = 1.0) -> RobotMotion:
    t = _times(seconds, fps)
    qpos = _standing(spec, len(t))
    qpos[:, 2] += rise * t / t[-1]
    return _motion(spec, qpos, fps, "floating", contacts=qpos[:, 2:3].repeat(2, 1) < spec.default_qpos[2] + 0.01)


def _times(seconds: float, fps: float) -> np.ndarray:
    return np.arange(round(seconds * fps) + 1) / fps


def _standing(spec: RobotSpec, frames: int) -> np.ndarray:
    return np.tile(spec.default_qpos, (frames, 1))


def _has(spec: RobotSpec, prefix: str) -> bool:
    return any(name.startswith(prefix) for name in spec.joint_names)


def _add(spec: RobotSpec, qpos: np.ndarray, prefix: str, values: np.ndarray) -> None:
    """Add `values` to the joint whose name starts with `prefix` (robots differ in suffixes)."""
    index = next(i for i, name in enumerate(spec.joint_names) if name.startswith(prefix))
    adr = spec.qpos_adr[index]
    qpos[:, adr] = np.clip(qpos[:, adr] + values, spec.lower[index], spec.upper[index])


def _motion(
    spec: RobotSpec, qpos: np.ndarray, fps: float, name: str, contacts: np.ndarray | None = None
) -> RobotMotion:
    contacts = np.ones((len(qpos), 2), dtype=bool) if contacts is None else contacts
    return from_qpos(spec, qpos, fps, contacts, source={"path": f"{name}_{spec.name}", "format": "synthetic"})
