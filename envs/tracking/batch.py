"""`TrackingBatch`: K humanoids following `RobotMotion` clips in MuJoCo, stepped together.

This is the engine under the Gymnasium environment (`TrackingEnv`, K = 1) and the vectorised
training environments (policies/vec_env.py). Physics runs robot by robot; everything else (errors,
rewards, terminations, observations) runs once per step on arrays of all K robots, so Python's
per-operation cost is shared by the batch. Reference quantities are precomputed per frame
(`MotionReference`); per-robot state is gathered into preallocated arrays (`RobotState`).

Each policy step sets PD position targets (default pose, or the reference's joints, + per-joint
scale x action), then runs `decimation` physics steps as mj_step2 / mj_step / mj_step1: the pending
mj_step1 (from the previous step or the reset) is completed, and ending with mj_step1 leaves poses,
velocities and contacts current for the next observation at no extra cost.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from mimicsim.assets import RobotSpec, load_robot
from mimicsim.envs.tracking.config import TrackingEnvCfg
from mimicsim.envs.tracking.kinematics import RobotState, TrackedPoints, quat_to_wxyz, quat_to_xyzw
from mimicsim.envs.tracking.reference import MotionReference
from mimicsim.envs.tracking.start_sampling import StartSampler
from mimicsim.envs.tracking.terms import REASONS, TermsResult, TrackingTerms
from mimicsim.errors import ConfigError
from mimicsim.retarget import robot_motion
from mimicsim.retarget.robot_motion import RobotMotion

MotionInput = str | Path | RobotMotion
UNSTABLE = REASONS.index("simulation_unstable")
NON_FINITE_ACTION = REASONS.index("non_finite_action")

# Uniform +- observation noise per term under domain randomisation (BeyondMimic's values).
_OBS_NOISE = {
    "anchor_pos_error": 0.25,
    "anchor_ori_error": 0.05,
    "base_lin_vel": 0.5,
    "base_ang_vel": 0.2,
    "projected_gravity": 0.05,
    "joint_pos": 0.01,
    "joint_vel": 0.5,
}


@dataclass
class Transition:
    """One `advance` of a batch: observations after any resets, and what ended."""

    obs: np.ndarray  # (K, obs_size) float32
    reward: np.ndarray  # (K,)
    terminated: np.ndarray  # (K,) bool
    truncated: np.ndarray  # (K,) bool
    reason: np.ndarray  # (K,) termination codes (tracking_terms.REASONS)
    errors: dict[str, np.ndarray]
    ended: np.ndarray  # indices of robots whose episode ended (and restarted)
    final_obs: np.ndarray  # (len(ended), obs_size): their last observations


def load_motions(motions: MotionInput | Sequence[MotionInput]) -> tuple[list[RobotMotion], list[str]]:
    """The motions and their names (file paths, or the `source.path` of motions given loaded)."""
    items = [motions] if isinstance(motions, (str, Path, RobotMotion)) else list(motions)
    if not items:
        raise ConfigError("a tracking environment needs at least one motion clip")
    loaded = [m if isinstance(m, RobotMotion) else robot_motion.load(m) for m in items]
    names = [
        str(m.source.get("path") or f"clip{i}") if isinstance(m, RobotMotion) else str(m) for i, m in enumerate(items)
    ]
    return loaded, names


def observation_layout(cfg: TrackingEnvCfg, dof: int) -> list[tuple[str, int]]:
    """The policy observation, in order: (term, size). Joint terms follow the robot's joint order;
    reference joint positions are absolute, robot joint positions relative to the default pose; the
    anchor errors are in the robot anchor's frame (orientation as the first two columns of the
    relative rotation matrix, row-major); base velocities and gravity are in the pelvis frame."""
    layout = []
    for k in cfg.observation.reference_frames:
        layout += [(f"reference_joint_pos[{k:+d}]", dof), (f"reference_joint_vel[{k:+d}]", dof)]
    layout += [("anchor_pos_error", 3), ("anchor_ori_error", 6)]
    if cfg.observation.base_lin_vel:
        layout.append(("base_lin_vel", 3))
    return [
        *layout,
        ("base_ang_vel", 3),
        ("projected_gravity", 3),
        ("joint_pos", dof),
        ("joint_vel", dof),
        ("last_action", dof),
    ]


def action_scale(spec: RobotSpec, cfg: TrackingEnvCfg) -> np.ndarray:
    """BeyondMimic's per-joint scale: scale_factor x effort limit / stiffness."""
    return cfg.action.scale_factor * spec.effort_limit / spec.kp


