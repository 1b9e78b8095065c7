"""`RobotMotion`: a robot trajectory file (npz, schema `mimicsim.robot_motion/1`), and the CSV
convention of Unitree's retargeted datasets, BeyondMimic and mjlab (root xyz, root quat **xyzw**,
joints in the robot's order; no header)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Literal

import mujoco
import numpy as np

from mimicsim.assets import RobotSpec, robot_names
from mimicsim.atomic import atomic_path
from mimicsim.errors import InputFileError
from mimicsim.npyio import read_npz
from mimicsim.retarget.human.motion import check_fps

SCHEMA = "mimicsim.robot_motion/1"
Kind = Literal["kinematic", "physical"]
_ARRAYS = ("root_pos", "root_quat_wxyz", "joint_pos", "joint_vel", "body_pos", "body_quat_wxyz", "contacts")


@dataclass(frozen=True)
class RobotMotion:
    robot: str
    fps: float
    joint_names: tuple[str, ...]
    body_names: tuple[str, ...]
    root_pos: np.ndarray  # (T, 3) m, world frame, z-up
    root_quat_wxyz: np.ndarray  # (T, 4)
    joint_pos: np.ndarray  # (T, n) rad, in joint_names order
    joint_vel: np.ndarray  # (T, n) rad/s
    body_pos: np.ndarray  # (T, B, 3)
    body_quat_wxyz: np.ndarray  # (T, B, 4)
    contacts: np.ndarray  # (T, 2) bool: left, right foot
    kind: Kind = "kinematic"
    source: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    frame_metrics: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-frame series (T,), e.g. tracking error of a physical rollout."""
    keypoint_names: tuple[str, ...] = ()
    """SMPL joints the retargeter matched (robot keypoint sites), when `keypoint_targets` is set."""
    keypoint_targets: np.ndarray | None = None
    """(T, K, 3) the scaled human keypoints the retargeter aimed at (m), kept for evaluation."""

    @property
    def num_frames(self) -> int:
        return int(self.root_pos.shape[0])

    @property
    def duration(self) -> float:
        return (self.num_frames - 1) / self.fps

    def qpos(self) -> np.ndarray:
        """(T, 7 + n) MuJoCo qpos rows for a free-floating robot whose joints follow joint_names."""
        return np.concatenate([self.root_pos, self.root_quat_wxyz, self.joint_pos], axis=1)

    def with_quality(self, quality: dict[str, Any]) -> RobotMotion:
        return replace(self, quality=quality)


def from_qpos(
    spec: RobotSpec,
    qpos: np.ndarray,
    fps: float,
    contacts: np.ndarray,
    *,
    kind: Kind = "kinematic",
    source: dict[str, Any] | None = None,
) -> RobotMotion:
    """Build a RobotMotion from full-qpos rows: body poses by forward kinematics, joint velocities
    by central differences."""
    model = spec.model
    data = mujoco.MjData(model)
    body_ids = range(1, model.nbody)
    body_pos = np.empty((len(qpos), model.nbody - 1, 3))
    body_quat = np.empty((len(qpos), model.nbody - 1, 4))
    for t, row in enumerate(qpos):
        data.qpos[:] = row
        mujoco.mj_kinematics(model, data)
        body_pos[t] = data.xpos[1:]
        body_quat[t] = data.xquat[1:]
    joint_pos = qpos[:, spec.qpos_adr]
    joint_vel = np.gradient(joint_pos, 1.0 / fps, axis=0) if len(qpos) > 1 else np.zeros_like(joint_pos)
    return RobotMotion(
        robot=spec.name,
        fps=float(fps),
        joint_names=spec.joint_names,
        body_names=tuple(model.body(i).name for i in body_ids),
        root_pos=qpos[:, :3].copy(),
        root_quat_wxyz=qpos[:, 3:7].copy(),
        joint_pos=joint_pos,
        joint_vel=joint_vel,
        body_pos=body_pos,
        body_quat_wxyz=body_quat,
        contacts=np.asarray(contacts, dtype=bool),
        kind=kind,
        source=source or {},
    )


