"""How mimicsim's task observations reach a policy server written for openpi's websocket client.

An openpi-style server has no method envelope and no mimicsim metadata: on connect it sends one
map of its own metadata (often empty), then answers every observation map with an action map
holding `"actions"` (H x action_dim). What its observation keys are called is the server's choice
(openpi's LIBERO example: `observation/image`, `observation/wrist_image`, `observation/state`,
`prompt`), so `OpenpiMapping` names them, and says what the server's metadata does not: the image
size it wants, its chunk length and its action size.

The mapping is given as the query of the policy URI, e.g.
`ws://gpu-box:8000?images=observation/image:third_person,observation/wrist_image:wrist&action_horizon=10`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import parse_qsl

import numpy as np

from mimicsim.errors import ConfigError
from mimicsim.policies.manipulation.protocol import PolicyError


@dataclass(frozen=True)
class OpenpiMapping:
    """mimicsim observation -> openpi-style request keys, and what the served policy needs.

    Args:
        images: (request key, mimicsim camera) pairs; the cameras are "third_person" and "wrist".
            In a URI: `images=KEY:CAMERA,KEY:CAMERA` (empty for a state-only policy).
        state: Request key of the 13-D state (float32: 7 arm radians, 6 hand closures 0..1).
        prompt: Request key of the task instruction (a string).
        image_size: (height, width) the images are rendered at (uint8 RGB); in a URI `224x224`.
        action_horizon: Actions executed from each reply before asking again (at most; see
            `--replan-steps`). Every reply must hold at least this many.
        action_dim: Size of one action (13 for Franka + Inspire).
    """

    images: tuple[tuple[str, str], ...] = (("observation/image", "third_person"),)
    state: str = "observation/state"
    prompt: str = "prompt"
    image_size: tuple[int, int] = (224, 224)
    action_horizon: int = 10
    action_dim: int = 13

    def __post_init__(self) -> None:
        keys = [key for key, _ in self.images] + [self.state, self.prompt]
        if not all(keys) or len(set(keys)) != len(keys):
            raise ConfigError(f"openpi request keys must be non-empty and distinct, got {keys}")
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ConfigError(f"openpi image_size must be HEIGHTxWIDTH of positive sizes, got {self.image_size}")
        if self.action_horizon < 1 or self.action_dim < 1:
            raise ConfigError("openpi action_horizon and action_dim must be at least 1")

    @classmethod
    def from_query(cls, query: str) -> OpenpiMapping:
        """The mapping from a URI query such as `images=observation/image:wrist&image_size=96x96`;
        options not given keep their defaults."""
        names = [f.name for f in fields(cls)]
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
        except ValueError as exc:
            raise ConfigError(f"policy URI options {query!r} are not KEY=VALUE&... ({exc})") from None
        options: dict[str, Any] = {}
        for name, value in pairs:
            if name not in names:
                raise ConfigError(f"unknown policy URI option {name!r}; valid options: {', '.join(names)}")
            if name in options:
                raise ConfigError(f"policy URI option {name!r} is given twice")
            options[name] = _parse_option(name, value)
        return cls(**options)

    def metadata(self, server_metadata: Mapping[Any, Any], uri: str) -> dict[str, Any]:
        """The policy's metadata in mimicsim's protocol, from this mapping and the server's own
        metadata (its `name` and `version` are used when they are strings)."""
        name, version = server_metadata.get("name"), server_metadata.get("version")
        return {
            "name": name if isinstance(name, str) and name else f"openpi-style server at {uri}",
            "version": version if isinstance(version, str) and version else "unknown",
            "action_horizon": self.action_horizon,
            "action_dim": self.action_dim,
            "cameras": [camera for _, camera in self.images],
            "image_size": list(self.image_size) if self.images else None,
            "protocol": "openpi",
        }

    def request(self, obs: Mapping[str, Any]) -> dict[str, Any]:
        """The request map for a task observation."""
        request: dict[str, Any] = {key: obs["image"][camera] for key, camera in self.images}
        request[self.state] = np.asarray(obs["state"], np.float32)
        request[self.prompt] = str(obs.get("instruction", ""))
        return request

    def result(self, reply: Any, uri: str) -> dict[str, Any]:
        """The server's reply as an `infer` result; `PolicyError` unless it holds a chunk of at
        least `action_horizon` actions (what comes back is checked in full by `check_actions`)."""
        if not isinstance(reply, dict) or "actions" not in reply:
            got = sorted(map(str, reply)) if isinstance(reply, dict) else type(reply).__name__
            raise PolicyError(f"{uri} answered without 'actions' (got {got})")
        actions = np.asarray(reply["actions"])
        if actions.ndim == 2 and len(actions) < self.action_horizon:
            raise PolicyError(
                f"{uri} answered {len(actions)} actions, fewer than action_horizon={self.action_horizon}; "
                f"set action_horizon={len(actions)} in the policy URI"
            )
        return {**reply, "actions": actions}


def _parse_option(name: str, value: str) -> Any:
    if name == "images":
        pairs = []
        for item in filter(None, value.split(",")):
            key, sep, camera = item.rpartition(":")
            if not sep or not key or not camera:
                raise ConfigError(f"policy URI option images={value!r}: each entry must be KEY:CAMERA")
            pairs.append((key, camera))
        return tuple(pairs)
    if name == "image_size":
        match = re.fullmatch(r"(\d+)x(\d+)", value)
        if match is None:
            raise ConfigError(f"policy URI option image_size={value!r} must be HEIGHTxWIDTH, e.g. 224x224")
        return (int(match[1]), int(match[2]))
    if name in ("action_horizon", "action_dim"):
        if not value.isdigit():
            raise ConfigError(f"policy URI option {name}={value!r} must be a positive integer")
        return int(value)
    return value
