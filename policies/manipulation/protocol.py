"""The policy protocol: what every policy (scripted expert, local model, remote server) offers.

Three methods, kept as small and stable as Gymnasium's `Env`:

- `reset()`: forget any per-episode state; called before every episode.
- `infer(obs) -> {"actions": ndarray (H, action_dim)}`: a chunk of H absolute joint targets for the
  observation `{"image": {camera: uint8 (h, w, 3)}, "state": float32 (13,), "instruction": str}`
  (plus `"privileged"` when the metadata asks for it). Extra keys in the result are allowed.
- `metadata() -> dict`: who the policy is and what it needs (see `METADATA_KEYS`).

`check_metadata` and `check_actions` turn a policy that breaks the protocol into a clear
`PolicyError` instead of a shape error deep inside an environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mimicsim.errors import MimicsimError

DEFAULT_MAX_MESSAGE_BYTES = 64 * 2**20
"""Largest message a policy server or client accepts by default, on either transport."""

API_KEY_ENV = "MIMICSIM_API_KEY"
"""Environment variable holding the secret shared by a policy server and its clients (the ws
protocol's `Authorization: Api-Key`, the zmq protocol's `api_token`), read when none is given."""


def api_key(given: str | None) -> str | None:
    """`given`, else the `MIMICSIM_API_KEY` environment variable; None when neither is set."""
    key = os.environ.get(API_KEY_ENV, "") if given is None else given
    return key or None


PROTOCOL = "mimicsim.policy/1"

# Required keys of `Policy.metadata()` and their meaning.
METADATA_KEYS = {
    "name": "str: a human-readable name",
    "version": "str: the policy's (or its weights') version",
    "action_horizon": "int >= 1: H, the number of actions in each chunk",
    "action_dim": "int >= 1: the size of one action (13 for Franka + Inspire)",
    "cameras": "list[str]: cameras the policy reads from obs['image'] (may be empty)",
    "image_size": "[height, width] of those images, or None when no camera is needed",
}
# Optional keys: "privileged" (bool, default False): the policy reads obs["privileged"] (experts).


class PolicyError(MimicsimError):
    """A policy broke the protocol (bad metadata, wrong action shape) or could not answer."""


@runtime_checkable
class Policy(Protocol):
    def reset(self) -> None: ...

    def infer(self, obs: Mapping[str, Any]) -> dict[str, np.ndarray]: ...

    def metadata(self) -> dict[str, Any]: ...


def check_metadata(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a policy's metadata; returns it as a plain dict with `cameras` as a list and
    `privileged` filled in. Raises `PolicyError` naming the first bad key."""
    if not isinstance(meta, Mapping):
        raise PolicyError(f"policy metadata must be a dict, got {type(meta).__name__}")
    missing = [key for key in METADATA_KEYS if key not in meta]
    if missing:
        raise PolicyError(f"policy metadata lacks {', '.join(missing)}; required keys: {', '.join(METADATA_KEYS)}")
    out = dict(meta)
    for key in ("name", "version"):
        if not isinstance(out[key], str) or not out[key]:
            raise PolicyError(f"policy metadata {key!r} must be a non-empty string, got {out[key]!r}")
    for key in ("action_horizon", "action_dim"):
        if isinstance(out[key], bool) or not isinstance(out[key], (int, np.integer)) or out[key] < 1:
            raise PolicyError(f"policy metadata {key!r} must be an integer >= 1, got {out[key]!r}")
        out[key] = int(out[key])
    cameras = out["cameras"]
    if isinstance(cameras, str) or not all(isinstance(c, str) for c in cameras):
        raise PolicyError(f"policy metadata 'cameras' must be a list of camera names, got {cameras!r}")
    out["cameras"] = list(cameras)
    size = out["image_size"]
    if size is not None:
        if len(size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in size):
            raise PolicyError(f"policy metadata 'image_size' must be [height, width] or None, got {size!r}")
        out["image_size"] = [int(v) for v in size]
    elif out["cameras"]:
        raise PolicyError("policy metadata names cameras but its 'image_size' is None")
    out["privileged"] = bool(out.get("privileged", False))
    return out


def check_actions(result: Mapping[str, Any], action_dim: int) -> np.ndarray:
    """The `(H, action_dim)` float64 chunk from an `infer` result; `PolicyError` if malformed.

    H may differ from the advertised horizon (a policy may return fewer actions near the end
    of a plan) but must be at least 1; every value must be finite.
    """
    if not isinstance(result, Mapping) or "actions" not in result:
        raise PolicyError(f"policy.infer must return a dict with key 'actions', got {type(result).__name__}")
    actions = np.asarray(result["actions"])
    if actions.ndim != 2 or actions.shape[0] < 1 or actions.shape[1] != action_dim:
        raise PolicyError(f"policy actions must have shape (H >= 1, {action_dim}), got {actions.shape}")
    if not np.issubdtype(actions.dtype, np.number) or not np.all(np.isfinite(actions)):
        raise PolicyError("policy actions must be finite numbers (got NaN, inf or a non-numeric dtype)")
    return actions.astype(np.float64, copy=False)
