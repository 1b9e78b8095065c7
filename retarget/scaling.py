"""From a human motion to keypoint targets in the robot's proportions, with no per-robot table.

Two kinds of bones, told apart by anatomy rather than by robot:

- **Limb bones** (pelvis->chest, hip->knee->ankle, shoulder->elbow->wrist) keep the human's
  direction and take the robot's length: each is scaled by (robot bone length in its standing
  pose) / (the human's own median bone length over the clip). Limb by limb, so a robot with short
  shins and long thighs is served as well as one proportioned like a person.
- **Rigid offsets** (pelvis->hips, chest->shoulders, chest->head, ankle->toe) are the robot's own
  standing-pose offsets, turned by the human segment's orientation (`body_frames`). A human's hip
  joints sit beside the pelvis joint while G1's sit 13 cm below it; copying the human's direction
  there would put the robot's legs in the wrong place.

The root moves by the leg-length ratio, so strides fit the robot's legs. `RobotConfig.scale` (or
`RetargetConfig.scale`) replaces every derived factor by one number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from mimicsim.assets import RobotSpec
from mimicsim.errors import InputFileError
from mimicsim.retarget.body_frames import foot_direction, foot_frames, heading, lateral_up_frame
from mimicsim.retarget.human.motion import HumanMotion
from mimicsim.retarget.human.skeleton import SMPL_JOINTS, SMPL_PARENTS

RIGID_OFFSETS: dict[str, str] = {
    "left_hip": "pelvis",
    "right_hip": "pelvis",
    "left_shoulder": "torso",
    "right_shoulder": "torso",
    "head": "torso",
    "left_foot": "left_foot",
    "right_foot": "right_foot",
}
"""Keypoint -> the segment frame that carries it rigidly from its parent keypoint."""
SEGMENTS = ("pelvis", "torso", "left_foot", "right_foot")
_UPRIGHT_TRUNK = np.radians(25.0)
_MAX_TOE_OUT = np.radians(60.0)
"""Feet point at most this far from the pelvis heading: further is beyond a hip's rotation (one
T2M-GPT clip has both feet pointing backwards)."""
_LEG_BONES = ("left_knee", "left_ankle", "right_knee", "right_ankle")


@dataclass(frozen=True)
class RobotRest:
    """The robot's standing pose as retargeting sees it."""

    keypoints: tuple[str, ...]
    """Robot keypoints (SMPL joint names), parents before children."""
    parents: tuple[int, ...]
    """Index of each keypoint's parent keypoint (its nearest SMPL ancestor the robot has); -1 for the root."""
    positions: np.ndarray
    """(K, 3) keypoint positions in the standing pose."""
    segment_bodies: dict[str, int]
    """Segment (pelvis, torso, left_foot, right_foot) -> robot body id it orients."""
    segment_rest: dict[str, np.ndarray]
    """Segment -> (3, 3) orientation of its body in the standing pose."""
    soles: np.ndarray
    """(2, 3) left and right sole-site positions in the standing pose."""

    def index(self, name: str) -> int:
        return self.keypoints.index(name)

    def bone_length(self, child: int) -> float:
        return float(np.linalg.norm(self.positions[child] - self.positions[self.parents[child]]))


def robot_rest(spec: RobotSpec) -> RobotRest:
    names = [j for j in SMPL_JOINTS if j in spec.keypoint_sites]
    if "pelvis" not in names:
        raise ValueError(f"robot {spec.name!r} has no pelvis keypoint; retargeting anchors on it")
    parents = []
    for name in names:
        parent = SMPL_PARENTS[SMPL_JOINTS.index(name)]
        while parent >= 0 and SMPL_JOINTS[parent] not in names:
            parent = SMPL_PARENTS[parent]
        parents.append(names.index(SMPL_JOINTS[parent]) if parent >= 0 else -1)
    data = spec.make_data()
    positions = np.array([data.site(spec.keypoint_sites[n]).xpos for n in names])
    model = spec.model

    def site_body(joint: str) -> int:
        return int(model.site_bodyid[model.site(spec.keypoint_sites[joint]).id])

    bodies = {
        "pelvis": site_body("pelvis"),
        "torso": site_body("spine3") if "spine3" in names else site_body("pelvis"),
        "left_foot": model.body(spec.config.feet[0]).id,
        "right_foot": model.body(spec.config.feet[1]).id,
    }
    rest = {seg: data.xmat[b].reshape(3, 3).copy() for seg, b in bodies.items()}
    soles = np.array([data.site(s).xpos for s in spec.sole_sites])
    return RobotRest(tuple(names), tuple(parents), positions, bodies, rest, soles)


