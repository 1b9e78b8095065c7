"""Configuration of the motion-tracking environment, as composed dataclasses (mjlab-style; tyro
surfaces them on the command line).

Defaults follow BeyondMimic (Liao et al. 2025) as ported to MuJoCo by mjlab: a 50 Hz policy over a
200 Hz simulation, PD targets around the default pose scaled by 0.25 x effort / stiffness per joint,
DeepMimic-style exponential rewards with BeyondMimic's standard deviations, and its termination
thresholds. Everything a trained policy depends on is in `TrackingEnvCfg`, which checkpoints and
ONNX files carry as JSON (`to_dict` / `from_dict`) so a policy always meets the environment it was
trained in.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from mimicsim.errors import ConfigError


@dataclass(frozen=True)
class SimCfg:
    timestep: float = 0.005
    """Physics step (s): 200 Hz."""
    decimation: int = 4
    """Physics steps per policy step: 4 x 5 ms = a 50 Hz policy."""
    integrator: Literal["implicitfast", "euler"] = "implicitfast"
    iterations: int = 10
    """Constraint solver iterations (mjlab's setting; the default 100 buys nothing at 200 Hz)."""
    ls_iterations: int = 20


@dataclass(frozen=True)
class ActionCfg:
    scale_factor: float = 0.25
    """Per-joint action scale = scale_factor x effort limit / stiffness (BeyondMimic's rule)."""
    offset: Literal["default_pose", "reference"] = "default_pose"
    """What actions are added to: the robot's default pose (BeyondMimic), or the reference's joint
    positions at the frame being steered to (a residual policy: learns balance, not the motion)."""


@dataclass(frozen=True)
class ObservationCfg:
    reference_frames: tuple[int, ...] = (1,)
    """Offsets (in policy steps) of the reference frames whose joint positions and velocities the
    policy sees; 1 is the frame the next action steers towards."""
    base_lin_vel: bool = False
    """Also observe the pelvis's linear velocity (in its frame). BeyondMimic's deployable policy
    goes without (a real robot must estimate it); in simulation it speeds learning up."""


@dataclass(frozen=True)
class RewardCfg:
    """Weights and standard deviations of the reward terms; each exponential term is
    weight x exp(-error / std^2), all terms are multiplied by the policy step (s)."""

    anchor_pos_weight: float = 0.5
    anchor_pos_std: float = 0.3
    anchor_ori_weight: float = 0.5
    anchor_ori_std: float = 0.4
    body_pos_weight: float = 1.0
    body_pos_std: float = 0.3
    body_ori_weight: float = 1.0
    body_ori_std: float = 0.4
    body_lin_vel_weight: float = 1.0
    body_lin_vel_std: float = 1.0
    body_ang_vel_weight: float = 1.0
    body_ang_vel_std: float = 3.14
    action_rate_weight: float = -0.1
    joint_limit_weight: float = -10.0
    soft_limit_factor: float = 0.9
    """Joint positions beyond this fraction of the range (about its middle) are penalised."""

    @property
    def max_reward_per_second(self) -> float:
        return (
            self.anchor_pos_weight
            + self.anchor_ori_weight
            + self.body_pos_weight
            + self.body_ori_weight
            + self.body_lin_vel_weight
            + self.body_ang_vel_weight
        )


@dataclass(frozen=True)
class TerminationCfg:
    anchor_height: float = 0.25
    """Terminate when the anchor body's height differs from the reference's by more (m)."""
    anchor_orientation: float = 0.8
    """... or its tilt does (rad: angle between gravity seen from the robot's and the reference's
    anchor; heading is left free, as in BeyondMimic)."""
    end_effector_height: float = 0.25
    """... or a hand's or foot's height does (m)."""


@dataclass(frozen=True)
class StartCfg:
    """Where episodes start: random frames weighted towards where the policy fails (BeyondMimic's
    adaptive sampling), plus noise on the reference's state."""

    random_start: bool = True
    """False: every episode starts at the first frame of a clip (evaluation)."""
    bin_seconds: float = 1.0
    """Failure statistics are kept per bin of this length."""
    failure_ema: float = 0.05
    """Weight of one episode's outcome in a bin's failure rate (an exponential moving average)."""
    uniform_ratio: float = 0.1
    """Probability mass spread evenly over all bins so no part of the clip is forgotten."""
    kernel_size: int = 3
    kernel_decay: float = 0.8
    """A failure also raises the bins just before it (weights decay^k for k bins earlier), so
    episodes start early enough to approach the hard part."""
    position_noise: tuple[float, float, float] = (0.05, 0.05, 0.01)
    """Uniform +- noise on the root position (m)."""
    orientation_noise: tuple[float, float, float] = (0.1, 0.1, 0.2)
    """Uniform +- roll, pitch, yaw noise on the root (rad)."""
    linear_velocity_noise: tuple[float, float, float] = (0.5, 0.5, 0.2)
    angular_velocity_noise: tuple[float, float, float] = (0.52, 0.52, 0.78)
    joint_position_noise: float = 0.1
    """Uniform +- noise on every joint (rad), clipped to the soft limits."""


@dataclass(frozen=True)
class RandomizationCfg:
    """Optional domain randomisation (off by default: refinement wants the nominal robot)."""

    enabled: bool = False
    friction: tuple[float, float] = (0.3, 1.2)
    """Sliding friction of the floor and the feet, drawn per episode."""
    anchor_mass: tuple[float, float] = (-1.0, 2.0)
    """Mass added to the anchor (torso) body per episode (kg)."""
    push_interval: tuple[float, float] = (1.0, 3.0)
    """Seconds between pushes."""
    push_linear_velocity: tuple[float, float, float] = (0.5, 0.5, 0.2)
    """Uniform +- change of the root's velocity by one push (m/s)."""
    push_angular_velocity: tuple[float, float, float] = (0.52, 0.52, 0.78)
    observation_noise: float = 1.0
    """Multiplier of BeyondMimic's per-term observation noise; 0 disables it."""


@dataclass(frozen=True)
class TrackingEnvCfg:
    robot: str = "g1"
    sim: SimCfg = field(default_factory=SimCfg)
    action: ActionCfg = field(default_factory=ActionCfg)
    observation: ObservationCfg = field(default_factory=ObservationCfg)
    reward: RewardCfg = field(default_factory=RewardCfg)
    termination: TerminationCfg = field(default_factory=TerminationCfg)
    start: StartCfg = field(default_factory=StartCfg)
    randomization: RandomizationCfg = field(default_factory=RandomizationCfg)
    episode_seconds: float = 10.0
    """Episodes are truncated after this long, or at the end of their clip."""

    @property
    def policy_dt(self) -> float:
        return self.sim.timestep * self.sim.decimation

    def evaluation(self) -> TrackingEnvCfg:
        """The same environment for judging a policy: whole clips from their first frame, no
        noise, no randomisation, no time limit."""
        return dataclasses.replace(
            self,
            start=dataclasses.replace(
                self.start,
                random_start=False,
                position_noise=(0.0, 0.0, 0.0),
                orientation_noise=(0.0, 0.0, 0.0),
                linear_velocity_noise=(0.0, 0.0, 0.0),
                angular_velocity_noise=(0.0, 0.0, 0.0),
                joint_position_noise=0.0,
            ),
            randomization=dataclasses.replace(self.randomization, enabled=False),
            episode_seconds=float("inf"),
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackingEnvCfg:
        return _from_dict(cls, data)


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a (nested) config dataclass from `dataclasses.asdict` output (e.g. read from JSON,
    where tuples became lists). Unknown keys are an error: they mean a different version wrote it."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{cls.__name__} has no setting(s) {', '.join(sorted(unknown))}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _from_dict(typing.cast(type, hint), value)
        elif typing.get_origin(hint) is tuple or (isinstance(hint, types.GenericAlias) and hint.__origin__ is tuple):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)
