"""Per-frame differential inverse kinematics on a robot's keypoints, warm-started from the
previous frame.

Each solver step is one quadratic program in the step `dq` (mink's formulation, on a
`mink.Configuration`; the collision rows are a `mink.Limit`), solved by daqp:

    minimise   sum_k w_k |J_k dq - e_k|^2          keypoint positions and segment orientations
             + sum_f w |J_f dq - e_f|^2            pinned feet: sole height and level
             + w_post |dq_j - (q0 - q)_j|^2        posture: a gentle pull to the standing pose
             + w_prior |dq_j - (q_prior - q)_j|^2  optional: stay near a smoothed solution
             + w_guide |dq_j - (q_guide - q)_j|^2  optional: walk a limb to a better branch
             + damping |dq|^2
    subject to max(q_min, q_prev - v_max dt, q - step) <= q + dq <= min(q_max, q_prev + v_max dt, q + step)
               -n.(J2 - J1) dq <= gain (d - d_min)  every robot-robot and robot-floor pair in reach
               J_sole,xy dq = e_sole,xy             pinned feet do not slide

Joint position limits, joint velocity limits (relative to the previous *frame*, so several steps
per frame cannot add up past the limit) and a trust region are one box on `dq`, handed to daqp
as simple bounds. All keypoints form one task whose Jacobian is filled in place, so a step costs
a handful of MuJoCo calls and one small QP rather than Python work per task. A frame takes
`iterations` steps (fewer once converged), plus up to `repair_steps` when its last long step left
an overlap behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import daqp
import mink
import mujoco
import numpy as np

from mimicsim.assets import RobotSpec
from mimicsim.retarget.collision import CollisionAvoidance, contact_query

_FREE = 1e30  # daqp's "no bound"
_EQUALITY, _SOFT = 5, 8  # daqp constraint senses
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
    """...deeper than this (m), and take up to `repair_steps` more steps to push them out."""
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
    """Minimum distance kept between robot geoms (m)."""
    floor_clearance: float = 0.0
    collision_gain: float = 0.85
    joint_speed: float | None = None
    """Joint speed limit (rad/s) for every joint; None uses the robot's own limits."""


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


