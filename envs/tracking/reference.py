"""The reference a tracking policy follows: one or more `RobotMotion` clips resampled to the policy
rate, with every quantity the environment reads per step precomputed as an array (body poses and
velocities by forward kinematics, heading-error helpers, end-effector heights), so a step only
indexes them.

Clips are concatenated along the time axis; `clip_last[t]` is the last frame of the clip frame t
belongs to, so an episode never runs from one clip into the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from mimicsim.assets import RobotSpec
from mimicsim.envs.tracking.kinematics import (
    RobotState,
    TrackedPoints,
    quat_to_wxyz,
    quat_to_xyzw,
    refresh_kinematics,
    yaw_partner_wxyz,
)
from mimicsim.errors import InputFileError
from mimicsim.retarget.robot_motion import RobotMotion


@dataclass(frozen=True)
class MotionReference:
    dt: float
    clip_names: tuple[str, ...]
    clip_first: np.ndarray  # (C,) first frame of each clip
    clip_last: np.ndarray  # (T,) last frame of the clip each frame belongs to
    qpos: np.ndarray  # (T, nq)
    qvel: np.ndarray  # (T, nv)
    joint_pos: np.ndarray  # (T, n)
    joint_state: np.ndarray  # (T, 2n) joint positions and velocities side by side (as the policy sees them)
    body_pos: np.ndarray  # (T, B, 3) world
    body_quat_pair: np.ndarray  # (T, B, 2, 4) body quaternions (wxyz) and their yaw partners
    body_from_anchor: np.ndarray  # (T, B, 3) body position - anchor position, world axes
    body_vel: np.ndarray  # (T, B, 6) world [angular, linear]
    anchor_pos: np.ndarray  # (T, 3)
    anchor_mat_cols: np.ndarray  # (T, 3, 2) first two columns of the anchor's rotation matrix
    anchor_scalars: np.ndarray  # (T, 7) anchor position and quaternion (wxyz)
    anchor_probes: np.ndarray  # (T, 3, 2) columns: first row of the anchor's rotation matrix and
    # the gravity direction in its frame (see TrackingTerms.evaluate)
    end_effector_z: np.ndarray  # (T, E)

    @property
    def num_frames(self) -> int:
        return int(self.qpos.shape[0])

    def clip_frames(self, clip: int) -> range:
        first = int(self.clip_first[clip])
        return range(first, int(self.clip_last[first]) + 1)

    @classmethod
    def build(
        cls, spec: RobotSpec, motions: Sequence[RobotMotion], names: Sequence[str], dt: float, points: TrackedPoints
    ) -> MotionReference:
        """Resample `motions` (called `names` in errors) to steps of `dt` and precompute everything
        by forward kinematics."""
        rows: list[np.ndarray] = []
        firsts: list[int] = []
        lasts: list[np.ndarray] = []
        for motion, name in zip(motions, names, strict=True):
            check_motion(spec, motion, name, dt)
            qpos = resample_qpos(spec, motion, dt)
            firsts.append(sum(len(r) for r in rows))
            lasts.append(np.full(len(qpos), firsts[-1] + len(qpos) - 1))
            rows.append(qpos)
        qpos = np.concatenate(rows)
        qvel = np.concatenate([_qvel(spec.model, r, dt) for r in rows])
        state = _forward_kinematics(spec.model, qpos, qvel, points)
        quat = state.body_quat
        anchor_pos, anchor_quat, rot = state.body_pos[:, points.anchor], quat[:, points.anchor], state.anchor_rot
        return cls(
            dt=dt,
            clip_names=tuple(str(n) for n in names),
            clip_first=np.array(firsts),
            clip_last=np.concatenate(lasts),
            qpos=qpos,
            qvel=qvel,
            joint_pos=state.joint_pos,
            joint_state=np.concatenate([state.joint_pos, state.joint_vel], axis=1),
            body_pos=state.body_pos,
            body_quat_pair=np.stack([quat, yaw_partner_wxyz(quat)], axis=2),
            body_from_anchor=state.body_pos - anchor_pos[:, None],
            body_vel=state.body_vel,
            anchor_pos=anchor_pos.copy(),
            anchor_mat_cols=np.ascontiguousarray(rot[:, :, :2]),
            anchor_scalars=np.concatenate([anchor_pos, anchor_quat], axis=1),
            anchor_probes=np.stack([rot[:, 0], -rot[:, 2]], axis=2),
            end_effector_z=state.end_effector_z,
        )


def check_motion(spec: RobotSpec, motion: RobotMotion, name: str, dt: float) -> None:
    """Raise `InputFileError` when `motion` cannot be tracked by `spec`'s robot."""
    if motion.robot != spec.name:
        raise InputFileError(
            name,
            f"motion is for robot {motion.robot!r}, not {spec.name!r}; "
            f"retarget it to {spec.name!r} or choose --robot {motion.robot}",
        )
    if tuple(motion.joint_names) != tuple(spec.joint_names):
        missing = sorted(set(spec.joint_names) - set(motion.joint_names))
        raise InputFileError(
            name,
            f"joint names differ from robot {spec.name!r}'s"
            + (f" (missing {', '.join(missing[:4])})" if missing else " (order differs)"),
        )
    if motion.duration < 2 * dt:
        raise InputFileError(name, f"clip lasts {motion.duration:.3f} s; tracking needs at least {2 * dt:.3f} s")
    for key in ("root_pos", "root_quat_wxyz", "joint_pos"):
        if not np.isfinite(getattr(motion, key)).all():
            raise InputFileError(name, f"{key} contains NaN or infinite values")


