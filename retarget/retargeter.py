"""`retarget(motion, robot, config)`: a human motion onto a humanoid robot, frame by frame.

Pipeline: normalise (floor, contacts) -> scale limb by limb (`scaling`) -> put the feet on the
ground and pin contact phases (`feet`) -> per-frame differential IK with joint and speed limits,
self- and floor-collision avoidance and pinned stance feet (`ik`) -> optional temporal smoothing
and a constrained re-solve (`smoothing`) -> `RobotMotion` with the keypoint targets kept for
evaluation (`retarget.quality` measures it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from mimicsim.assets import RobotSpec, load_robot
from mimicsim.errors import ConfigError
from mimicsim.retarget.branches import BranchRecovery, limbs
from mimicsim.retarget.feet import FOOT_SEGMENTS, PinnedFoot, pin_contacts, place_on_ground, split_sliding_contacts
from mimicsim.retarget.human.motion import HumanMotion
from mimicsim.retarget.human.normalize import normalize
from mimicsim.retarget.human.skeleton import limb_angular_speed
from mimicsim.retarget.ik import FrameGoal, IKSettings, KeypointIK
from mimicsim.retarget.quality import SOURCE_SPEED
from mimicsim.retarget.robot_motion import RobotMotion, from_qpos
from mimicsim.retarget.scaling import (
    SEGMENTS,
    KeypointTargets,
    RobotRest,
    Scales,
    derive_scales,
    robot_rest,
    scale_motion,
    segment_body_targets,
)
from mimicsim.retarget.smoothing import smooth_qpos

DEFAULT_POSITION_WEIGHTS: dict[str, float] = {
    "pelvis": 10.0,
    "spine3": 3.0,
    "head": 1.0,
    "left_hip": 3.0,
    "right_hip": 3.0,
    "left_knee": 3.0,
    "right_knee": 3.0,
    "left_ankle": 10.0,
    "right_ankle": 10.0,
    "left_foot": 5.0,
    "right_foot": 5.0,
    "left_shoulder": 3.0,
    "right_shoulder": 3.0,
    "left_elbow": 3.0,
    "right_elbow": 3.0,
    "left_wrist": 5.0,
    "right_wrist": 5.0,
}
DEFAULT_ORIENTATION_WEIGHTS: dict[str, float] = {"pelvis": 0.5, "torso": 0.5, "left_foot": 0.05, "right_foot": 0.05}


@dataclass(frozen=True)
class RetargetConfig:
    """How a motion is retargeted; the defaults are what the benchmarks measure."""

    scale: float | None = None
    """One factor for every limb and the root, overriding the derived ones and the robot's config."""
    fps: float | None = None
    """Resample the source to this rate first (None keeps the source's rate)."""
    ik: IKSettings = IKSettings()
    pin_feet: bool = True
    """Hold each foot exactly in place during source contact phases."""
    ground_smoothing: float = 0.1
    """Gaussian sigma (s) of the per-frame ground height correction."""
    contact_blend: float = 0.15
    """Seconds over which swing targets blend into a pinned foot pose."""
    max_contact_drift: float = 0.05
    """A source foot sliding this far (m) during contact is re-stepped (`feet.split_sliding_contacts`)."""
    recover_branches: bool = True
    """Guide a limb stuck far from its targets to a better branch of its joint space (`branches`)."""
    smoothing: float = 0.0
    """Gaussian sigma (s) applied to the solved trajectory, followed by a second solve that stays
    near it under every constraint; 0 turns smoothing off."""
    position_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_POSITION_WEIGHTS))
    orientation_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_ORIENTATION_WEIGHTS))
    stance_heading_weight: float = 0.3
    """Orientation weight of a foot's heading during contact (its place is held exactly, its
    height and level by the solver's stance terms)."""


def config_to_dict(config: RetargetConfig) -> dict[str, Any]:
    return asdict(config)


def config_from_dict(fields: dict[str, Any]) -> RetargetConfig:
    """The inverse of `config_to_dict`; unknown names are a `ConfigError`."""
    try:
        ik = IKSettings(**fields.get("ik", {}))
        return RetargetConfig(**{**fields, "ik": ik})
    except TypeError as exc:
        raise ConfigError(f"invalid retarget settings: {exc}") from None


@dataclass(frozen=True)
class Plan:
    """Everything decided before the solver runs."""

    spec: RobotSpec
    motion: HumanMotion
    rest: RobotRest
    scales: Scales
    targets: KeypointTargets
    pins: list[PinnedFoot]
    contacts: np.ndarray


def plan(motion: HumanMotion, spec: RobotSpec, config: RetargetConfig) -> Plan:
    """Normalise, scale and place the targets (no solving)."""
    motion = normalize(motion, floor=True, fps=config.fps, contacts=motion.contacts is None)
    contacts = np.asarray(motion.contacts, dtype=bool)
    rest = robot_rest(spec)
    override = config.scale if config.scale is not None else spec.config.scale
    scales = derive_scales(motion, rest, override)
    targets = scale_motion(motion, rest, scales, contacts)
    targets = place_on_ground(targets, contacts, rest, motion.fps, config.ground_smoothing)
    pins: list[PinnedFoot] = []
    if config.pin_feet:
        targets, contacts = split_sliding_contacts(targets, contacts, motion.fps, config.max_contact_drift)
        targets, pins = pin_contacts(targets, contacts, rest, motion.fps, config.contact_blend)
    return Plan(spec, motion, rest, scales, targets, pins, contacts)