def save(motion: RobotMotion, path: str | Path) -> Path:
    """Write atomically; the file states its schema, fps, joint and body names."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        write(motion, fh)
    return Path(path)


def write(motion: RobotMotion, file: BinaryIO) -> None:
    """Write the npz into an open binary file (see `save`)."""
    arrays = {name: getattr(motion, name) for name in _ARRAYS}
    arrays.update({f"metric__{k}": np.asarray(v) for k, v in motion.frame_metrics.items()})
    if motion.keypoint_targets is not None:
        arrays["keypoint_names"] = np.array(motion.keypoint_names, dtype=np.str_)
        arrays["keypoint_targets"] = motion.keypoint_targets
    np.savez_compressed(
        file,
        schema=np.str_(SCHEMA),
        robot=np.str_(motion.robot),
        fps=np.float64(motion.fps),
        kind=np.str_(motion.kind),
        joint_names=np.array(motion.joint_names, dtype=np.str_),
        body_names=np.array(motion.body_names, dtype=np.str_),
        source=np.str_(json.dumps(motion.source)),
        quality=np.str_(json.dumps(motion.quality)),
        **arrays,
    )


def load(path: str | Path) -> RobotMotion:
    """Read and validate a RobotMotion npz: every field is checked (schema, a registered robot, fps,
    names, shapes, finite values, unit quaternions), each problem an `InputFileError` naming it."""
    path = Path(path)
    files = read_npz(path)
    schema = _text(files, "schema", path, required=False)
    if schema != SCHEMA:
        raise InputFileError(path, f"schema is {schema!r}, expected {SCHEMA!r}: not a RobotMotion file")
    missing = [k for k in (*_ARRAYS, "robot", "fps", "kind", "joint_names", "body_names") if k not in files]
    if missing:
        raise InputFileError(path, f"missing fields: {', '.join(missing)}")
    robot = _text(files, "robot", path)
    if robot not in robot_names():
        raise InputFileError(path, f"robot {robot!r} is not registered (known: {', '.join(robot_names())})")
    kind = _text(files, "kind", path)
    if kind not in ("kinematic", "physical"):
        raise InputFileError(path, f"kind must be 'kinematic' or 'physical', got {kind!r}")
    fps = files["fps"]
    motion = RobotMotion(
        robot=robot,
        fps=check_fps(fps.item() if fps.shape == () and fps.dtype.kind in "iuf" else fps, path),
        kind=kind,  # type: ignore[arg-type]
        joint_names=_names(files, "joint_names", path),
        body_names=_names(files, "body_names", path),
        source=_json(files, "source", path),
        quality=_json(files, "quality", path),
        frame_metrics={
            k[len("metric__") :]: _numbers(v, k, path) for k, v in files.items() if k.startswith("metric__")
        },
        keypoint_names=_names(files, "keypoint_names", path) if "keypoint_names" in files else (),
        keypoint_targets=_numbers(files["keypoint_targets"], "keypoint_targets", path)
        if "keypoint_targets" in files
        else None,
        **{k: _numbers(files[k], k, path) if k != "contacts" else files[k].astype(bool) for k in _ARRAYS},
    )
    _check_shapes(motion, path)
    for name in ("root_quat_wxyz", "body_quat_wxyz"):
        norms = np.linalg.norm(getattr(motion, name), axis=-1)
        if np.any(np.abs(norms - 1.0) > 1e-3):
            raise InputFileError(
                path, f"{name} holds quaternions that are not of unit length (norm {norms.min():.3g}-{norms.max():.3g})"
            )
    return motion


def _text(files: dict[str, np.ndarray], key: str, path: Path, *, required: bool = True) -> str:
    value = files.get(key)
    if value is None and not required:
        return ""
    if value is None or value.shape != () or value.dtype.kind not in "US":
        raise InputFileError(path, f"{key!r} must be a single string")
    return str(value)


def _names(files: dict[str, np.ndarray], key: str, path: Path) -> tuple[str, ...]:
    value = files[key]
    if value.ndim != 1 or value.dtype.kind not in "US":
        raise InputFileError(path, f"{key!r} must be a list of names")
    return tuple(str(n) for n in value)


def _json(files: dict[str, np.ndarray], key: str, path: Path) -> dict[str, Any]:
    if key not in files:
        return {}
    try:
        value = json.loads(_text(files, key, path))
    except json.JSONDecodeError as exc:
        raise InputFileError(path, f"{key!r} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise InputFileError(path, f"{key!r} must be a JSON object, got {type(value).__name__}")
    return value


def _numbers(value: np.ndarray, key: str, path: Path) -> np.ndarray:
    if value.dtype.kind not in "iuf":
        raise InputFileError(path, f"{key!r} must hold numbers, got dtype {value.dtype}")
    value = value.astype(np.float64)
    if not np.isfinite(value).all():
        raise InputFileError(path, f"{key!r} holds NaN or infinite values")
    return value


def _check_shapes(m: RobotMotion, path: Path) -> None:
    t, n, b = m.num_frames, len(m.joint_names), len(m.body_names)
    if t < 2:
        raise InputFileError(path, f"needs at least 2 frames, has {t}")
    expected = {
        "root_pos": (t, 3),
        "root_quat_wxyz": (t, 4),
        "joint_pos": (t, n),
        "joint_vel": (t, n),
        "body_pos": (t, b, 3),
        "body_quat_wxyz": (t, b, 4),
        "contacts": (t, 2),
    }
    for name, shape in expected.items():
        if getattr(m, name).shape != shape:
            raise InputFileError(path, f"{name} has shape {getattr(m, name).shape}, expected {shape}")
    if m.keypoint_targets is not None and m.keypoint_targets.shape != (t, len(m.keypoint_names), 3):
        raise InputFileError(
            path, f"keypoint_targets has shape {m.keypoint_targets.shape}, expected {(t, len(m.keypoint_names), 3)}"
        )
    for key, series in m.frame_metrics.items():
        if series.shape != (t,):
            raise InputFileError(path, f"metric__{key} has shape {series.shape}, expected {(t,)}")


def export_csv(motion: RobotMotion, path: str | Path) -> Path:
    """Root xyz, root quaternion **xyzw**, joints in robot order; one row per frame, no header."""
    quat_xyzw = motion.root_quat_wxyz[:, [1, 2, 3, 0]]
    rows = np.concatenate([motion.root_pos, quat_xyzw, motion.joint_pos], axis=1)
    with atomic_path(path) as tmp:
        np.savetxt(tmp, rows, delimiter=",", fmt="%.9g")
    return Path(path)


def import_csv(spec: RobotSpec, path: str | Path, fps: float) -> RobotMotion:
    """Read the CSV convention (quaternion xyzw) for `spec`'s robot. The CSV carries no contacts."""
    path = Path(path)
    try:
        rows = np.loadtxt(path, delimiter=",", ndmin=2)
    except (OSError, ValueError) as exc:
        raise InputFileError(path, f"not a numeric CSV ({exc})") from None
    width = 7 + spec.dof
    if rows.shape[1] != width:
        raise InputFileError(
            path,
            f"{rows.shape[1]} columns, but robot {spec.name!r} needs {width} (root xyz, quat xyzw, {spec.dof} joints)",
        )
    qpos = np.empty((len(rows), spec.model.nq))
    qpos[:] = spec.default_qpos
    qpos[:, :3] = rows[:, :3]
    qpos[:, 3:7] = rows[:, [6, 3, 4, 5]]
    qpos[:, spec.qpos_adr] = rows[:, 7:]
    contacts = np.zeros((len(rows), 2), dtype=bool)
    return from_qpos(spec, qpos, fps, contacts, source={"path": str(path), "format": "csv"})