class TrackingBatch:
    def __init__(
        self,
        motions: MotionInput | Sequence[MotionInput],
        cfg: TrackingEnvCfg,
        num_envs: int = 1,
        seed: int | None = None,
    ):
        if num_envs < 1:
            raise ConfigError(f"num_envs must be at least 1, got {num_envs}")
        self.cfg, self.num_envs, self.dt = cfg, num_envs, cfg.policy_dt
        self.robot = spec = load_robot(cfg.robot)
        model = copy.copy(spec.model)  # the options below must not leak into a shared model
        model.opt.timestep = cfg.sim.timestep
        model.opt.integrator = {
            "implicitfast": mujoco.mjtIntegrator.mjINT_IMPLICITFAST,
            "euler": mujoco.mjtIntegrator.mjINT_EULER,
        }[cfg.sim.integrator]
        model.opt.iterations, model.opt.ls_iterations = cfg.sim.iterations, cfg.sim.ls_iterations
        # Randomisation edits the model, so each robot then needs its own.
        self.models = [model if k == 0 or not cfg.randomization.enabled else copy.copy(model) for k in range(num_envs)]
        self.datas = [mujoco.MjData(m) for m in self.models]
        self.rng = np.random.default_rng(seed)

        self.points = TrackedPoints.of(spec)
        self.reference = ref = MotionReference.build(spec, *load_motions(motions), self.dt, self.points)
        self.terms = TrackingTerms(
            ref, self.points.anchor, spec.lower, spec.upper, self.dt, cfg.reward, cfg.termination, num_envs
        )
        self.sampler = StartSampler(ref.clip_first, ref.clip_last, self.dt, cfg.start)
        self.state = RobotState(self.points, num_envs)
        self._views = [self.state.views(d) for d in self.datas]

        n = spec.dof
        self.action_scale = action_scale(spec, cfg)
        self.default_joint_pos = spec.default_joint_pos.copy()
        self.residual = cfg.action.offset == "reference"
        if self.residual:
            self.action_high = (spec.upper - spec.lower) / self.action_scale
            self.action_low = -self.action_high
        else:
            self.action_low = (spec.lower - self.default_joint_pos) / self.action_scale
            self.action_high = (spec.upper - self.default_joint_pos) / self.action_scale
        self.layout = observation_layout(cfg, n)
        self.obs_size = sum(k for _, k in self.layout)
        self._slices = _slices(self.layout)
        rand = cfg.randomization
        self._obs_noise = (
            np.concatenate([np.full(k, _OBS_NOISE.get(name, 0.0)) for name, k in self.layout]) * rand.observation_noise
            if rand.enabled and rand.observation_noise > 0
            else None
        )

        self.actions, self.prev_actions = np.zeros((num_envs, n)), np.zeros((num_envs, n))
        self._targets = np.zeros((num_envs, n))
        self.frames = np.zeros(num_envs, dtype=np.int64)
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self._next_push = np.full(num_envs, np.inf)
        self._max_steps = np.inf if math.isinf(cfg.episode_seconds) else round(cfg.episode_seconds / self.dt)
        self._obs = np.zeros((num_envs, self.obs_size))
        self._nominal = {
            "geom_friction": model.geom_friction.copy(),
            "body_mass": model.body_mass.copy(),
            "body_inertia": model.body_inertia.copy(),
        }
        self._friction_geoms = _friction_geoms(model, spec.config.feet)

    # -- episodes ---------------------------------------------------------------------------------

    def reset(self, env_ids: Sequence[int] | np.ndarray, frames: Sequence[int] | np.ndarray | None = None) -> None:
        """Start new episodes for `env_ids`: at sampled frames (failure-weighted), or at `frames`.
        Start noise and randomisation per the config apply either way."""
        for i, k in enumerate(env_ids):
            frame = self.sampler.sample(self.rng) if frames is None else int(frames[i])
            if not 0 <= frame < self.reference.num_frames or frame == self.reference.clip_last[frame]:
                raise ConfigError(
                    f"frame {frame} cannot start an episode (it is a clip's last frame or "
                    f"outside 0..{self.reference.num_frames - 1})"
                )
            self._randomize_model(k)
            qpos, qvel = self._noisy_start(frame)
            self.set_state(k, qpos, qvel, frame)
            self.steps[k] = 0
            self.actions[k] = 0.0
            self.prev_actions[k] = 0.0
            rand = self.cfg.randomization
            self._next_push[k] = self.rng.uniform(*rand.push_interval) if rand.enabled else np.inf
        self.state.finish()

    def set_state(self, k: int, qpos: np.ndarray, qvel: np.ndarray, frame: int) -> None:
        """Put robot k in (qpos, qvel) at reference frame `frame`; call `state.finish()` after."""
        model, data = self.models[k], self.datas[k]
        mujoco.mj_resetData(model, data)
        data.qpos[:] = qpos
        data.qvel[:] = qvel
        mujoco.mj_forward(model, data)
        self.frames[k] = frame
        self.state.read(k, self._views[k])

    # -- stepping ---------------------------------------------------------------------------------

    def step(self, actions: np.ndarray) -> TermsResult:
        """Advance every robot one policy step. Returns rewards, termination reasons (including
        `simulation_unstable` when MuJoCo had to reset a diverging state) and errors; `frames` and
        `truncated()` describe where each episode stands. Actions are not clipped: MuJoCo clamps the
        PD targets to the joint ranges, which is what the action bounds mean. A robot given a NaN or
        infinite action holds its last targets and its episode ends (`non_finite_action`), so no
        NaN reaches a reward or an observation."""
        self.prev_actions, self.actions = self.actions, self.prev_actions
        bad = ~np.isfinite(actions).all(axis=1)
        np.copyto(self.actions, np.where(bad[:, None], self.prev_actions, actions))
        targets = self._targets
        np.multiply(self.actions, self.action_scale, out=targets)
        targets += self.reference.joint_pos[self.frames + 1] if self.residual else self.default_joint_pos
        self.steps += 1
        pushes = self.steps * self.dt >= self._next_push
        unstable = np.zeros(self.num_envs, dtype=bool)
        decimation, step_time = self.cfg.sim.decimation, self.dt - 1e-9
        for k, (model, data) in enumerate(zip(self.models, self.datas, strict=True)):
            data.ctrl[:] = targets[k]
            if pushes[k]:
                self._push(k)
            start_time = data.time
            mujoco.mj_step2(model, data)
            if decimation > 1:
                mujoco.mj_step(model, data, nstep=decimation - 1)
            mujoco.mj_step1(model, data)
            unstable[k] = data.time - start_time < step_time  # MuJoCo resets a diverging state and its clock
            self.state.read(k, self._views[k])
        self.state.finish()
        self.frames += 1
        result = self.terms.evaluate(self.state, self.frames, self.actions, self.prev_actions)
        unstable |= ~np.isfinite(result.reward)
        result.reason[unstable] = UNSTABLE
        result.reason[bad] = NON_FINITE_ACTION
        result.reward[unstable | bad] = 0.0
        return result

    def advance(self, actions: np.ndarray) -> Transition:
        """`step`, then observe, feed ended episodes to the start sampler and start new ones in
        their place (the observation of an ended episode's last state is kept in `final_obs`)."""
        result = self.step(actions)
        terminated = result.reason != 0
        truncated = ~terminated & self.truncated()
        obs = self.observe()
        ended = np.flatnonzero(terminated | truncated)
        final_obs = obs[ended]
        if len(ended):
            self.record_episode_ends(terminated | truncated, terminated)
            self.reset(ended)
            obs[ended] = self.observe()[ended]
        return Transition(obs, result.reward, terminated, truncated, result.reason, result.errors, ended, final_obs)

    def truncated(self) -> np.ndarray:
        """Episodes that reached the end of their clip or the time limit."""
        return (self.frames >= self.reference.clip_last[self.frames]) | (self.steps >= self._max_steps)

    def record_episode_ends(self, ended: np.ndarray, failed: np.ndarray) -> None:
        """Feed finished episodes to the failure-weighted start sampler."""
        for k in np.flatnonzero(ended):
            self.sampler.record(int(self.frames[k]), bool(failed[k]))

    def observe(self) -> np.ndarray:
        """(K, obs_size) float32 observations of the current state (see `observation_layout`)."""
        ref, st, obs, sl, f = self.reference, self.state, self._obs, self._slices, self.frames
        last = ref.clip_last[f]
        for k in self.cfg.observation.reference_frames:
            part = slice(sl[f"reference_joint_pos[{k:+d}]"].start, sl[f"reference_joint_vel[{k:+d}]"].stop)
            obs[:, part] = ref.joint_state[np.minimum(f + k, last)]
        rot = st.anchor_rot
        d = ref.anchor_pos[f] - st.body_pos[:, self.points.anchor]
        obs[:, sl["anchor_pos_error"]] = np.einsum("kij,ki->kj", rot, d)
        obs[:, sl["anchor_ori_error"]] = np.matmul(rot.transpose(0, 2, 1), ref.anchor_mat_cols[f]).reshape(-1, 6)
        if "base_lin_vel" in sl:
            obs[:, sl["base_lin_vel"]] = np.einsum("kij,ki->kj", st.root_rot, st.root_lin_vel)
        obs[:, sl["base_ang_vel"]] = st.root_ang_vel
        obs[:, sl["projected_gravity"]] = -st.root_up_row
        np.subtract(st.joint_pos, self.default_joint_pos, out=obs[:, sl["joint_pos"]])
        obs[:, sl["joint_vel"]] = st.joint_vel
        obs[:, sl["last_action"]] = self.actions
        out = obs.astype(np.float32)
        if self._obs_noise is not None:
            out += (self.rng.uniform(-1.0, 1.0, out.shape) * self._obs_noise).astype(np.float32)
        return out

    # -- randomness -------------------------------------------------------------------------------

    def _noisy_start(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        st, rng, adr = self.cfg.start, self.rng, self.points.qpos_adr
        qpos, qvel = self.reference.qpos[frame].copy(), self.reference.qvel[frame].copy()
        qpos[:3] += rng.uniform(-1.0, 1.0, 3) * st.position_noise
        delta = Rotation.from_euler("xyz", rng.uniform(-1.0, 1.0, 3) * st.orientation_noise)
        root = delta * Rotation.from_quat(quat_to_xyzw(qpos[3:7]))
        qpos[3:7] = quat_to_wxyz(root.as_quat())
        qvel[:3] += rng.uniform(-1.0, 1.0, 3) * st.linear_velocity_noise
        qvel[3:6] += root.inv().apply(rng.uniform(-1.0, 1.0, 3) * st.angular_velocity_noise)  # local frame
        if st.joint_position_noise > 0:
            joints = qpos[adr] + rng.uniform(-1.0, 1.0, len(adr)) * st.joint_position_noise
            qpos[adr] = np.clip(joints, self.terms.soft_lower, self.terms.soft_upper)
        return qpos, qvel

    def _randomize_model(self, k: int) -> None:
        rand, model = self.cfg.randomization, self.models[k]
        if not rand.enabled:
            return
        model.geom_friction[:] = self._nominal["geom_friction"]
        model.geom_friction[self._friction_geoms, 0] = self.rng.uniform(*rand.friction)
        anchor = self.points.anchor_body
        nominal = self._nominal["body_mass"][anchor]
        scale = max(0.1, (nominal + self.rng.uniform(*rand.anchor_mass)) / nominal)
        model.body_mass[anchor] = nominal * scale
        model.body_inertia[anchor] = self._nominal["body_inertia"][anchor] * scale
        mujoco.mj_setConst(model, self.datas[k])

    def _push(self, k: int) -> None:
        rand, data, rng = self.cfg.randomization, self.datas[k], self.rng
        data.qvel[:3] += rng.uniform(-1.0, 1.0, 3) * rand.push_linear_velocity
        data.qvel[3:6] += rng.uniform(-1.0, 1.0, 3) * rand.push_angular_velocity
        mujoco.mj_step1(self.models[k], data)  # the pending step must see the new velocity
        self._next_push[k] = self.steps[k] * self.dt + rng.uniform(*rand.push_interval)


def _slices(layout: list[tuple[str, int]]) -> dict[str, slice]:
    out, start = {}, 0
    for name, size in layout:
        out[name] = slice(start, start + size)
        start += size
    return out


def _friction_geoms(model: mujoco.MjModel, feet: tuple[str, str]) -> np.ndarray:
    """The floor and the feet's collision geoms (a contact's friction is the larger of its pair's)."""
    feet_ids = {model.body(f).id for f in feet}
    return np.array(
        [
            g
            for g in range(model.ngeom)
            if model.geom_bodyid[g] == 0
            or (model.geom_bodyid[g] in feet_ids and (model.geom_contype[g] or model.geom_conaffinity[g]))
        ]
    )
