"""`make_policy`: the policy a name stands for, wherever a policy is taken (`--policy`).

- "expert": the task's scripted expert (`mimicsim.policies.manipulation.experts`);
- "ws://host:port" (or wss://): a model served by `mimicsim.policies.manipulation.remote.PolicyServer`
  or any openpi-style websocket server;
- "zmq://host:port": a Being-H0 / GR00T-style ZeroMQ server (`zmq_policy.ZmqPolicy`);
- "being-h0:PATH": a Being-H0 checkpoint run in this process (needs Being-H0's own package);
- "lerobot:PATH": a LeRobot policy saved with `save_pretrained` (needs `lerobot`);
- "package.module:factory": a local callable `factory(task) -> Policy`.

The VLA forms (zmq, being-h0, lerobot) read `policy_config` (a `VlaConfig` JSON file: units,
normalisation, control rate, camera, endpoint); zmq sends `api_token` (default: the
`MIMICSIM_API_KEY` environment variable).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from mimicsim.errors import ConfigError
from mimicsim.policies.manipulation.protocol import Policy

POLICY_FORMS = (
    "'expert', 'ws://host:port', 'zmq://host:port', 'being-h0:PATH', 'lerobot:PATH' or 'package.module:factory'"
)


def make_policy(
    spec: str,
    task: str,
    *,
    timeout: float = 30.0,
    policy_config: str | Path | None = None,
    api_token: str | None = None,
) -> Policy:
    """The policy named by `spec` for `task` (see the module docstring for the forms of `spec`)."""
    if spec == "expert":
        from mimicsim.policies.manipulation.experts import make_expert

        return make_expert(task)
    if spec.startswith(("ws://", "wss://")):
        from mimicsim.policies.manipulation.remote import RemotePolicy

        return RemotePolicy(spec, timeout=timeout, api_key=api_token)
    # The VLA forms are matched before the generic "module:factory", which they would also fit.
    if spec.startswith(("zmq://", "being-h0:", "lerobot:")):
        from mimicsim.policies.manipulation.vla_config import load_vla_config

        config = load_vla_config(policy_config)
        if spec.startswith("zmq://"):
            from mimicsim.policies.manipulation.zmq_policy import ZmqPolicy

            return ZmqPolicy(spec, config, api_token=api_token, timeout=timeout)
        kind, _, path = spec.partition(":")
        if not path:
            raise ConfigError(f"policy {spec!r}: give the checkpoint folder, e.g. {kind}:/path/to/checkpoint")
        if kind == "being-h0":
            from mimicsim.policies.manipulation.being_h0 import BeingH0Policy

            return BeingH0Policy(Path(path), config)
        from mimicsim.policies.manipulation.lerobot_policy import LeRobotPolicy

        return LeRobotPolicy(Path(path), config)
    if ":" in spec and not spec.startswith(":"):
        module, _, name = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"policy {spec!r}: cannot import {name!r} from {module!r} ({exc})") from exc
        return factory(task)
    raise ConfigError(f"unknown policy {spec!r}; use {POLICY_FORMS}")
