"""`ZmqPolicyServer`: any mimicsim `Policy` behind the Being-H0 / GR00T ZeroMQ wire format.

It answers exactly what Being-H0's released server answers — `ping`, `kill` and the action
endpoint (`get_action` unless configured; also the default when a request names none) taking
`{"image", "state", "task_description"}` and replying an (H, 13) nested list; errors as
`{"error": "..."}` — so a client written for Being-H0 can drive mimicsim's policies, and mimicsim's
`ZmqPolicy` can be tested end to end against a known policy. Two additions a Being-H0 client never
sees: the ping reply carries the policy's metadata (with its control rate), and a `reset` endpoint
starts a new episode. `data` may hold more than Being-H0's three keys: `privileged` reaches a
policy whose metadata asks for it (the scripted experts).

Unlike the released server it decodes requests without unpickling arbitrary objects, binds loopback
unless told otherwise, and checks the API token when it has one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from mimicsim.envs.manipulation.base import CONTROL_HZ
from mimicsim.errors import ConfigError
from mimicsim.policies.manipulation import torch_wire
from mimicsim.policies.manipulation.protocol import (
    DEFAULT_MAX_MESSAGE_BYTES,
    Policy,
    api_key,
    check_actions,
    check_metadata,
)

log = logging.getLogger(__name__)
_POLL_MS = 100  # how often the serving loop looks at its stop flag


class ZmqPolicyServer:
    """Serves one `Policy` on a ZeroMQ REP socket at `tcp://host:port` (port 0: any free port).

    Use `serve_forever()` in a dedicated process (it returns after a `kill` request), or
    `with ZmqPolicyServer(policy) as server:` to serve from a background thread at `server.uri`.
    Requests are answered one at a time; a policy that keeps per-episode state (the scripted
    experts) must be served to one client at a time (`eval --workers 1`).
    """

    def __init__(
        self,
        policy: Policy,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_token: str | None = None,
        endpoint: str = "get_action",
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ):
        import zmq

        self._policy = policy
        self._metadata = check_metadata(policy.metadata())
        self._token = api_key(api_token)
        self._endpoint = endpoint
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.REP)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
        try:
            self._socket.bind(f"tcp://{host}:{port or '*'}")
        except zmq.ZMQError as exc:
            self._socket.close(linger=0)
            self._context.term()
            raise ConfigError(f"cannot serve on tcp://{host}:{port}: {exc}; choose another --host/--port") from None
        self.host, self.port = host, int(self._socket.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[1])

    @property
    def uri(self) -> str:
        return f"zmq://{self.host}:{self.port}"

    def serve_forever(self) -> None:
        """Answer requests until `close()` or a `kill` request."""
        import zmq

        log.info("serving policy %r on %s", self._metadata["name"], self.uri)
        try:
            while not self._stop.is_set():
                if self._socket.poll(_POLL_MS, zmq.POLLIN):
                    self._socket.send(torch_wire.encode(self._reply(self._socket.recv())))
        finally:
            self._socket.close(linger=0)
            self._context.term()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> ZmqPolicyServer:
        self._thread = threading.Thread(target=self.serve_forever, name="zmq-policy-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reply(self, message: bytes) -> Any:
        try:
            request = torch_wire.decode(message)
            if not isinstance(request, dict):
                raise ValueError("a request must be a dict with key 'endpoint'")
            if self._token is not None and request.get("api_token") != self._token:
                return {"error": "Unauthorized: Invalid API token"}
            return self._dispatch(request.get("endpoint", self._endpoint), request.get("data"))
        except Exception as exc:  # the client gets the reason; the server keeps serving
            log.warning("policy request failed: %s", exc, exc_info=not isinstance(exc, (ValueError, TypeError)))
            return {"error": f"{type(exc).__name__}: {exc}"}

    def _dispatch(self, endpoint: Any, data: Any) -> Any:
        if endpoint == "ping":
            return {"status": "ok", "message": "Server is running", "metadata": self._announced()}
        if endpoint == "kill":
            self._stop.set()
            return {"status": "ok", "message": "Server is stopping"}
        if endpoint == "reset":
            self._policy.reset()
            return {"status": "ok"}
        if endpoint == self._endpoint:
            if not isinstance(data, Mapping):
                raise ValueError(f"{endpoint!r} needs 'data': a dict with image, state and task_description")
            result = self._policy.infer(self._observation(data))
            return check_actions(result, self._metadata["action_dim"]).tolist()
        raise ValueError(f"unknown endpoint {endpoint!r}; this server has ping, kill, reset and {self._endpoint}")

    def _announced(self) -> dict[str, Any]:
        return {**self._metadata, "control_hz": CONTROL_HZ}

    def _observation(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The mimicsim observation in a Being-H0 request."""
        if "state" not in data:
            raise ValueError("the observation lacks 'state'")
        obs: dict[str, Any] = {
            "state": np.asarray(data["state"], dtype=np.float32),
            "instruction": str(data.get("task_description", "")),
        }
        cameras = self._metadata["cameras"]
        if cameras:
            if "image" not in data:
                raise ValueError(f"the observation lacks 'image' (the {cameras[0]} camera)")
            obs["image"] = {cameras[0]: np.asarray(data["image"])}
        if self._metadata["privileged"]:
            if not isinstance(data.get("privileged"), Mapping):
                raise ValueError("this policy reads 'privileged' state; the observation lacks it")
            obs["privileged"] = {key: np.asarray(value) for key, value in data["privileged"].items()}
        return obs