def resample_qpos(spec: RobotSpec, motion: RobotMotion, dt: float) -> np.ndarray:
    """(K, nq) qpos rows at times 0, dt, 2 dt, ... within the clip: positions and joints linearly
    interpolated, the root orientation by slerp."""
    src_t = np.arange(motion.num_frames) / motion.fps
    times = _times(src_t[-1], dt)
    qpos = np.empty((len(times), spec.model.nq))
    qpos[:] = spec.default_qpos
    qpos[:, :3] = _interp(src_t, motion.root_pos, times)
    quats = motion.root_quat_wxyz / np.linalg.norm(motion.root_quat_wxyz, axis=1, keepdims=True)
    slerp = Slerp(src_t, Rotation.from_quat(quat_to_xyzw(quats)))
    qpos[:, 3:7] = quat_to_wxyz(slerp(np.minimum(times, src_t[-1])).as_quat())
    qpos[:, spec.qpos_adr] = _interp(src_t, motion.joint_pos, times)
    return qpos


def _times(duration: float, dt: float) -> np.ndarray:
    return np.arange(int(np.floor(duration / dt + 1e-9)) + 1) * dt


def _interp(src_t: np.ndarray, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    idx = np.clip(np.searchsorted(src_t, times, side="right") - 1, 0, len(src_t) - 2)
    frac = ((times - src_t[idx]) / (src_t[idx + 1] - src_t[idx])).reshape((-1,) + (1,) * (values.ndim - 1))
    return values[idx] * (1.0 - frac) + values[idx + 1] * frac


def _qvel(model: mujoco.MjModel, qpos: np.ndarray, dt: float) -> np.ndarray:
    """Velocities by central differences (one-sided at the ends), quaternion-aware."""
    qvel = np.empty((len(qpos), model.nv))
    last = len(qpos) - 1
    for t in range(len(qpos)):
        a, b = max(t - 1, 0), min(t + 1, last)
        mujoco.mj_differentiatePos(model, qvel[t], (b - a) * dt, qpos[a], qpos[b])
    return qvel


def _forward_kinematics(model: mujoco.MjModel, qpos: np.ndarray, qvel: np.ndarray, points: TrackedPoints) -> RobotState:
    data = mujoco.MjData(model)
    state = RobotState(points, len(qpos))
    views = state.views(data)
    for t in range(len(qpos)):
        data.qpos[:] = qpos[t]
        data.qvel[:] = qvel[t]
        refresh_kinematics(model, data)
        state.read(t, views)
    state.finish()
    return state
