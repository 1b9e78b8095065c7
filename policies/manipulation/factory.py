"""`make_policy`: the policy a name stands for, wherever a policy is taken (`--policy`).

- "expert": the task's scripted expert (`mimicsim.policies.manipulation.experts`);
- "ws://host:port" (or wss://): a model served by `mimicsim.policies.manipulation.remote.PolicyServer`;
- "package.module:factory": a local callable `factory(task) -> Policy`.
"""

from __future__ import annotations

import importlib

from mimicsim.errors import ConfigError
from mimicsim.policies.manipulation.protocol import Policy


def make_policy(spec: str, task: str, *, timeout: float = 30.0) -> Policy:
    """The policy named by `spec` for `task` (see the module docstring for the forms of `spec`)."""
    if spec == "expert":
        from mimicsim.policies.manipulation.experts import make_expert

        return make_expert(task)
    if spec.startswith(("ws://", "wss://")):
        from mimicsim.policies.manipulation.remote import RemotePolicy

        return RemotePolicy(spec, timeout=timeout)
    if ":" in spec and not spec.startswith(":"):
        module, _, name = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"policy {spec!r}: cannot import {name!r} from {module!r} ({exc})") from exc
        return factory(task)
    raise ConfigError(f"unknown policy {spec!r}; use 'expert', 'ws://host:port' or 'package.module:factory'")
