"""What a pretrained VLA expects that its released code leaves open: `VlaConfig`, read from
`--policy-config FILE.json`, and the mapping it defines between the tasks' convention and the
policy's (state and action units, normalisation, control rate).

The tasks speak Being-H0's 13-D vector (`mimicsim.assets.hand_mapping`): 7 Panda radians, then 6
hand closures (0 = open, 1 = closed) in the hardware order, at 20 Hz. A policy may want its hand in
the hardware's 0..1000 integers or in driver radians, normalised inputs and outputs, and chunks at
its own data rate (Being-H0's released data is 30 fps): `to_policy_state` and `to_task_chunk` do
the conversions, `resample_chunk` the change of rate.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mimicsim.assets.hand_mapping import (
    ACTION_DIM,
    ARM_DIM,
    HARDWARE_HAND_ORDER,
    HARDWARE_MAX,
    MUJOCO_HAND_ORDER,
    HardwareConvention,
    being_h0_hand_to_hardware,
    being_h0_to_mujoco,
    hand_radians_to_closure,
    hardware_to_being_h0_hand,
)
from mimicsim.envs.manipulation.base import CONTROL_HZ
from mimicsim.envs.manipulation.scene import CAMERAS
from mimicsim.errors import ConfigError, InputFileError
from mimicsim.policies.manipulation.protocol import PolicyError, check_metadata

HandUnits = Literal["closure", "hardware", "radians"]
# Driver-angle order of the "radians" unit: the hardware order, so only units change between units.
_MJ_FROM_HW = np.array([MUJOCO_HAND_ORDER.index(name) for name in HARDWARE_HAND_ORDER])
_HW_FROM_MJ = np.array([HARDWARE_HAND_ORDER.index(name) for name in MUJOCO_HAND_ORDER])
# Being-H0's released data (convert_zarr_to_lerobotzarr.py) is recorded at 30 fps.
BEING_H0_CONTROL_HZ = 30.0


@dataclass(frozen=True)
class VlaConfig:
    """How to talk to a pretrained VLA. Every field has a documented default; a JSON file given by
    `--policy-config` overrides the fields it names.

    Args:
        hand_units: The policy's hand values: "closure" (0 = open .. 1 = closed, the tasks' own),
            "hardware" (the Inspire's 0..1000 integers; see `hardware_open_value`) or "radians"
            (driver angles); always in the hardware order pinky, ring, middle, index, thumb bend,
            thumb rotation.
        hardware_open_value: With "hardware" units, the value of a fully open joint (1000 for
            Inspire's SDK, 0 for SDKs that count closure).
        state_mean, state_std: When given (13 numbers each), the state is sent as (s - mean) / std.
        action_mean, action_std: When given, the policy's actions are read as a * std + mean.
        control_hz: The rate the policy's chunks are sampled at; None: what the server announces,
            else Being-H0's 30 Hz. Chunks are resampled to the tasks' 20 Hz when it differs.
        action_horizon: Actions per chunk the policy answers with (Being-H0: 16), when the server
            does not announce it.
        camera: The camera sent as `image` (Being-H0 takes one): "third_person" or "wrist".
        image_size: [height, width] of that image (the server resizes to its model's size; 224
            keeps rendering cheap).
        endpoint: The name of the action endpoint (Being-H0: "get_action"; GR00T forks:
            "select_action" or "select_action_chunk").
    """

    hand_units: HandUnits = "closure"
    hardware_open_value: int = HARDWARE_MAX
    state_mean: tuple[float, ...] | None = None
    state_std: tuple[float, ...] | None = None
    action_mean: tuple[float, ...] | None = None
    action_std: tuple[float, ...] | None = None
    control_hz: float | None = None
    action_horizon: int = 16
    camera: str = "third_person"
    image_size: tuple[int, int] = (224, 224)
    endpoint: str = "get_action"

    def __post_init__(self) -> None:
        if self.hand_units not in ("closure", "hardware", "radians"):
            raise ConfigError(f"hand_units must be 'closure', 'hardware' or 'radians', got {self.hand_units!r}")
        HardwareConvention(self.hardware_open_value)
        for name in ("state_mean", "state_std", "action_mean", "action_std"):
            value = getattr(self, name)
            if value is not None and (len(value) != ACTION_DIM or not np.all(np.isfinite(value))):
                raise ConfigError(f"{name} must be {ACTION_DIM} finite numbers, got {value!r}")
        for name in ("state_std", "action_std"):
            value = getattr(self, name)
            if value is not None and np.any(np.asarray(value) <= 0):
                raise ConfigError(f"{name} must be positive, got {value!r}")
        if (self.state_mean is None) != (self.state_std is None) or (self.action_mean is None) != (
            self.action_std is None
        ):
            raise ConfigError("give state_mean with state_std, and action_mean with action_std")
        if self.control_hz is not None and not self.control_hz > 0:
            raise ConfigError(f"control_hz must be positive, got {self.control_hz!r}")
        if self.action_horizon < 1:
            raise ConfigError(f"action_horizon must be >= 1, got {self.action_horizon}")
        if self.camera not in CAMERAS:
            raise ConfigError(f"camera must be one of {', '.join(CAMERAS)}, got {self.camera!r}")
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ConfigError(f"image_size must be [height, width], got {self.image_size!r}")
        if not self.endpoint:
            raise ConfigError("endpoint must be a non-empty name")

    @property
    def policy_hz(self) -> float:
        """The policy's rate when no server announces one."""
        return self.control_hz or BEING_H0_CONTROL_HZ

    def metadata(self, name: str, version: str) -> dict[str, Any]:
        """The protocol metadata of a Being-H0-like policy configured by this: one camera, the
        configured horizon counted in task steps."""
        return check_metadata(
            {
                "name": name,
                "version": version,
                "action_horizon": resampled_horizon(self.action_horizon, self.policy_hz),
                "action_dim": ACTION_DIM,
                "cameras": [self.camera],
                "image_size": list(self.image_size),
            }
        )

    def chunk_result(self, chunk: Any, policy_hz: float, horizon: int, source: str) -> dict[str, Any]:
        """The `infer` result for a chunk the policy answered: task actions, and `zero_chunk` set
        when every value is 0 (what Being-H0's server answers when its model fails). `PolicyError`
        for anything that is not an (H, 13) chunk of at least `horizon` task steps."""
        try:
            array = np.asarray(chunk, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise PolicyError(f"{source} answered no action chunk ({exc})") from None
        if array.ndim != 2 or array.shape[1] != ACTION_DIM or len(array) < 1:
            raise PolicyError(f"{source} answered an action chunk of shape {array.shape}; expected (H, {ACTION_DIM})")
        actions = self.to_task_chunk(array, policy_hz)
        if len(actions) < horizon:
            raise PolicyError(
                f"{source} answered {len(array)} actions, fewer than the {horizon} task steps announced "
                "(set action_horizon in --policy-config)"
            )
        return {"actions": actions, "zero_chunk": not np.any(array)}

    def to_policy_state(self, state: np.ndarray) -> np.ndarray:
        """A task state (13,) in the policy's units, normalised if configured (float32)."""
        state = np.asarray(state, dtype=np.float64)
        out = np.concatenate([state[:ARM_DIM], self._hand_from_closure(state[ARM_DIM:])])
        if self.state_mean is not None and self.state_std is not None:
            out = (out - np.asarray(self.state_mean)) / np.asarray(self.state_std)
        return out.astype(np.float32)

    def to_task_chunk(self, chunk: np.ndarray, policy_hz: float) -> np.ndarray:
        """The policy's chunk (H, 13) as task actions (H', 13) at the tasks' 20 Hz."""
        chunk = np.asarray(chunk, dtype=np.float64)
        if self.action_mean is not None and self.action_std is not None:
            chunk = chunk * np.asarray(self.action_std) + np.asarray(self.action_mean)
        actions = np.concatenate([chunk[:, :ARM_DIM], self._hand_to_closure(chunk[:, ARM_DIM:])], axis=1)
        return resample_chunk(actions, policy_hz, CONTROL_HZ)

    def _hand_from_closure(self, closure: np.ndarray) -> np.ndarray:
        if self.hand_units == "hardware":
            return being_h0_hand_to_hardware(closure, HardwareConvention(self.hardware_open_value)).astype(np.float64)
        if self.hand_units == "radians":
            vector = np.concatenate([np.zeros(ARM_DIM), closure], axis=-1)
            return being_h0_to_mujoco(vector)[..., ARM_DIM:][..., _MJ_FROM_HW]
        return closure

    def _hand_to_closure(self, hand: np.ndarray) -> np.ndarray:
        if self.hand_units == "hardware":
            counts = np.clip(hand, 0, HARDWARE_MAX)  # a model's output may stray past the range
            return hardware_to_being_h0_hand(counts, HardwareConvention(self.hardware_open_value))
        if self.hand_units == "radians":
            return hand_radians_to_closure(hand[..., _HW_FROM_MJ])[..., _MJ_FROM_HW]
        return hand


def resample_chunk(chunk: np.ndarray, from_hz: float, to_hz: float) -> np.ndarray:
    """A chunk of targets sampled at `from_hz` (action i reached at (i + 1) / from_hz) resampled at
    `to_hz` by linear interpolation, over the same span: H * to_hz / from_hz actions (at least 1)."""
    chunk = np.asarray(chunk, dtype=np.float64)
    if np.isclose(from_hz, to_hz):
        return chunk
    count = max(1, int(np.floor(len(chunk) * to_hz / from_hz + 1e-9)))
    position = np.clip((np.arange(1, count + 1) * from_hz / to_hz) - 1.0, 0.0, len(chunk) - 1)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, len(chunk) - 1)
    weight = (position - below)[:, None]
    return (1.0 - weight) * chunk[below] + weight * chunk[above]


def resampled_horizon(horizon: int, from_hz: float) -> int:
    """Actions per task chunk of a policy answering `horizon` actions at `from_hz`."""
    return len(resample_chunk(np.zeros((horizon, 1)), from_hz, CONTROL_HZ))


def import_or_explain(module: str, needed_for: str, hint: str) -> Any:
    """`importlib.import_module(module)`, or a one-line `ConfigError` naming what is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or module
        raise ConfigError(f"{needed_for} needs the Python module {missing!r}, which is not installed; {hint}") from None


def load_vla_config(path: str | Path | None) -> VlaConfig:
    """The `VlaConfig` in a JSON file (an object naming some of its fields); defaults for None."""
    if path is None:
        return VlaConfig()
    path = Path(path)
    try:
        raw: Any = json.loads(path.read_text())
    except OSError as exc:
        raise InputFileError(path, f"cannot read the policy config ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise InputFileError(path, f"not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise InputFileError(path, "a policy config must be a JSON object of VlaConfig fields")
    fields = {f.name for f in dataclasses.fields(VlaConfig)}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise InputFileError(path, f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
    values: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value for key, value in raw.items()}
    try:
        return VlaConfig(**values)
    except (ConfigError, TypeError) as exc:
        raise InputFileError(path, str(exc)) from exc
