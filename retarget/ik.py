"""Per-frame differential inverse kinematics on a robot's keypoints, warm-started from the
previous frame.

Each solver step is one quadratic program in the step `dq` (mink's formulation), solved by daqp:

    minimise   sum_k w_k |J_k dq - e_k|^2          keypoint positions and segment orientations
             + sum_f w |J_f dq - e_f|^2            pinned feet: sole height and level
             + w_post |dq_j - (q0 - q)_j|^2        posture: a gentle pull to the standing pose
             + w_prior |dq_j - (q_prior - q)_j|^2  optional: stay near a smoothed solution
             + w_guide |dq_j - (q_guide - q)_j|^2  optional: walk a limb to a better branch
             + damping |dq|^2
    subject to max(q_min, q_prev - v_max dt, q - step) <= q + dq <= min(q_max, q_prev + v_max dt, q + step)
               -n.(J2 - J1) dq <= gain (d - d_min)  every robot-robot and robot-floor pair in reach
               J_sole,xy dq = e_sole,xy             pinned feet do not slide

Joint position limits, joint speed limits (relative to the previous *frame*, so several steps
per frame cannot add up past the limit) and a trust region are one box on `dq`, handed to daqp
as simple bounds. The QP is assembled in compiled code (`ik_step`) from MuJoCo's kinematics,
what stays fixed within a frame (weights, the speed window, the joint pulls) is prepared once per
frame, and kinematics and collision queries are reused until the configuration changes. A frame takes `iterations` steps
(fewer once converged), plus up to `repair_steps` when its last long step left an overlap behind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import daqp
import mujoco
import numpy as np

from mimicsim.assets import RobotSpec
from mimicsim.errors import ConfigError
from mimicsim.retarget.collision import CollisionAvoidance, Contacts, tracked_contacts
from mimicsim.retarget.ik_step import SOFT, assemble
from mimicsim.retarget.jacobians import chain_mask

_ARRIVED_M = 0.01
"""A pinned foot this close (m) to its place is held there by an equality constraint."""


@dataclass(frozen=True)
class IKSettings:
    iterations: int = 2
    """Solver steps per frame after the first (each warm-started from the last)."""
    settle_iterations: int = 60
    """Most steps for the first frame, which starts from the standing pose and has no speed limit."""
    repair_after: float = 0.05
    """After a frame's last step moved a coordinate more than this (rad or m), check for overlaps..."""
    repair_depth: float = 0.002
    """...deeper than this (m) beyond what the pair is held to, and take up to `repair_steps`
    more steps to push them out."""
    repair_steps: int = 2
    converged: float = 1e-3
    """A frame stops iterating after a step that moved no coordinate more than this (rad or m)."""
    damping: float = 0.05
    """Levenberg-Marquardt damping on every step: keeps unobserved joint combinations (upper-arm
    yaw against forearm roll) from thrashing. While tuning, 1e-4 gave 17 self-collision frames
    and 48 frames above 3 pi rad/s on the AMASS rep272 clip; 0.05 gave none and 3."""
    posture_weight: float = 1e-2
    prior_weight: float = 1.0
    """Weight of a `prior` joint trajectory passed to `solve` (the smoothed solution, when
    smoothing is on)."""
    guide_weight: float = 1.0
    """Weight of a `guide` pull (a limb being walked to a better branch, see `branches`)."""
    stance_weight: float = 1000.0
    """Weight of a pinned foot's height, and of its place while it is still arriving (or when
    holding it is infeasible)."""
    level_weight: float = 2.0
    """Weight of a pinned foot's sole being level (1/rad^2). Soft on purpose: H1 has no ankle
    roll, so in a wide stance its feet cannot be level and must still be held in place (20 cost
    H1 15 mm of keypoint error on the boxing clip; the floor constraint keeps every sole corner
    above the floor either way)."""
    max_joint_step: float = 0.5
    """Trust region: largest joint change per solver step (rad)."""
    max_root_step: float = 0.2
    """Trust region: largest root translation (m) or rotation (rad) per solver step."""
    velocity_limits: bool = True
    collisions: bool = True
    collision_margin: float = 0.03
    """Pairs nearer than this (m) enter the QP."""
    self_clearance: float = 0.005
    """Minimum distance kept between robot geoms (m), except for pairs nearer than this when the
    robot stands and for neighbours in the tree (`collision.CollisionAvoidance.d_min`)."""
    floor_clearance: float = 0.0
    collision_gain: float = 0.85
    joint_speed: float | None = 3 * math.pi
    """Joint speed bound (rad/s) for every joint, never above the robot's own limit; None uses the
    robot's own limits. A human limb rarely turns faster than 3 pi rad/s: a robot joint that does
    is jumping between branches of the IK, not following the motion."""
    joint_speeds: dict[str, float] = field(default_factory=dict)
    """Per-joint speed bounds (rad/s) by joint name, overriding `joint_speed`."""


