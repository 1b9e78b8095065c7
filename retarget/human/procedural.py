"""Procedural human motion on the 22-joint SMPL skeleton: walk, turn, wave, squat, jump.

Deterministic and parameterised, for the built-in demo and for tests. `generate` plays a sequence
of lower-body actions (`Walk`, `Turn`, `Stand`, `Squat`, `Jump`, `Wave`) with optional upper-body
overlays (`Wave` at a start time); `demo_clip()` is the main demo's "walk with a turn and a wave".

How it stays human:
- Feet follow a footstep plan. A planted toe does not move at all (zero slip, on the floor at z = 0);
  the heel rises about the toe before push-off; a swinging foot follows a minimum-jerk path with
  ground clearance and lands flat where the pelvis will be at mid-stance.
- The pelvis follows a smooth path (speed ramps at starts and stops, heading eased through turns),
  sways over the stance foot and stays within the legs' reach, which makes it bob: highest at
  mid-stance, lowest in double support (the inverted pendulum of walking).
- Legs are placed by two-bone IK (knees bend forward); the pelvis turns with the stepping leg and
  the thorax counter-rotates; arms swing opposite to the legs.
- Bone lengths are constant, so the clip round-trips exactly through BVH.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from mimicsim.errors import ConfigError
from mimicsim.retarget.human.motion import STATURE_PER_CHAIN, HumanMotion, MotionSource
from mimicsim.retarget.human.skeleton import SMPL_BONE_LENGTHS, SMPL_JOINTS, SMPL_MIRROR, rest_offsets

GRAVITY = 9.81
_J = {name: i for i, name in enumerate(SMPL_JOINTS)}
REFERENCE_HEIGHT = 1.70
"""Speeds, step lengths, depths and distances are given for a body this tall and scale with height."""


# --- parameters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    """Size and proportions. `height` is the stature that `HumanMotion.height` reports."""

    height: float = 1.70
    leg_scale: float = 1.0
    """Leg bones relative to HumanML3D's standard proportions."""
    arm_scale: float = 1.0
    """Arm bones (shoulder to wrist) relative to the standard proportions."""

    def bone_lengths(self) -> np.ndarray:
        """(22,) length of each joint's bone to its parent (0 for the pelvis), left/right symmetric."""
        lengths = np.concatenate([[0.0], SMPL_BONE_LENGTHS])
        lengths = 0.5 * (lengths + lengths[list(SMPL_MIRROR)])
        for name in ("knee", "ankle"):
            for side in ("left", "right"):
                lengths[_J[f"{side}_{name}"]] *= self.leg_scale
        for name in ("elbow", "wrist"):
            for side in ("left", "right"):
                lengths[_J[f"{side}_{name}"]] *= self.arm_scale
        leg = lengths[_J["left_knee"]] + lengths[_J["left_ankle"]]
        trunk = sum(lengths[_J[n]] for n in ("spine1", "spine2", "spine3", "neck", "head"))
        return lengths * self.height / (STATURE_PER_CHAIN * (leg + trunk))


@dataclass(frozen=True)
class Walk:
    """Walk forward, optionally along an arc that turns by `turn` degrees (positive = to the left)."""

    duration: float = 3.0
    speed: float = 1.2
    """m/s for a 1.70 m body (scaled with height)."""
    step_length: float = 0.65
    """Distance the body advances per step (m, for a 1.70 m body)."""
    turn: float = 0.0


@dataclass(frozen=True)
class Turn:
    """Turn in place by stepping, `angle` degrees (positive = to the left)."""

    angle: float = 90.0
    duration: float = 1.6


@dataclass(frozen=True)
class Stand:
    duration: float = 1.0


@dataclass(frozen=True)
class Squat:
    """Squat down and up: the pelvis drops `depth` m (for a 1.70 m body), arms forward for balance."""

    depth: float = 0.35
    duration: float = 2.4


@dataclass(frozen=True)
class Jump:
    """Crouch, jump (the pelvis rises `height` m above its take-off height), land `distance` m ahead."""

    height: float = 0.15
    distance: float = 0.0
    duration: float = 2.0


@dataclass(frozen=True)
class Wave:
    """Wave one hand. In the action sequence the legs stand; as an overlay it plays from `start` (s)
    over whatever the legs do."""

    duration: float = 2.5
    hand: Literal["left", "right"] = "right"
    start: float = 0.0
    frequency: float = 1.8
    """Hand oscillations per second."""


Action = Walk | Turn | Stand | Squat | Jump | Wave


@dataclass(frozen=True)
class _Segment:
    action: Action
    start: float
    end: float