@dataclass(frozen=True)
class Scales:
    bone: dict[str, float]
    """Limb keypoint -> factor on the human bone vector from its parent keypoint."""
    root: float
    """Factor on the pelvis's horizontal travel and height."""
    human_lengths: dict[str, float]
    """The source's own bone lengths (median over the clip, m), for reports."""


@dataclass(frozen=True)
class KeypointTargets:
    """What the robot's keypoints should do, frame by frame."""

    names: tuple[str, ...]
    positions: np.ndarray
    """(T, K, 3) target positions."""
    frames: dict[str, np.ndarray]
    """Segment -> (T, 3, 3) orientation of the human segment (identity = upright, facing +x)."""

    def index(self, name: str) -> int:
        return self.names.index(name)


def _joints(motion: HumanMotion, names: list[str]) -> dict[str, np.ndarray]:
    missing = [n for n in names if n not in motion.joint_names]
    if missing:
        raise InputFileError(
            motion.source.path,
            f"the motion lacks SMPL joints {', '.join(missing)}; map its skeleton onto the 22-joint SMPL body first",
        )
    return {n: motion.positions[:, motion.joint_names.index(n)] for n in names}


def derive_scales(motion: HumanMotion, rest: RobotRest, override: float | None = None) -> Scales:
    """Per-limb factors: robot bone length / the human's median bone length."""
    j = _joints(motion, list(rest.keypoints))
    bone: dict[str, float] = {}
    human: dict[str, float] = {}
    for k, name in enumerate(rest.keypoints):
        parent = rest.parents[k]
        if parent < 0 or name in RIGID_OFFSETS:
            continue
        length = float(np.median(np.linalg.norm(j[name] - j[rest.keypoints[parent]], axis=-1)))
        if length < 1e-3:
            raise InputFileError(
                motion.source.path, f"the bone ending at {name!r} has zero length; the joint positions are degenerate"
            )
        human[name] = length
        bone[name] = override if override is not None else rest.bone_length(k) / length
    legs = [b for b in _LEG_BONES if b in bone]
    if override is not None:
        root = override
    elif legs:
        root = sum(rest.bone_length(rest.index(b)) for b in legs) / sum(human[b] for b in legs)
    else:
        root = float(np.mean(list(bone.values())))
    return Scales(bone, root, human)


SEGMENT_JOINTS = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "spine3",
    "left_collar",
    "right_collar",
    "neck",
    "left_ankle",
    "right_ankle",
    "left_foot",
    "right_foot",
)
"""The joints the segment orientations are built from."""