def joint_speed_bounds(spec: RobotSpec, settings: IKSettings) -> np.ndarray:
    """(dof,) the speed bound of each joint in the robot's joint order (rad/s)."""
    unknown = sorted(set(settings.joint_speeds) - set(spec.joint_names))
    if unknown:
        raise ConfigError(
            f"joint_speeds names {', '.join(unknown)}, not joints of {spec.name} "
            f"(its joints: {', '.join(spec.joint_names)})"
        )
    speed = spec.velocity_limit.copy()
    if settings.joint_speed is not None:
        speed = np.minimum(speed, settings.joint_speed)
    for name, value in settings.joint_speeds.items():
        if not value > 0:
            raise ConfigError(f"joint_speeds[{name!r}] must be positive, got {value}")
        speed[spec.joint_names.index(name)] = value
    return speed


@dataclass
class FrameGoal:
    """Targets for one frame."""

    positions: np.ndarray
    """(K, 3) keypoint targets, in the order of the solver's sites."""
    position_weights: np.ndarray
    """(K,) weights (1/m^2)."""
    orientations: np.ndarray
    """(O, 3, 3) target orientations of the solver's oriented bodies."""
    orientation_weights: np.ndarray
    """(O,) weights (1/rad^2)."""
    stance: list[tuple[int, np.ndarray]] = field(default_factory=list)
    """Feet held in place, level, on the floor: (index into the oriented bodies, sole-site target).
    Their headings stay ordinary orientation targets."""


@dataclass(frozen=True)
class _Frame:
    """What stays fixed over one frame's steps."""

    sqrt_w: np.ndarray
    """(3K + 3O,) square roots of the keypoint and orientation row weights."""
    upper: np.ndarray
    """(dof,) highest joint positions this frame may reach (range and speed)."""
    lower: np.ndarray
    diagonal: np.ndarray
    """(nv,) damping plus the summed weights of the posture, prior and guide pulls..."""
    pull_weight: np.ndarray
    """(dof,) ...those pulls' weights alone..."""
    pull_target: np.ndarray
    """(dof,) ...and their weighted targets (sum of weight * target)."""
    stance_points: np.ndarray
    """(S,) pinned feet: rows of their sole sites among the solver's points..."""
    stance_bodies: np.ndarray
    """(S,) ...their indices among the oriented bodies..."""
    stance_targets: np.ndarray
    """(S, 3) ...where their sole sites belong..."""
    stance_up: np.ndarray
    """(S, 3) ...and the axis of each foot body that points up when it stands level."""


@dataclass(frozen=True)
class _Near:
    """A collision query's answer as the step uses it."""

    contacts: Contacts
    body1: np.ndarray
    """(n,) the bodies of each contact's geoms..."""
    body2: np.ndarray
    d_min: np.ndarray
    """(n,) ...and the distance each pair must keep (`CollisionAvoidance.d_min`)."""


@dataclass
class SolveStats:
    steps: int = 0
    relaxed_stance: int = 0
    """Infeasible steps solved with the pinned feet's places as heavy tasks instead."""
    relaxed_all: int = 0
    """Infeasible steps solved with every general constraint soft."""
    failed: int = 0
    """Steps with no solution at all (the configuration was kept)."""


