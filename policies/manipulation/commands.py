"""CLI verb `serve`: any policy mimicsim can run, served to other processes or machines."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from mimicsim.errors import ConfigError


def serve(
    *,
    policy: str = "expert",
    task: str = "pick-place",
    protocol: Literal["zmq", "ws"] = "zmq",
    host: str = "127.0.0.1",
    port: int = 5555,
    api_key: str | None = None,
    endpoint: str = "get_action",
    policy_config: Path | None = None,
    timeout: float = 30.0,
) -> None:
    """Serve a policy until interrupted: over ZeroMQ in Being-H0's wire format (torch-serialised
    dicts, `ping`, `kill` and the action endpoint) or over mimicsim's websocket protocol.

    Args:
        policy: What to serve: "expert" (the task's scripted expert) or any other --policy form.
        task: The task the policy is made for: pick-place, pour or unfold.
        protocol: "zmq" (Being-H0 / GR00T clients, `--policy zmq://...`) or "ws" (`--policy ws://...`).
        host: Address to bind; 0.0.0.0 accepts other machines.
        port: Port to bind; 0 picks a free one (the address is printed).
        api_key: Refuse clients without this secret (ws: the header `Authorization: Api-Key KEY`;
            zmq: the requests' `api_token`); default: the MIMICSIM_API_KEY environment variable.
        endpoint: zmq: the name of the action endpoint.
        policy_config: The served policy's VlaConfig JSON, when it is itself a VLA.
        timeout: Seconds the served policy may take per request, when it is itself remote.
    """
    from mimicsim.envs.manipulation.registration import TASK_IDS
    from mimicsim.policies.manipulation.factory import make_policy
    from mimicsim.policies.manipulation.remote import PolicyServer
    from mimicsim.policies.manipulation.zmq_server import ZmqPolicyServer

    if task not in TASK_IDS:
        raise ConfigError(f"unknown task {task!r}; valid tasks: {', '.join(TASK_IDS)}")
    served = make_policy(policy, task, timeout=timeout, policy_config=policy_config)
    server: ZmqPolicyServer | PolicyServer
    if protocol == "zmq":
        server = ZmqPolicyServer(served, host, port, api_token=api_key, endpoint=endpoint)
    else:
        server = PolicyServer(served, host, port, api_key=api_key)
    print(f"serving {policy!r} for {task} on {server.uri} (Ctrl-C to stop)", flush=True)
    server.serve_forever()