# --- small math -----------------------------------------------------------------------------------


def _smooth(x: np.ndarray) -> np.ndarray:
    """Minimum-jerk ease 0 -> 1 on [0, 1] (zero velocity and acceleration at both ends)."""
    x = np.clip(x, 0.0, 1.0)
    return x**3 * (10 - 15 * x + 6 * x**2)


def _bump(x: np.ndarray, hold: float = 0.3) -> np.ndarray:
    """0 -> 1 -> 0 on [0, 1], holding 1 for the middle `hold` fraction."""
    rise = (1 - hold) / 2
    return _smooth(x / rise) * _smooth((1 - x) / rise)


def _frames(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations: heading `yaw` about +z, then forward lean `pitch` (about the body's left axis)."""
    return Rotation.from_euler("ZY", np.stack([yaw, pitch], axis=1)).as_matrix()


def _apply(rotations: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """(T, 3): each frame's rotation applied to one vector (3,) or to that frame's vector (T, 3)."""
    return np.einsum("tij,j->ti" if vector.ndim == 1 else "tij,tj->ti", rotations, vector)


# --- the generator --------------------------------------------------------------------------------


@dataclass
class _Plan:
    """Per-frame quantities, filled by the actions, from which the skeleton is posed."""

    t: np.ndarray
    root: np.ndarray = field(init=False)  # (T, 2) nominal pelvis path
    heading: np.ndarray = field(init=False)  # (T,) rad, 0 = facing +x
    gait: np.ndarray = field(init=False)  # (T,) walking intensity (1 = 1.2 m/s for 1.70 m)
    toe: np.ndarray = field(init=False)  # (T, 2, 3) left/right toe joints
    foot_yaw: np.ndarray = field(init=False)  # (T, 2)
    foot_pitch: np.ndarray = field(init=False)  # (T, 2) heel raised about the toe (+) or toe up (-), rad
    z_offset: np.ndarray = field(init=False)  # (T,) pelvis height relative to standing
    sway: np.ndarray = field(init=False)  # (T,) pelvis shift to the left (m)
    hips_back: np.ndarray = field(init=False)  # (T,) pelvis shift backwards (m)
    lean: np.ndarray = field(init=False)  # (T,) thorax forward lean (rad)
    pelvis_tilt: np.ndarray = field(init=False)  # (T,) pelvis forward tilt (rad)
    arm_raise: np.ndarray = field(init=False)  # (T,) shoulder flexion of both arms (rad)
    wave: np.ndarray = field(init=False)  # (T, 2) wave weight per hand
    airborne: np.ndarray = field(init=False)  # (T, 2) 0 on the ground .. 1 mid-swing: how free a leg is

    def __post_init__(self) -> None:
        n = len(self.t)
        for name in ("heading", "gait", "z_offset", "sway", "hips_back", "lean", "pelvis_tilt", "arm_raise"):
            setattr(self, name, np.zeros(n))
        self.root, self.foot_yaw, self.foot_pitch, self.wave, self.airborne = (np.zeros((n, 2)) for _ in range(5))
        self.toe = np.zeros((n, 2, 3))


@dataclass(frozen=True)
class _JumpTiming:
    crouch: float  # crouching starts
    push: float  # extension starts
    takeoff: float
    landing: float
    end: float
    forward: np.ndarray  # (2,) horizontal displacement


_CROUCH, _PUSH, _ABSORB = 0.45, 0.22, 0.3  # s


class _Generator:
    def __init__(self, actions: list[Action], overlays: list[Wave], body: Body, fps: float):
        if not actions:
            raise ConfigError("procedural motion needs at least one action")
        if not (np.isfinite(fps) and fps > 0):
            raise ConfigError(f"fps={fps}: must be positive")
        if not 0.5 <= body.height <= 2.5:
            raise ConfigError(f"Body.height={body.height}: a person is 0.5-2.5 m tall")
        self.fps = float(fps)
        self.scale = body.height / REFERENCE_HEIGHT
        self.lengths = body.bone_lengths()
        self.offsets = rest_offsets(tuple(self.lengths[1:]))
        self.segments = self._layout(actions)
        self.overlays = overlays
        self.plan = _Plan(t=np.arange(round(self.segments[-1].end * fps) + 1) / fps)
        foot = self.offsets[_J["left_foot"]]
        self.foot_length = float(np.linalg.norm(foot))
        self.foot_drop = float(np.arcsin(-foot[2] / self.foot_length))  # ankle-to-toe angle below horizontal
        self.toe_out = float(np.arctan2(foot[1], foot[0]))  # toes point outwards
        self.half_width = float(self.offsets[_J["left_hip"], 1] + self.offsets[_J["left_knee"], 1])
        self.toe_ahead = float(foot[0] + self.offsets[_J["left_ankle"], 0] + self.offsets[_J["left_hip"], 0])
        self.wave_frequency = {"left": Wave.frequency, "right": Wave.frequency}
        self.jumps: list[_JumpTiming] = []

    # layout ---------------------------------------------------------------------------------------
    def _layout(self, actions: list[Action]) -> list[_Segment]:
        segments, clock = [], 0.0
        for action in actions:
            if not isinstance(action, (Walk, Turn, Stand, Squat, Jump, Wave)):
                raise ConfigError(f"unknown action {action!r}")
            if not (np.isfinite(action.duration) and action.duration > 0):
                raise ConfigError(f"{type(action).__name__}.duration={action.duration}: must be positive")
            if isinstance(action, Walk) and not (0 < action.speed <= 2.5 and 0 < action.step_length <= 0.95):
                raise ConfigError(f"{action}: speed must be in (0, 2.5] m/s and step_length in (0, 0.95] m")
            if isinstance(action, Squat) and not 0 < action.depth <= 0.5:
                raise ConfigError(f"Squat.depth={action.depth}: use 0-0.5 m")
            if isinstance(action, Jump):
                if not (0 < action.height <= 0.5 and 0 <= action.distance <= 1.2):
                    raise ConfigError(f"{action}: height must be in (0, 0.5] m and distance in [0, 1.2] m")
                needed = _CROUCH + _PUSH + self._flight_time(action) + _ABSORB + 0.3
                if action.duration < needed:
                    raise ConfigError(f"{action}: a jump this high needs duration >= {needed:.2f} s")
            segments.append(_Segment(action, clock, clock + action.duration))
            clock += action.duration
        return segments

    def _flight_time(self, jump: Jump) -> float:
        return 2 * float(np.sqrt(2 * jump.height * self.scale / GRAVITY))

    def _frames_of(self, start: float, end: float) -> np.ndarray:
        t = self.plan.t
        return np.flatnonzero((t >= start - 1e-9) & (t <= end + 1e-9))

    def _segment_at(self, time: float) -> _Segment:
        return next((s for s in self.segments if s.start <= time <= s.end), self.segments[-1])

    def _stepping_runs(self) -> list[list[_Segment]]:
        runs: list[list[_Segment]] = []
        for seg, prev in zip(self.segments, [None, *self.segments[:-1]], strict=True):
            if isinstance(seg.action, (Walk, Turn)):
                if prev is not None and isinstance(prev.action, (Walk, Turn)):
                    runs[-1].append(seg)
                else:
                    runs.append([seg])
        return runs

    # root path ------------------------------------------------------------------------------------
    def _root_path(self) -> None:
        plan, t, dt = self.plan, self.plan.t, 1.0 / self.fps
        for seg in self.segments:  # heading: each turn eased over its segment
            a = seg.action
            angle = a.turn if isinstance(a, Walk) else a.angle if isinstance(a, Turn) else 0.0
            plan.heading += np.radians(angle) * _smooth((t - seg.start) / (seg.end - seg.start))
        speed = np.zeros(len(t))
        for run in self._stepping_runs():  # speed ramps up over the first steps of a run, down over the last
            start, end = run[0].start, run[-1].end
            for seg in run:
                if isinstance(seg.action, Walk):
                    idx = self._frames_of(seg.start, seg.end)
                    step_time = seg.action.step_length / seg.action.speed
                    ramp = np.minimum(t[idx] - start, end - t[idx]) / (1.5 * step_time)
                    speed[idx] = seg.action.speed * self.scale * _smooth(ramp)
        velocity = speed[:, None] * np.stack([np.cos(plan.heading), np.sin(plan.heading)], axis=1)
        plan.root = np.concatenate([[[0.0, 0.0]], np.cumsum(0.5 * (velocity[1:] + velocity[:-1]) * dt, axis=0)])
        plan.gait = gaussian_filter1d(speed / (1.2 * self.scale), sigma=0.1 * self.fps)
        for seg in self.segments:  # jumps carry the pelvis: constant speed in the air, eased on the ground
            if isinstance(seg.action, Jump):
                timing = self._jump_timing(seg)
                self.jumps.append(timing)
                tau = np.clip((t - timing.takeoff) / (timing.landing - timing.takeoff), 0.0, 1.0)
                airborne = (t > timing.takeoff) & (t < timing.landing)
                eased = gaussian_filter1d(tau, sigma=0.04 * self.fps, mode="nearest")
                eased[airborne] = tau[airborne]
                plan.root += eased[:, None] * timing.forward

    def _jump_timing(self, seg: _Segment) -> _JumpTiming:
        a = seg.action
        assert isinstance(a, Jump)
        flight = self._flight_time(a)
        crouch = seg.start + 0.3 * (a.duration - _CROUCH - _PUSH - flight - _ABSORB)
        heading = float(np.interp(crouch, self.plan.t, self.plan.heading))
        forward = a.distance * self.scale * np.array([np.cos(heading), np.sin(heading)])
        takeoff = crouch + _CROUCH + _PUSH
        return _JumpTiming(crouch, crouch + _CROUCH, takeoff, takeoff + flight, seg.end, forward)

    # feet -----------------------------------------------------------------------------------------
    def _neutral_toe(self, root: np.ndarray, heading: float, side: int) -> np.ndarray:
        lateral = self.half_width if side == 0 else -self.half_width
        c, s = np.cos(heading), np.sin(heading)
        ahead = self.toe_ahead
        return np.array([root[0] + c * ahead - s * lateral, root[1] + s * ahead + c * lateral, 0.0])

    def _toe_yaw(self, heading: float, side: int) -> float:
        return heading + (self.toe_out if side == 0 else -self.toe_out)

    def _feet(self) -> None:
        """Feet planted in a neutral stance, then moved by the steps and jumps in time order."""
        plan = self.plan
        for side in (0, 1):
            plan.toe[:, side] = self._neutral_toe(plan.root[0], 0.0, side)
            plan.foot_yaw[:, side] = self._toe_yaw(0.0, side)
        runs = {id(run[0]): run for run in self._stepping_runs()}
        jumps = iter(self.jumps)
        for seg in self.segments:
            if id(seg) in runs:
                self._steps(runs[id(seg)])
            elif isinstance(seg.action, Jump):
                self._jump_feet(next(jumps))

    def _steps(self, run: list[_Segment]) -> None:
        """Alternating steps over a walking/turning run, at each segment's cadence."""
        plan = self.plan
        start, end = run[0].start, run[-1].end
        fine = np.linspace(start, end, 400)
        rate = np.zeros_like(fine)
        for seg in run:
            a = seg.action
            steps_per_second = a.speed / a.step_length if isinstance(a, Walk) else 2.0
            rate[(fine >= seg.start) & (fine <= seg.end)] = steps_per_second
        phase = np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * np.diff(fine))])
        steps = max(2, round(phase[-1]))
        bounds = np.interp(np.arange(steps + 1) * phase[-1] / steps, phase, fine)
        side = 1  # the right foot leads
        for k in range(steps):
            step_time = bounds[k + 1] - bounds[k]
            lift, land = bounds[k] + 0.1 * step_time, bounds[k + 1] - 0.1 * step_time
            next_lift = bounds[k + 2] + 0.1 * step_time if k + 2 < steps else end
            mid_stance = min(0.5 * (land + next_lift), end)
            root = np.array([np.interp(mid_stance, plan.t, plan.root[:, i]) for i in (0, 1)])
            heading = float(np.interp(mid_stance, plan.t, plan.heading))
            action = self._segment_at(bounds[k]).action
            walking = isinstance(action, Walk)
            heel_off = np.radians(
                32.0 * float(np.clip(action.speed / 1.2, 0.3, 1.3)) if isinstance(action, Walk) else 8.0
            )
            self._swing(
                side,
                lift,
                land,
                self._neutral_toe(root, heading, side),
                self._toe_yaw(heading, side),
                heel_off=heel_off,
                clearance=(0.07 if walking else 0.04) * self.scale,
                push=0.55 * step_time,
            )
            # the pelvis sways over the stance foot (the other one) while this foot swings
            idx = self._frames_of(bounds[k], bounds[k + 1])
            towards_stance = -1.0 if side == 0 else 1.0
            phase_in_step = (plan.t[idx] - bounds[k]) / step_time
            plan.sway[idx] += towards_stance * 0.025 * self.scale * np.sin(np.pi * phase_in_step)
            side = 1 - side

    def _swing(
        self,
        side: int,
        lift: float,
        land: float,
        target: np.ndarray,
        target_yaw: float,
        *,
        heel_off: float,
        clearance: float,
        push: float,
    ) -> None:
        """Raise the heel about the planted toe during `push` s before `lift`, swing the toe to `target`
        on a minimum-jerk path, and plant it there for the rest of the clip."""
        plan, t = self.plan, self.plan.t
        i_lift = min(int(np.searchsorted(t, lift)), len(t) - 1)
        start_toe, start_yaw = plan.toe[i_lift, side].copy(), plan.foot_yaw[i_lift, side]
        pre = self._frames_of(lift - push, lift)
        rising = heel_off * _smooth((t[pre] - lift + push) / push)
        plan.foot_pitch[pre, side] = np.maximum(plan.foot_pitch[pre, side], rising)
        swing = np.flatnonzero((t > lift) & (t < land))
        tau = (t[swing] - lift) / (land - lift)
        s = _smooth(tau)
        plan.toe[swing, side, :2] = start_toe[:2] + s[:, None] * (target[:2] - start_toe[:2])
        plan.toe[swing, side, 2] = clearance * 6.75 * tau * (1 - tau) ** 2  # highest early, lands softly
        plan.foot_yaw[swing, side] = start_yaw + s * ((target_yaw - start_yaw + np.pi) % (2 * np.pi) - np.pi)
        # the heel keeps rising after toe-off (the knee folds), then the toes come up for a flat landing
        fold = np.sin(np.pi * np.clip(tau / 0.7, 0.0, 1.0))
        plan.foot_pitch[swing, side] = (
            heel_off * (1 - tau) ** 3 + np.radians(35.0) * fold - np.radians(12.0) * np.sin(np.pi * tau) ** 2 * tau
        )
        plan.airborne[swing, side] = _smooth(tau / 0.15) * _smooth((0.8 - tau) / 0.2)
        after = t >= land
        plan.toe[after, side] = target
        plan.foot_yaw[after, side] = target_yaw
        plan.foot_pitch[after, side] = 0.0

    def _jump_feet(self, jump: _JumpTiming) -> None:
        """On the toes during the push, toes pointed in the air (rising with the pelvis, travelling
        forward), toe-first landing with the heels coming down."""
        plan, t = self.plan, self.plan.t
        idx = self._frames_of(jump.push, jump.takeoff)
        plan.foot_pitch[idx] = np.radians(40.0) * _smooth((t[idx] - jump.push) / _PUSH)[:, None]
        base = plan.toe[min(int(np.searchsorted(t, jump.takeoff)), len(t) - 1)].copy()
        air = np.flatnonzero((t > jump.takeoff) & (t < jump.landing))
        tau = (t[air] - jump.takeoff) / (jump.landing - jump.takeoff)
        plan.toe[air, :, :2] = base[None, :, :2] + _smooth(tau)[:, None, None] * jump.forward
        plan.toe[air, :, 2] = self._rise(jump, t[air])[:, None]
        plan.foot_pitch[air] = np.radians(40.0 - 15.0 * _smooth(tau))[:, None]
        after = t >= jump.landing
        plan.toe[after, :, :2] = base[None, :, :2] + jump.forward
        plan.toe[after, :, 2] = 0.0
        down = self._frames_of(jump.landing, jump.end)
        plan.foot_pitch[down] = np.radians(25.0) * (1 - _smooth((t[down] - jump.landing) / 0.1))[:, None]

    @staticmethod
    def _rise(jump: _JumpTiming, times: np.ndarray) -> np.ndarray:
        """Ballistic height above take-off."""
        flight = jump.landing - jump.takeoff
        dt = times - jump.takeoff
        return GRAVITY * flight / 2 * dt - 0.5 * GRAVITY * dt**2

    # upper-body and whole-body actions ------------------------------------------------------------
    def _squat(self, seg: _Segment) -> None:
        plan, a = self.plan, seg.action
        assert isinstance(a, Squat)
        idx = self._frames_of(seg.start, seg.end)
        b = _bump((plan.t[idx] - seg.start) / seg.action.duration, hold=0.25)
        depth = a.depth * self.scale
        plan.z_offset[idx] -= depth * b
        plan.hips_back[idx] += 0.45 * depth * b
        plan.pelvis_tilt[idx] += np.radians(25.0) * (a.depth / 0.35) * b
        plan.lean[idx] += np.radians(30.0) * (a.depth / 0.35) * b
        plan.arm_raise[idx] += np.radians(75.0) * b

    def _jump_body(self, jump: _JumpTiming) -> None:
        """Crouch with the arms back, swing them up through the push, absorb the landing."""
        plan, t = self.plan, self.plan.t
        dip = 0.12 * self.scale
        idx = self._frames_of(jump.crouch, jump.push)
        down = _smooth((t[idx] - jump.crouch) / _CROUCH)
        plan.z_offset[idx] -= dip * down
        plan.arm_raise[idx] -= np.radians(45.0) * down
        plan.lean[idx] += np.radians(20.0) * down
        idx = self._frames_of(jump.push, jump.landing)
        up = _smooth((t[idx] - jump.push) / _PUSH)
        plan.z_offset[idx] -= dip * (1 - up)
        plan.arm_raise[idx] += np.radians(-45.0 + 145.0 * up)
        plan.lean[idx] += np.radians(20.0) * (1 - up)
        idx = self._frames_of(jump.landing, jump.end)
        since = t[idx] - jump.landing
        absorb = _bump(np.clip(since / (2 * _ABSORB), 0.0, 1.0), hold=0.0)
        plan.z_offset[idx] -= 0.8 * dip * absorb
        plan.lean[idx] += np.radians(15.0) * absorb
        plan.arm_raise[idx] += np.radians(100.0) * (1 - _smooth(since / 0.6))

    def _waves(self) -> None:
        plan = self.plan
        waves = [(seg.action, seg.start) for seg in self.segments if isinstance(seg.action, Wave)]
        waves += [(w, w.start) for w in self.overlays]
        for wave, start in waves:
            if wave.hand not in ("left", "right"):
                raise ConfigError(f"Wave.hand={wave.hand!r}: use 'left' or 'right'")
            ramp = min(0.5, wave.duration / 3)
            since = plan.t - start
            weight = _smooth(since / ramp) * _smooth((wave.duration - since) / ramp)
            k = 0 if wave.hand == "left" else 1
            plan.wave[:, k] = np.maximum(plan.wave[:, k], weight)
            self.wave_frequency[wave.hand] = wave.frequency

    # posing ---------------------------------------------------------------------------------------
    def _toe_local(self) -> tuple[np.ndarray, np.ndarray]:
        """(T, 2) forward and (T, 2) leftward toe coordinates in the heading frame of the root path."""
        plan = self.plan
        rel = plan.toe[..., :2] - plan.root[:, None, :]
        c, s = np.cos(plan.heading)[:, None], np.sin(plan.heading)[:, None]
        return c * rel[..., 0] + s * rel[..., 1], -s * rel[..., 0] + c * rel[..., 1]

    def _ankles(self) -> np.ndarray:
        plan = self.plan
        angle = self.foot_drop + plan.foot_pitch
        direction = np.stack(
            [np.cos(angle) * np.cos(plan.foot_yaw), np.cos(angle) * np.sin(plan.foot_yaw), -np.sin(angle)], axis=-1
        )
        return plan.toe - self.foot_length * direction

    def _reach_caps(
        self, pelvis_xy: np.ndarray, pelvis_rot: np.ndarray, ankles: np.ndarray, ground: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(T,) pelvis heights at which the legs reach their ankles (inf in the air): with the knees
        flexed about 16° (where the pelvis rides, the inverted pendulum of walking), and at most
        (knees never quite straight, so the knee IK stays away from its singularity). A swinging leg
        stops constraining the pelvis in mid-swing (its foot may fall short there)."""
        leg = self.lengths[_J["left_knee"]] + self.lengths[_J["left_ankle"]]
        soft, hard = np.full(len(pelvis_xy), np.inf), np.full(len(pelvis_xy), np.inf)
        for side, hip in enumerate(("left_hip", "right_hip")):
            hip_offset = _apply(pelvis_rot, self.offsets[_J[hip]])
            horizontal = np.linalg.norm(pelvis_xy + hip_offset[:, :2] - ankles[:, side, :2], axis=1)
            if np.any(horizontal[ground & (self.plan.airborne[:, side] == 0)] >= 0.99 * leg):
                raise ConfigError(
                    "a step is too long for this body's legs: shorten step_length or the jump "
                    "distance, or make the body taller"
                )
            base = ankles[:, side, 2] - hip_offset[:, 2] + 0.3 * self.scale * self.plan.airborne[:, side]
            for cap, extension in ((soft, 0.99), (hard, 0.998)):
                leg_cap = base + np.sqrt(np.maximum((extension * leg) ** 2 - horizontal**2, 0.0))
                cap[ground] = np.minimum(cap, leg_cap)[ground]
        return soft, hard

    def _leg_ik(
        self, hip: np.ndarray, ankle: np.ndarray, forward: np.ndarray, side: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Knee, and the ankle moved within reach where it is not (only ever in the air): two-bone IK
        with the knee bending towards `forward`. A reachable ankle is returned bit-exact."""
        upper, lower = self.lengths[_J[f"{side}_knee"]], self.lengths[_J[f"{side}_ankle"]]
        d = ankle - hip
        full = np.linalg.norm(d, axis=1, keepdims=True)
        unit = d / full
        dist = np.clip(full, abs(upper - lower) + 1e-6, upper + lower - 1e-9)
        along = (upper**2 - lower**2 + dist**2) / (2 * dist)
        out = np.sqrt(np.maximum(upper**2 - along**2, 0.0))
        bend = forward - np.sum(forward * unit, axis=1, keepdims=True) * unit
        bend /= np.linalg.norm(bend, axis=1, keepdims=True)
        return hip + unit * along + bend * out, np.where(dist == full, ankle, hip + unit * dist)

    def _arm(
        self, side: str, shoulder: np.ndarray, thorax: np.ndarray, flex: np.ndarray, wave: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Elbow and wrist: a hanging arm flexed forward by `flex`, blended into a wave by `wave` (T,)."""
        sign = 1.0 if side == "left" else -1.0
        abduct = np.radians(8.0)

        def hanging(angle: np.ndarray) -> np.ndarray:  # down, slightly out, swung forward by `angle`
            return np.stack(
                [
                    np.sin(angle) * np.cos(abduct),
                    np.full_like(angle, sign * np.sin(abduct)),
                    -np.cos(angle) * np.cos(abduct),
                ],
                axis=1,
            )

        def blend(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            b = b / np.linalg.norm(b, axis=-1, keepdims=True)
            v = (1 - wave)[:, None] * a + wave[:, None] * b
            return v / np.linalg.norm(v, axis=1, keepdims=True)

        t = self.plan.t
        tilt = np.radians(12.0) + np.radians(22.0) * np.sin(2 * np.pi * self.wave_frequency[side] * t)
        upper = blend(hanging(flex), np.broadcast_to([0.15, sign * 0.75, 0.6], (len(t), 3)))
        fore = blend(
            hanging(flex + np.radians(15.0) + 0.35 * np.maximum(flex, 0.0)),
            np.stack([np.full_like(t, 0.25), sign * np.sin(tilt), np.cos(tilt)], axis=1),
        )
        elbow = shoulder + self.lengths[_J[f"{side}_elbow"]] * _apply(thorax, upper)
        return elbow, elbow + self.lengths[_J[f"{side}_wrist"]] * _apply(thorax, fore)

    def run(self) -> np.ndarray:
        plan, t = self.plan, self.plan.t
        self._root_path()
        self._feet()
        for seg in self.segments:
            if isinstance(seg.action, Squat):
                self._squat(seg)
        for jump in self.jumps:
            self._jump_body(jump)
        self._waves()
        forward_toes, _ = self._toe_local()
        # the pelvis turns with the stepping leg (left foot ahead: left hip forward)
        stride = 0.65 * self.scale
        twist = -np.radians(6.0) * plan.gait * (forward_toes[:, 0] - forward_toes[:, 1]) / stride
        forward = np.stack([np.cos(plan.heading), np.sin(plan.heading)], axis=1)
        left = np.stack([-forward[:, 1], forward[:, 0]], axis=1)
        pelvis_xy = plan.root + plan.sway[:, None] * left - plan.hips_back[:, None] * forward
        pelvis_rot = _frames(plan.heading + twist, plan.pelvis_tilt)
        ankles = self._ankles()
        ground = np.ones(len(t), dtype=bool)
        for jump in self.jumps:
            ground &= ~((t > jump.takeoff) & (t < jump.landing))
        soft, hard = self._reach_caps(pelvis_xy, pelvis_rot, ankles, ground)
        z = soft + plan.z_offset
        takeoff_heights = []
        for jump in self.jumps:  # extend up to take-off height, fly, and come down from it
            i_off = np.flatnonzero(t <= jump.takeoff)[-1]
            takeoff_heights.append(float(hard[i_off]))
            push = self._frames_of(jump.push, jump.takeoff)
            z[push] += (hard[i_off] - soft[push]) * _smooth((t[push] - jump.push) / _PUSH)
            air = (t > jump.takeoff) & (t < jump.landing)
            z[air] = hard[i_off] + self._rise(jump, t[air])
            after = self._frames_of(jump.landing, jump.end)
            z[after] += (hard[i_off] - soft[after]) * (1 - _smooth((t[after] - jump.landing) / 0.25))
        for _ in range(4):  # smooth, staying within the legs' reach
            z = np.minimum(gaussian_filter1d(z, sigma=0.04 * self.fps, mode="nearest"), hard)
        for jump, takeoff_z in zip(self.jumps, takeoff_heights, strict=True):
            air = (t > jump.takeoff) & (t < jump.landing)
            z[air] = takeoff_z + self._rise(jump, t[air])
        return self._pose(pelvis_xy, pelvis_rot, z, ankles, twist, forward_toes)

    def _pose(
        self,
        pelvis_xy: np.ndarray,
        pelvis_rot: np.ndarray,
        z: np.ndarray,
        ankles: np.ndarray,
        twist: np.ndarray,
        forward_toes: np.ndarray,
    ) -> np.ndarray:
        plan, off = self.plan, self.offsets
        n = len(plan.t)
        pos = np.zeros((n, 22, 3))
        pos[:, 0] = np.concatenate([pelvis_xy, z[:, None]], axis=1)
        for name in ("left_hip", "right_hip", "spine1"):  # rigid on the pelvis
            pos[:, _J[name]] = pos[:, 0] + _apply(pelvis_rot, off[_J[name]])
        lean = np.radians(3.0) + np.radians(4.0) * plan.gait + plan.lean
        middle = _frames(plan.heading + 0.3 * twist, 0.5 * (plan.pelvis_tilt + lean))
        thorax = _frames(plan.heading - 0.6 * twist, lean)
        head = _frames(plan.heading - 0.2 * twist, np.radians(4.0) - 0.6 * (lean + plan.pelvis_tilt))
        pos[:, _J["spine2"]] = pos[:, _J["spine1"]] + _apply(middle, off[_J["spine2"]])
        pos[:, _J["spine3"]] = pos[:, _J["spine2"]] + _apply(thorax, off[_J["spine3"]])
        for name in ("neck", "left_collar", "right_collar"):  # rigid on the thorax
            pos[:, _J[name]] = pos[:, _J["spine3"]] + _apply(thorax, off[_J[name]])
        pos[:, _J["head"]] = pos[:, _J["neck"]] + _apply(head, off[_J["head"]])
        swing_per_metre = np.radians(22.0) * plan.gait / (0.65 * self.scale)
        for k, side in enumerate(("left", "right")):
            shoulder = pos[:, _J[f"{side}_collar"]] + _apply(thorax, off[_J[f"{side}_shoulder"]])
            # each arm swings with the opposite leg
            flex = swing_per_metre * (forward_toes[:, 1 - k] - forward_toes[:, k]) / 2 + plan.arm_raise
            elbow, wrist = self._arm(side, shoulder, thorax, flex, plan.wave[:, k])
            yaw = plan.foot_yaw[:, k]
            foot_forward = np.stack([np.cos(yaw), np.sin(yaw), np.zeros(n)], axis=1)
            knee, ankle = self._leg_ik(pos[:, _J[f"{side}_hip"]], ankles[:, k], foot_forward, side)
            reached = np.all(ankle == ankles[:, k], axis=1, keepdims=True)  # planted toes stay bit-exact
            toe = np.where(reached, plan.toe[:, k], ankle + plan.toe[:, k] - ankles[:, k])
            for name, value in (
                ("shoulder", shoulder),
                ("elbow", elbow),
                ("wrist", wrist),
                ("knee", knee),
                ("ankle", ankle),
                ("foot", toe),
            ):
                pos[:, _J[f"{side}_{name}"]] = value
        return pos


def generate(
    actions: list[Action],
    *,
    overlays: list[Wave] | tuple[Wave, ...] = (),
    body: Body = Body(),
    fps: float = 30.0,
    name: str = "procedural",
) -> HumanMotion:
    """A `HumanMotion` playing `actions` one after another, with upper-body `overlays` (waves whose
    `start` is in seconds from the clip's start). The person starts at the origin facing +x."""
    positions = _Generator(list(actions), list(overlays), body, fps).run()
    source = MotionSource(path=None, format=f"procedural:{name}")
    return HumanMotion(positions=positions, fps=float(fps), source=source)


def demo_clip(fps: float = 30.0, body: Body = Body()) -> HumanMotion:
    """The main demo's clip: stand, walk, turn left 90° while walking, walk on, stop, wave (~10 s)."""
    actions: list[Action] = [
        Stand(0.8),
        Walk(duration=2.5),
        Walk(duration=2.4, turn=90.0),
        Walk(duration=2.0),
        Stand(2.3),
    ]
    return generate(actions, overlays=[Wave(start=7.2, duration=2.6)], body=body, fps=fps, name="demo walk-turn-wave")