def retarget(motion: HumanMotion, robot: str | RobotSpec, config: RetargetConfig = RetargetConfig()) -> RobotMotion:
    """The robot motion that follows `motion`; `quality` is left empty (see `retarget.quality`), the
    source's limb speeds are kept as a per-frame series (`quality.SOURCE_SPEED`)."""
    spec = load_robot(robot) if isinstance(robot, str) else robot
    p = plan(motion, spec, config)
    qpos = solve(p, config)
    if config.smoothing > 0:
        # Smooth, then solve again staying near the smoothed joints: the second pass restores
        # what smoothing alone breaks (pinned feet, floor and self clearance).
        qpos = solve(p, config, prior=smooth_qpos(spec, qpos, config.smoothing * p.motion.fps))
    source = {
        **p.motion.source.to_dict(),
        "retarget": {
            "scale_root": p.scales.root,
            "scale_bones": p.scales.bone,
            "fps": p.motion.fps,
            "contact_phases": len(p.pins),
            "smoothing_s": config.smoothing,
        },
    }
    out = from_qpos(spec, qpos, p.motion.fps, p.contacts, source=source)
    limb_speed = limb_angular_speed(p.motion.positions, p.motion.joint_names, p.motion.fps)
    return replace(
        out,
        keypoint_names=p.targets.names,
        keypoint_targets=p.targets.positions.astype(np.float32),
        frame_metrics={SOURCE_SPEED: np.concatenate([[0.0], limb_speed])},
    )


@dataclass
class Solver:
    """The per-frame solver of one robot for one motion (or stream), and its fixed weights."""

    ik: KeypointIK
    position_weights: np.ndarray
    """(K,) keypoint weights, in the targets' keypoint order."""
    orientation_weights: np.ndarray
    """(len(SEGMENTS),) segment orientation weights."""
    recovery: BranchRecovery | None


def make_solver(spec: RobotSpec, rest: RobotRest, names: tuple[str, ...], config: RetargetConfig) -> Solver:
    sites = [spec.keypoint_sites[n] for n in names]
    bodies = [rest.segment_bodies[s] for s in SEGMENTS]
    stance_sites = [spec.sole_sites[FOOT_SEGMENTS.index(s)] if s in FOOT_SEGMENTS else "" for s in SEGMENTS]
    ik = KeypointIK(spec, sites, bodies, stance_sites, config.ik)
    return Solver(
        ik=ik,
        position_weights=np.array([config.position_weights.get(n, 1.0) for n in names]),
        orientation_weights=np.array([config.orientation_weights.get(s, 0.0) for s in SEGMENTS]),
        recovery=BranchRecovery(ik, limbs(spec, names)) if config.recover_branches else None,
    )


def solve(p: Plan, config: RetargetConfig, prior: np.ndarray | None = None) -> np.ndarray:
    """(T, nq) trajectory solving the plan frame by frame; with `prior` (T, nq), each frame also
    stays near the prior's joint positions and starts from it."""
    spec, targets, rest = p.spec, p.targets, p.rest
    solver = make_solver(spec, rest, targets.names, config)
    ik = solver.ik
    orientations = np.stack([segment_body_targets(targets, rest)[s] for s in SEGMENTS], axis=1)
    T = len(targets.positions)
    rot_w = np.tile(solver.orientation_weights, (T, 1))
    stance: dict[int, list[tuple[int, np.ndarray]]] = {}
    for pin in p.pins:
        foot = SEGMENTS.index(FOOT_SEGMENTS[pin.side])
        rot_w[pin.start : pin.stop, foot] = config.stance_heading_weight
        for t in range(pin.start, pin.stop):
            stance.setdefault(t, []).append((foot, pin.sole))

    qpos = np.empty((T, spec.model.nq))
    ik.reset(initial_pose(spec, targets) if prior is None else prior[0])
    dt = 1.0 / p.motion.fps
    for t in range(T):
        goal = FrameGoal(targets.positions[t], solver.position_weights, orientations[t], rot_w[t], stance.get(t, []))
        joints = None if prior is None else prior[t, spec.qpos_adr]
        if t == 0:
            ik.solve(goal, None, config.ik.settle_iterations, joints)
        else:
            ik.solve(goal, dt, None, joints)
        if solver.recovery is not None:
            solver.recovery.after_frame(goal)
        qpos[t] = ik.qpos
    return qpos


def initial_pose(spec: RobotSpec, targets: KeypointTargets) -> np.ndarray:
    """The standing pose, moved under the first pelvis target and turned to its heading."""
    qpos = spec.default_qpos.copy()
    pelvis = targets.positions[0, targets.index("pelvis")]
    qpos[:2] = pelvis[:2]
    frame = targets.frames["pelvis"][0]
    yaw = np.arctan2(frame[1, 0], frame[0, 0])
    qpos[3:7] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
    return qpos