class KeypointIK:
    """Solves `FrameGoal`s one frame after another for one robot."""

    def __init__(
        self,
        spec: RobotSpec,
        sites: list[str],
        bodies: list[int],
        stance_sites: list[str],
        settings: IKSettings = IKSettings(),
    ):
        """`sites`: keypoint sites in goal order; `bodies`: body ids with orientation targets;
        `stance_sites`: for each oriented body that can be a stance foot, its sole site (same
        order as `bodies`, "" for bodies that are never pinned)."""
        self.spec = spec
        self.settings = settings
        self.query = tracked_contacts(spec, settings.collision_margin)
        self.model = model = self.query.model
        self.data = mujoco.MjData(model)
        self.data.qpos[:] = spec.default_qpos
        self.limit = CollisionAvoidance(
            self.query,
            min_self=settings.self_clearance,
            min_floor=settings.floor_clearance,
            gain=settings.collision_gain,
        )
        self.sites = np.array([model.site(s).id for s in sites], dtype=np.int64)
        self.bodies = np.array(bodies, dtype=np.int64)
        soles = [model.site(s).id for s in stance_sites if s]
        # The solver's points: keypoint sites, then the sole sites of the feet that can be pinned.
        self._points = np.concatenate([self.sites, soles]).astype(np.int64)
        self._point_bodies = model.site_bodyid[self._points].astype(np.int64)
        rows = iter(range(len(self.sites), len(self._points)))
        self._sole_row = [next(rows) if s else -1 for s in stance_sites]
        self._chain = chain_mask(model)
        self._root = int(model.body_rootid[self.bodies[0]])
        rest = spec.make_data()
        # Each oriented body's axis that points straight up when the robot stands level.
        self._rest_up = np.array([rest.xmat[b].reshape(3, 3).T @ np.array([0.0, 0.0, 1.0]) for b in self.bodies])
        self.q0 = spec.default_joint_pos.copy()
        self.guide_target = np.zeros(spec.dof)
        self.guide_weights = np.zeros(spec.dof)
        self.dofs = spec.qvel_adr.astype(np.int64)
        self.qadr = spec.qpos_adr.astype(np.int64)
        self.lower, self.upper = spec.lower, spec.upper
        self.speed = joint_speed_bounds(spec, settings)
        self._geom_body = model.geom_bodyid.astype(np.int64)
        self._fresh = False
        """Kinematics (and `_contacts`, when set) belong to the current configuration."""
        self._contacts: _Near | None = None
        self.stats = SolveStats()

    @property
    def qpos(self) -> np.ndarray:
        return self.data.qpos

    def reset(self, qpos: np.ndarray) -> None:
        self.data.qpos[:] = qpos
        self._moved()

    def reached(self) -> np.ndarray:
        """(K, 3) where the keypoint sites are in the current configuration."""
        self._kinematics()
        return self.data.site_xpos[self.sites]

    def guide(self, joints: np.ndarray, target: np.ndarray | None) -> None:
        """Pull `joints` (indices in the robot's joint order) towards `target` with weight
        `settings.guide_weight`, or release them (`target=None`)."""
        if target is None:
            self.guide_weights[joints] = 0.0
        else:
            self.guide_target[joints] = target
            self.guide_weights[joints] = self.settings.guide_weight

    def solve(
        self, goal: FrameGoal, dt: float | None, iterations: int | None = None, prior: np.ndarray | None = None
    ) -> np.ndarray:
        """Move to the goal; `dt` (s) since the previous frame bounds joint speeds (None: unbounded).
        `prior`: joint positions to stay near (weight `settings.prior_weight`), e.g. a smoothed
        trajectory being made to satisfy the constraints again."""
        settings = self.settings
        steps = iterations if iterations is not None else settings.iterations
        frame = self._frame(goal, dt if settings.velocity_limits else None, prior)
        for _ in range(steps):
            moved = self._step(goal, frame)
            if moved < settings.converged:
                break
        # A long step is linearised over a long way: a foot corner or a hand that was out of the
        # constraints' reach when the step began can end up inside. Check, and repair.
        for _ in range(settings.repair_steps):
            if moved < settings.repair_after or not self._penetrating():
                break
            moved = self._step(goal, frame)
        return self.qpos.copy()

    def _frame(self, goal: FrameGoal, dt: float | None, prior: np.ndarray | None) -> _Frame:
        s = self.settings
        q = self.qpos[self.qadr]
        upper, lower = self.upper, self.lower
        if dt is not None:
            upper = np.minimum(upper, q + self.speed * dt)
            lower = np.maximum(lower, q - self.speed * dt)
        weight = s.posture_weight + self.guide_weights
        target = s.posture_weight * self.q0 + self.guide_weights * self.guide_target
        if prior is not None:
            weight = weight + s.prior_weight
            target = target + s.prior_weight * prior
        diagonal = np.full(self.model.nv, s.damping)
        diagonal[self.dofs] += weight
        sqrt_w = np.sqrt(np.repeat(np.concatenate([goal.position_weights, goal.orientation_weights]), 3))
        feet = [i for i, _ in goal.stance]
        return _Frame(
            sqrt_w,
            upper,
            lower,
            diagonal,
            weight,
            target,
            stance_points=np.array([self._sole_row[i] for i in feet], dtype=np.int64),
            stance_bodies=np.array(feet, dtype=np.int64),
            stance_targets=np.array([target for _, target in goal.stance], dtype=float).reshape(-1, 3),
            stance_up=self._rest_up[feet].reshape(-1, 3),
        )

    def _moved(self) -> None:
        self._fresh = False
        self._contacts = None

    def _kinematics(self) -> None:
        if not self._fresh:
            mujoco.mj_kinematics(self.model, self.data)
            mujoco.mj_comPos(self.model, self.data)  # dof axes for the Jacobians
            self._fresh = True

    def _query(self) -> _Near:
        """The pairs in reach in the current configuration."""
        self._kinematics()
        if self._contacts is None:
            contacts = self.query.query(self.data) if self.settings.collisions else self.query.nothing
            body1, body2 = self._geom_body[contacts.geom1], self._geom_body[contacts.geom2]
            self._contacts = _Near(contacts, body1, body2, self.limit.d_min(contacts, body1, body2))
        return self._contacts

    def _penetrating(self) -> bool:
        if not self.settings.collisions:
            return False
        near = self._query()
        return bool((near.contacts.dist < np.minimum(near.d_min, 0.0) - self.settings.repair_depth).any())

    def _step(self, goal: FrameGoal, frame: _Frame) -> float:
        """One QP step; returns its largest coordinate change (inf when no step was possible)."""
        model, data, s = self.model, self.data, self.settings
        self._kinematics()
        near = self._query()
        contacts = near.contacts
        H, f, A, bu, bl, sense, H_slip, f_slip = assemble(
            data.site_xpos,
            data.xmat,
            data.cdof,
            data.subtree_com[self._root],
            self._chain,
            self._points,
            self._point_bodies,
            len(self.sites),
            self.bodies,
            goal.positions,
            goal.orientations,
            frame.sqrt_w,
            frame.diagonal,
            frame.pull_weight,
            frame.pull_target,
            frame.upper,
            frame.lower,
            self.dofs,
            self.qadr,
            data.qpos,
            s.max_joint_step,
            s.max_root_step,
            frame.stance_points,
            frame.stance_bodies,
            frame.stance_targets,
            frame.stance_up,
            s.stance_weight,
            s.level_weight,
            _ARRIVED_M,
            near.body1,
            near.body2,
            contacts.dist,
            contacts.normal,
            contacts.pos,
            near.d_min,
            s.collision_gain,
        )
        dq = self._solve_qp(H, f, A, bu, bl, sense, H_slip, f_slip, model.nv + len(contacts))
        if dq is None:
            self.stats.failed += 1
            return np.inf
        mujoco.mj_integratePos(model, data.qpos, dq, 1.0)
        data.qpos[self.qadr] = np.clip(data.qpos[self.qadr], self.lower, self.upper)
        self._moved()
        return float(np.abs(dq).max())

    def _solve_qp(
        self,
        H: np.ndarray,
        f: np.ndarray,
        A: np.ndarray,
        bu: np.ndarray,
        bl: np.ndarray,
        sense: np.ndarray,
        H_slip: np.ndarray,
        f_slip: np.ndarray,
        n_inequalities: int,
    ) -> np.ndarray | None:
        """daqp with the arrived feet held by equalities. When that is infeasible, their places
        become heavy tasks instead (a slip is better than a collision); when even that fails,
        the collision rows become soft constraints."""
        self.stats.steps += 1
        dq, _, exitflag, _ = daqp.solve(H, f, A, bu, bl, sense)
        if exitflag >= 0:
            return dq
        nv = self.model.nv
        H, f = H + H_slip, f + f_slip
        A, bu, bl = A[: n_inequalities - nv], bu[:n_inequalities], bl[:n_inequalities]
        sense = sense[:n_inequalities].copy()
        dq, _, exitflag, _ = daqp.solve(H, f, A, bu, bl, sense)
        if exitflag >= 0:
            self.stats.relaxed_stance += 1
            return dq
        sense[nv:] |= SOFT
        dq, _, exitflag, _ = daqp.solve(H, f, A, bu, bl, sense)
        if exitflag >= 0:
            self.stats.relaxed_all += 1
            return dq
        return None