def trunk_frames(j: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Uncalibrated (T, 3, 3) pelvis and torso frames, and which frames have an upright trunk."""
    trunk = j["neck"] - j["pelvis"]
    upright = trunk[:, 2] > np.cos(_UPRIGHT_TRUNK) * np.linalg.norm(trunk, axis=-1)
    frames = {
        "pelvis": lateral_up_frame(j["left_hip"], j["right_hip"], j["spine1"] - j["pelvis"]),
        "torso": lateral_up_frame(j["left_collar"], j["right_collar"], j["neck"] - j["spine3"]),
    }
    return frames, upright


def foot_segment_frames(
    j: dict[str, np.ndarray], pelvis: np.ndarray, flat: tuple[float, float]
) -> dict[str, np.ndarray]:
    """(T, 3, 3) foot orientations given the calibrated pelvis frames and each foot's flat elevation."""
    pelvis_yaw = heading(pelvis)
    return {
        foot: foot_frames(j[foot.replace("foot", "ankle")], j[foot], flat[side], pelvis_yaw, _MAX_TOE_OUT)
        for side, foot in enumerate(("left_foot", "right_foot"))
    }


def segment_frames(motion: HumanMotion, contacts: np.ndarray | None) -> dict[str, np.ndarray]:
    """(T, 3, 3) orientations of the human's pelvis, torso and feet (identity: upright, facing +x)."""
    j = _joints(motion, list(SEGMENT_JOINTS))
    frames, upright = trunk_frames(j)
    frames = {name: calibrate_upright(frame, upright) for name, frame in frames.items()}
    left, right = (
        flat_foot_elevation(j[f"{side}_ankle"], j[f"{side}_foot"], None if contacts is None else contacts[:, i])
        for i, side in enumerate(("left", "right"))
    )
    flat = (left, right)
    return frames | foot_segment_frames(j, frames["pelvis"], flat)


def tilts(frames: np.ndarray) -> np.ndarray:
    """(T, 3, 3) the frames with their heading removed: what is left is the segment's tilt."""
    yaw = heading(frames)
    c, s = np.cos(yaw), np.sin(yaw)
    unturn = np.zeros((yaw.size, 3, 3))
    unturn[:, 0, 0], unturn[:, 0, 1], unturn[:, 1, 0], unturn[:, 1, 1], unturn[:, 2, 2] = c, s, -s, c, 1.0
    return unturn @ frames


def calibrate_upright(frames: np.ndarray, upright: np.ndarray) -> np.ndarray:
    """Frames corrected by the segment's own tilt when the person stands upright.

    Joint-derived frames are not level on an upright person: an SMPL pelvis frame (hip line,
    pelvis -> spine1) leans back 13-19 degrees on HumanML3D, AMASS and MotionMillion clips and
    forward 8 on CMU's skeleton, while the robot's standing pelvis is level. The tilt (heading
    removed) averaged over the frames where the trunk is within 25 degrees of vertical is that
    skeleton's neutral, and is divided out (a body-fixed offset, so it is applied on the right).
    With no upright frame the frames are returned as they are."""
    if not upright.any():
        return frames
    neutral = Rotation.from_matrix(tilts(frames[upright])).mean().as_matrix()
    return frames @ neutral.T


def flat_foot_elevation(ankle: np.ndarray, toe: np.ndarray, contact: np.ndarray | None) -> float:
    """The ankle->toe elevation angle of this person's foot standing flat: the median over contact
    frames, or over the frames where the foot is lowest when contacts are unknown."""
    _, elevation = foot_direction(ankle, toe)
    if contact is not None and contact.sum() >= 3:
        return float(np.median(elevation[contact]))
    low = ankle[:, 2] <= np.quantile(ankle[:, 2], 0.2)
    return float(np.median(elevation[low]))


def scale_motion(
    motion: HumanMotion, rest: RobotRest, scales: Scales, contacts: np.ndarray | None = None
) -> KeypointTargets:
    """Keypoint targets in the robot's proportions (before any ground or contact handling)."""
    j = _joints(motion, list(rest.keypoints))
    frames = segment_frames(motion, contacts)
    return KeypointTargets(rest.keypoints, place_keypoints(j, frames, rest, scales, j["pelvis"][0, :2]), frames)


def place_keypoints(
    j: dict[str, np.ndarray], frames: dict[str, np.ndarray], rest: RobotRest, scales: Scales, origin: np.ndarray
) -> np.ndarray:
    """(T, K, 3) keypoints: limb bones scaled, rigid offsets turned by the segment frames, the
    pelvis's travel from `origin` (its starting place, x y) scaled by the root factor."""
    T, K = len(j["pelvis"]), len(rest.keypoints)
    out = np.empty((T, K, 3))
    pelvis = j["pelvis"]
    out[:, 0, :2] = origin + scales.root * (pelvis[:, :2] - origin)
    out[:, 0, 2] = scales.root * pelvis[:, 2]
    for k in range(1, K):
        name, parent = rest.keypoints[k], rest.parents[k]
        if name in RIGID_OFFSETS:
            offset = rest.positions[k] - rest.positions[parent]
            out[:, k] = out[:, parent] + frames[RIGID_OFFSETS[name]] @ offset
        else:
            out[:, k] = out[:, parent] + scales.bone[name] * (j[name] - j[rest.keypoints[parent]])
    return out


def segment_body_targets(targets: KeypointTargets, rest: RobotRest) -> dict[str, np.ndarray]:
    """Segment -> (T, 3, 3) target orientation of the robot body that carries it."""
    return {seg: targets.frames[seg] @ rest.segment_rest[seg] for seg in SEGMENTS}
