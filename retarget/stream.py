"""Streaming retargeting: one human frame in, one robot pose out, for live mocap.

    s = stream("g1", RetargetConfig(), fps=30)       # or with body_model= for SMPL-family parameters
    for frame in source:                             # (22, 3) joints, or {"poses": ..., "trans": ...}
        pose = s.push(frame)                         # pose.qpos, pose.joint_pos, pose.contacts
    save(s.motion(), "session.npz")                  # the session as a RobotMotion

The solver is the offline one (`retargeter.make_solver`: the same joint and speed limits, self- and
floor-collision rows, pinned stance feet and branch recovery), warm-started from the previous
frame; the targets come from `stream_targets`, which uses nothing from future frames. The first
frame calibrates the stream (bone lengths, floor, start place) and is solved from the standing
pose, so it takes longer than the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mimicsim.assets import RobotSpec, load_robot
from mimicsim.errors import ConfigError, InputFileError
from mimicsim.retarget.human.formats.body_model import BODY_POSE_WIDTH, BodyModel
from mimicsim.retarget.human.formats.common import parse_units
from mimicsim.retarget.human.formats.joints import SMPL_FAMILY_JOINTS
from mimicsim.retarget.human.normalize import axes_rotation, detect_up
from mimicsim.retarget.ik import FrameGoal
from mimicsim.retarget.retargeter import RetargetConfig, initial_pose, make_solver
from mimicsim.retarget.robot_motion import RobotMotion, from_qpos
from mimicsim.retarget.scaling import KeypointTargets, robot_rest
from mimicsim.retarget.stream_targets import OnlineTargets, TargetSettings


@dataclass(frozen=True)
class RobotPose:
    """The robot's pose for one streamed frame."""

    frame: int
    qpos: np.ndarray
    """(nq,) root position, root quaternion wxyz, joints in the robot's order."""
    contacts: np.ndarray
    """(2,) left and right foot held in contact."""

    @property
    def root_pos(self) -> np.ndarray:
        return self.qpos[:3]

    @property
    def root_quat_wxyz(self) -> np.ndarray:
        return self.qpos[3:7]

    @property
    def joint_pos(self) -> np.ndarray:
        return self.qpos[7:]

    def message(self) -> dict[str, Any]:
        """The pose as a wire message (numpy arrays travel as raw buffers)."""
        return {
            "frame": self.frame,
            "root_pos": self.root_pos,
            "root_quat_wxyz": self.root_quat_wxyz,
            "joint_pos": self.joint_pos,
            "contacts": self.contacts,
        }


class FrameInput:
    """Turns an incoming frame into SMPL-22 joints in the internal frame (z-up, metres).

    A frame is joint positions (J, 3) with J = 22, 24, 52 or 55 (SMPL-family order, the first 22
    kept), or body-model parameters `{"poses": (>= 66,), "trans": (3,)}` (optional per-frame
    `"betas"`) when a body model is given. `up="auto"` takes the axis the first frame stands along."""

    def __init__(self, up: str = "z", units: str | float = "m", body_model: BodyModel | None = None, betas: Any = None):
        self.rotation = None if up == "auto" else axes_rotation(up)
        self.scale = parse_units(units)
        self.body_model = body_model
        self.rest = None
        if body_model is not None:
            self.rest = body_model.rest_joints(self._betas(np.zeros(10) if betas is None else betas))
            self.scale = 1.0  # body models are in metres

    def _betas(self, betas: Any) -> np.ndarray:
        array = np.asarray(betas, dtype=np.float64).reshape(1, -1)
        if array.shape[1] == 0 or not np.isfinite(array).all():
            raise ValueError(f"betas must be a non-empty finite vector, got shape {np.shape(betas)}")
        return array

    def joints(self, frame: Any) -> np.ndarray:
        """(22, 3) joints; a malformed frame raises ValueError with a one-line reason."""
        if isinstance(frame, Mapping):
            positions = self._from_parameters(frame)
        else:
            positions = np.asarray(frame, dtype=np.float64)
            if positions.ndim != 2 or positions.shape[1] != 3 or positions.shape[0] not in SMPL_FAMILY_JOINTS:
                raise ValueError(
                    f"a joints frame must be (22, 3) (or 24/52/55 SMPL-family joints), got shape {positions.shape}"
                )
            positions = positions[:22] * self.scale
        if not np.isfinite(positions).all():
            raise ValueError("the frame holds NaN or infinite values")
        if self.rotation is None:
            self.rotation = axes_rotation(detect_up(positions[None], "the first frame"))
        return positions @ self.rotation.T

    def _from_parameters(self, frame: Mapping[str, Any]) -> np.ndarray:
        if self.body_model is None or self.rest is None:
            raise ValueError("this stream takes joint positions (start it with a body model for parameters)")
        if "poses" not in frame or "trans" not in frame:
            raise ValueError("a body-model frame needs 'poses' and 'trans'")
        poses = np.asarray(frame["poses"], dtype=np.float64).reshape(1, -1)
        trans = np.asarray(frame["trans"], dtype=np.float64).reshape(1, -1)
        if poses.shape[1] < BODY_POSE_WIDTH or trans.shape[1] != 3:
            raise ValueError(
                f"'poses' needs at least {BODY_POSE_WIDTH} values and 'trans' 3, "
                f"got {poses.shape[1]} and {trans.shape[1]}"
            )
        if not (np.isfinite(poses).all() and np.isfinite(trans).all()):
            raise ValueError("the frame holds NaN or infinite values")
        rest = self.rest if "betas" not in frame else self.body_model.rest_joints(self._betas(frame["betas"]))
        return self.body_model.joints(poses, trans, rest)[0]