@dataclass
class _Stance:
    J: np.ndarray
    """(5, nv): sole site x, y, z; sole tilt about world x, y."""
    e: np.ndarray
    """(5,) errors of those rows."""
    arrived: bool
    """Close enough to its place to be held there by an equality."""


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
        self.query = contact_query(spec, settings.collision_margin)
        model = self.query.model
        self.model = model
        self.configuration = mink.Configuration(model, spec.default_qpos.copy())
        self.limit = CollisionAvoidance(
            self.query,
            min_self=settings.self_clearance,
            min_floor=settings.floor_clearance,
            gain=settings.collision_gain,
        )
        self.sites = np.array([model.site(s).id for s in sites])
        self.bodies = np.array(bodies, dtype=int)
        self.stance_sites = [model.site(s).id if s else -1 for s in stance_sites]
        rest = spec.make_data()
        # Each oriented body's axis that points straight up when the robot stands level.
        self._rest_up = [rest.xmat[b].reshape(3, 3).T @ np.array([0.0, 0.0, 1.0]) for b in self.bodies]
        self.q0 = spec.default_joint_pos.copy()
        self.guide_target = np.zeros(spec.dof)
        self.guide_weights = np.zeros(spec.dof)
        self.dofs = spec.qvel_adr
        self.qadr = spec.qpos_adr
        self.lower, self.upper = spec.lower, spec.upper
        self.speed = (
            np.full(spec.dof, settings.joint_speed) if settings.joint_speed is not None else spec.velocity_limit.copy()
        )
        nv = model.nv
        self._jac = np.zeros((3 * (len(self.sites) + len(self.bodies)), nv))
        self._jac3 = np.zeros((3, nv))
        self._quat = np.zeros(4)
        self._rotvec = np.zeros(3)
        self.stats = SolveStats()

    @property
    def qpos(self) -> np.ndarray:
        return self.configuration.data.qpos

    def reset(self, qpos: np.ndarray) -> None:
        self.configuration.update(qpos.copy())

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
        q_prev = self.qpos[self.qadr].copy()
        dt = dt if settings.velocity_limits else None
        for _ in range(steps):
            moved = self._step(goal, q_prev, dt, prior)
            if moved < settings.converged:
                break
        # A long step is linearised over a long way: a foot corner or a hand that was out of the
        # constraints' reach when the step began can end up inside. Check, and repair.
        for _ in range(settings.repair_steps):
            if moved < settings.repair_after or not self._penetrating():
                break
            moved = self._step(goal, q_prev, dt, prior)
        return self.qpos.copy()

    def _penetrating(self) -> bool:
        if not self.settings.collisions:
            return False
        self.configuration.update()
        return bool((self.query.query(self.configuration.data).dist < -self.settings.repair_depth).any())

    def _rotation_error(self, target: np.ndarray, body: int) -> np.ndarray:
        """World-frame rotation vector taking the body's orientation to `target`."""
        current = self.configuration.data.xmat[body].reshape(3, 3)
        mujoco.mju_mat2Quat(self._quat, (target @ current.T).ravel())
        mujoco.mju_quat2Vel(self._rotvec, self._quat, 1.0)
        return self._rotvec.copy()

    def _step(self, goal: FrameGoal, q_prev: np.ndarray, dt: float | None, prior: np.ndarray | None) -> float:
        """One QP step; returns its largest coordinate change (inf when no step was possible)."""
        cfg, model, settings = self.configuration, self.model, self.settings
        cfg.update()
        data = cfg.data
        jac = self._jac
        k = len(self.sites)
        for i, site in enumerate(self.sites):
            mujoco.mj_jacSite(model, data, jac[3 * i : 3 * i + 3], None, site)
        errors = [(goal.positions - data.site_xpos[self.sites]).ravel()]
        for i, body in enumerate(self.bodies):
            mujoco.mj_jacBody(model, data, None, jac[3 * (k + i) : 3 * (k + i) + 3], body)
            errors.append(self._rotation_error(goal.orientations[i], body))
        sqrt_w = np.sqrt(np.repeat(np.concatenate([goal.position_weights, goal.orientation_weights]), 3))
        W = sqrt_w[:, None] * jac
        H = W.T @ W
        f = -(sqrt_w * np.concatenate(errors)) @ W
        H.flat[:: model.nv + 1] += settings.damping
        q = data.qpos[self.qadr]
        H[self.dofs, self.dofs] += settings.posture_weight
        f[self.dofs] -= settings.posture_weight * (self.q0 - q)
        if prior is not None:
            H[self.dofs, self.dofs] += settings.prior_weight
            f[self.dofs] -= settings.prior_weight * (prior - q)
        if self.guide_weights.any():
            H[self.dofs, self.dofs] += self.guide_weights
            f[self.dofs] -= self.guide_weights * (self.guide_target - q)

        # Simple bounds: joint range, joint speed since the previous frame, and a trust region
        # that keeps every step inside the range where the linearisation holds.
        upper = np.full(model.nv, _FREE)
        upper[:6] = settings.max_root_step
        lower = -upper
        hi = np.minimum(self.upper - q, settings.max_joint_step)
        lo = np.maximum(self.lower - q, -settings.max_joint_step)
        if dt is not None:
            hi = np.minimum(hi, q_prev + self.speed * dt - q)
            lo = np.maximum(lo, q_prev - self.speed * dt - q)
        upper[self.dofs], lower[self.dofs] = np.maximum(hi, lo), lo

        G, h = self.limit.rows(data) if settings.collisions else (np.zeros((0, model.nv)), np.zeros(0))
        stance = [self._stance(*pin) for pin in goal.stance]
        held = [foot for foot in stance if foot.arrived]
        A = np.vstack([G] + [foot.J[:2] for foot in held])
        b = np.concatenate([foot.e[:2] for foot in held] + [np.zeros(0)])
        bu = np.concatenate([upper, h, b])
        bl = np.concatenate([lower, np.full(h.size, -_FREE), b])
        sense = np.concatenate([np.zeros(model.nv + h.size, np.int32), np.full(b.size, _EQUALITY, np.int32)])
        dq = self._solve_qp(H, f, stance, A, bu, bl, sense, model.nv + h.size)
        if dq is None:
            self.stats.failed += 1
            return np.inf
        mujoco.mj_integratePos(model, data.qpos, dq, 1.0)
        data.qpos[self.qadr] = np.clip(data.qpos[self.qadr], self.lower, self.upper)
        return float(np.abs(dq).max())

    def _stance(self, body_index: int, sole_target: np.ndarray) -> _Stance:
        """Rows of one pinned foot: its sole site's place (x, y) and height (z), and the level of
        its sole (tilt about x and y). The sole centre is what touches the floor: turning the foot
        about it moves no part of the sole far."""
        data, site, body = self.configuration.data, self.stance_sites[body_index], self.bodies[body_index]
        J = np.zeros((5, self.model.nv))
        mujoco.mj_jacSite(self.model, data, J[:3], None, site)
        mujoco.mj_jacBody(self.model, data, None, self._jac3, body)
        J[3:] = self._jac3[:2]
        up = data.xmat[body].reshape(3, 3) @ self._rest_up[body_index]
        tilt = np.array([up[1], -up[0], 0.0])  # up x z: axis * sin(angle) of the levelling rotation
        sin = np.linalg.norm(tilt)
        if sin > 1e-9:
            tilt *= np.arctan2(sin, up[2]) / sin
        e = np.concatenate([sole_target - data.site_xpos[site], tilt[:2]])
        return _Stance(J, e, bool(np.linalg.norm(e[:2]) < _ARRIVED_M))

    def _stance_objective(self, stance: list[_Stance], place_as_task: bool) -> tuple[np.ndarray, np.ndarray]:
        """Objective terms of the pinned feet: height and level always; the place too for feet
        not yet held by an equality (or for all, when holding them is infeasible)."""
        nv, s = self.model.nv, self.settings
        H, f = np.zeros((nv, nv)), np.zeros(nv)
        for foot in stance:
            place = s.stance_weight if (place_as_task or not foot.arrived) else 0.0
            w = np.array([place, place, s.stance_weight, s.level_weight, s.level_weight])
            H += foot.J.T @ (w[:, None] * foot.J)
            f -= (w * foot.e) @ foot.J
        return H, f

    def _solve_qp(
        self,
        H: np.ndarray,
        f: np.ndarray,
        stance: list[_Stance],
        A: np.ndarray,
        bu: np.ndarray,
        bl: np.ndarray,
        sense: np.ndarray,
        n_inequalities: int,
    ) -> np.ndarray | None:
        """daqp with the held feet as equalities. When that is infeasible, the feet's places
        become heavy tasks instead (a slip is better than a collision); when even that fails,
        the collision rows become soft constraints."""
        self.stats.steps += 1
        H_feet, f_feet = self._stance_objective(stance, place_as_task=False)
        dq, _, exitflag, _ = daqp.solve(H + H_feet, f + f_feet, A, bu, bl, sense)
        if exitflag >= 0:
            return dq
        H_feet, f_feet = self._stance_objective(stance, place_as_task=True)
        H, f = H + H_feet, f + f_feet
        A, bu, bl = A[: n_inequalities - self.model.nv], bu[:n_inequalities], bl[:n_inequalities]
        sense = sense[:n_inequalities].copy()
        dq, _, exitflag, _ = daqp.solve(H, f, A, bu, bl, sense)
        if exitflag >= 0:
            self.stats.relaxed_stance += 1
            return dq
        sense[self.model.nv :] |= _SOFT
        dq, _, exitflag, _ = daqp.solve(H, f, A, bu, bl, sense)
        if exitflag >= 0:
            self.stats.relaxed_all += 1
            return dq
        return None
