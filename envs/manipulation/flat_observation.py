"""`FlatObservation`: the manipulation tasks' observation as one flat dict of arrays, the form
stable-baselines3's vector environments accept (no nested dicts, no text spaces).

`{"image": {camera: ...}, "privileged": {key: ...}}` become `"image.<camera>"` and
`"privileged.<key>"`; the instruction becomes `"instruction"`, its UTF-8 bytes zero-padded to a
fixed length. `unflatten_observation` gives back the nested observation a `Policy` reads, for one
environment's slice of a batch or for a single observation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

INSTRUCTION_BYTES = 256
_NESTED = ("image", "privileged")


class FlatObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Flattens a manipulation task's observation (see the module docstring)."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        source = env.observation_space
        if not isinstance(source, spaces.Dict):
            raise ValueError(f"FlatObservation needs a Dict observation space, got {source}")
        flat: dict[str, spaces.Space] = {}
        for key, space in source.spaces.items():
            if key in _NESTED and isinstance(space, spaces.Dict):
                flat.update({f"{key}.{name}": inner for name, inner in space.spaces.items()})
            elif key == "instruction":
                flat[key] = spaces.Box(0, 255, (INSTRUCTION_BYTES,), np.uint8)
            else:
                flat[key] = space
        self.observation_space = spaces.Dict(flat)

    def observation(self, observation: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in observation.items():
            if key in _NESTED and isinstance(value, Mapping):
                out.update({f"{key}.{name}": inner for name, inner in value.items()})
            elif key == "instruction":
                out[key] = _encode_text(str(value))
            else:
                out[key] = value
        return out


def unflatten_observation(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The nested observation in a flat one (`FlatObservation`'s inverse); a nested observation
    passes through unchanged."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        group, dot, name = key.partition(".")
        if dot and group in _NESTED:
            out.setdefault(group, {})[name] = value
        elif key == "instruction" and not isinstance(value, str):
            out[key] = bytes(np.asarray(value, dtype=np.uint8)).rstrip(b"\0").decode("utf-8", errors="replace")
        else:
            out[key] = value
    return out


def _encode_text(text: str) -> np.ndarray:
    data = text.encode("utf-8")[:INSTRUCTION_BYTES]
    out = np.zeros(INSTRUCTION_BYTES, np.uint8)
    out[: len(data)] = np.frombuffer(data, np.uint8)
    return out