class RetargetStream:
    """Retargets frames pushed one at a time (see the module docstring)."""

    def __init__(self, spec: RobotSpec, config: RetargetConfig, fps: float, source: FrameInput, *, record: bool = True):
        if not (np.isfinite(fps) and fps > 0):
            raise ConfigError(f"fps={fps}: a stream needs its frame rate, a positive number")
        if config.smoothing > 0 or config.fps is not None:
            raise ConfigError("smoothing and resampling need the whole clip; a stream runs at its own rate unsmoothed")
        self.spec, self.config, self.fps, self.source = spec, config, float(fps), source
        rest = robot_rest(spec)
        self.targets = OnlineTargets(
            rest,
            TargetSettings(
                fps=self.fps,
                scale=config.scale,
                pin_feet=config.pin_feet,
                ground_smoothing=config.ground_smoothing,
                contact_blend=config.contact_blend,
                max_contact_drift=config.max_contact_drift,
                stance_heading_weight=config.stance_heading_weight,
            ),
            spec.config.scale,
        )
        self.solver = make_solver(spec, rest, rest.keypoints, config)
        self.record = record
        self._qpos: list[np.ndarray] = []
        self._contacts: list[np.ndarray] = []
        self._keypoints: list[np.ndarray] = []
        self.frames = 0

    def push(self, frame: Any) -> RobotPose:
        """The robot pose for the next frame (joints or body-model parameters, see `FrameInput`).

        Raises:
            ValueError: a malformed frame (the stream is unchanged and takes the next one).
            InputFileError: the first frame is no plausible person (wrong units or axes).
        """
        targets = self.targets.update(self.source.joints(frame))
        solver, ik = self.solver, self.solver.ik
        weights = solver.orientation_weights.copy()
        for index, weight in targets.heading_weights.items():
            weights[index] = weight
        goal = FrameGoal(targets.positions, solver.position_weights, targets.orientations, weights, targets.stance)
        if self.frames == 0:
            pelvis_frame = targets.orientations[0] @ self.targets.rest.segment_rest["pelvis"].T
            start = KeypointTargets(
                self.targets.rest.keypoints, targets.positions[None], {"pelvis": pelvis_frame[None]}
            )
            ik.reset(initial_pose(self.spec, start))
            ik.solve(goal, None, self.config.ik.settle_iterations)
        else:
            ik.solve(goal, 1.0 / self.fps)
        if solver.recovery is not None:
            solver.recovery.after_frame(goal)
        qpos = ik.qpos.copy()
        if self.record:
            self._qpos.append(qpos)
            self._contacts.append(targets.contacts)
            self._keypoints.append(targets.positions.astype(np.float32))
        self.frames += 1
        return RobotPose(self.frames - 1, qpos, targets.contacts)

    def motion(self, source: dict[str, Any] | None = None) -> RobotMotion:
        """The recorded session as a `RobotMotion` (keypoint targets kept for the quality report)."""
        if not self.record or len(self._qpos) < 2:
            raise InputFileError(None, f"a session needs at least 2 recorded frames, this one has {len(self._qpos)}")
        info = {"format": "stream", "retarget": {"fps": self.fps, "frames": len(self._qpos)}, **(source or {})}
        motion = from_qpos(self.spec, np.array(self._qpos), self.fps, np.array(self._contacts), source=info)
        return replace(motion, keypoint_names=self.targets.rest.keypoints, keypoint_targets=np.array(self._keypoints))


def stream(
    robot: str | RobotSpec,
    config: RetargetConfig | None = None,
    *,
    fps: float,
    up: str = "z",
    units: str | float = "m",
    body_model: BodyModel | None = None,
    betas: Any = None,
    record: bool = True,
) -> RetargetStream:
    """A stream retargeting frames onto `robot` one at a time.

    Args:
        fps: The frame rate frames arrive at (the joint speed limits and contact speeds use it).
        up: The frames' up axis ("z", "y", "-y"... or "auto": the axis the first frame stands along).
        units: Units of joint positions ("m", "cm", "mm" or metres per unit).
        body_model: Take body-model parameters (`load_body_model`) instead of joint positions.
        betas: The body shape for body-model frames (default: the mean shape).
        record: Keep every pose, for `motion()` (off for endless streams).
    """
    spec = load_robot(robot) if isinstance(robot, str) else robot
    config = config if config is not None else RetargetConfig()
    return RetargetStream(spec, config, fps, FrameInput(up, units, body_model, betas), record=record)
