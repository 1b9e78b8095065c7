"""`ZmqPolicy`: a model behind a Being-H0 / GR00T-style ZeroMQ server as a local `Policy`.

The server is a ZeroMQ REP socket; each request is `{"endpoint": NAME, "data": OBS, "api_token":
TOKEN}` in the `torch.save` wire format (`torch_wire`), each reply one object. At connect the client
calls `ping` (the handshake). `get_action` (the name is configurable) gets Being-H0's observation:

- `image`: one RGB camera, uint8 (h, w, 3) (`VlaConfig.camera`, `image_size`);
- `state`: the 13-D Being-H0 vector in the policy's units (`VlaConfig`);
- `task_description`: the instruction;

and answers an (H, 13) chunk as a nested list or an array. The chunk comes back through the same
mapping and is resampled from the policy's rate to the tasks' 20 Hz. The released server answers an
all-zero chunk when its model fails: such a chunk is passed on flagged (`"zero_chunk": True`).

A mimicsim server (`mimicsim serve --protocol zmq`) adds its policy's metadata to the ping reply;
the client then follows it (horizon, cameras, rate) and sends the privileged state in `data` when
that metadata asks for it, and calls the server's `reset` endpoint between episodes.

Every request has a receive timeout. A REQ socket that missed a reply cannot send again, so after a
timeout the socket is rebuilt and the request fails with a `PolicyError` (which ends the episode as
invalid with the reason), never a hang. Replies are decoded without unpickling arbitrary objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from mimicsim.errors import ConfigError
from mimicsim.policies.manipulation import torch_wire
from mimicsim.policies.manipulation.protocol import DEFAULT_MAX_MESSAGE_BYTES, PolicyError, api_key, check_metadata
from mimicsim.policies.manipulation.vla_config import BEING_H0_CONTROL_HZ, VlaConfig, resampled_horizon


def parse_zmq_uri(uri: str) -> tuple[str, int]:
    """(host, port) of "zmq://HOST:PORT"; `ConfigError` when either is missing."""
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "zmq" or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ConfigError(f"policy {uri!r}: expected zmq://HOST:PORT (e.g. zmq://127.0.0.1:5555)")
    return parts.hostname, port


class ZmqPolicy:
    """A `Policy` served by a Being-H0 / GR00T-style ZeroMQ server at `uri` (zmq://host:port).

    Args:
        uri: The server's address.
        config: Units, normalisation, rate, camera and endpoint (`VlaConfig`).
        api_token: Sent with every request; None: the `MIMICSIM_API_KEY` environment variable,
            if set.
        timeout: Seconds to wait for each reply (inference included).
        connect_timeout: Seconds to wait for the `ping` handshake.
    """

    def __init__(
        self,
        uri: str,
        config: VlaConfig | None = None,
        *,
        api_token: str | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ):
        import zmq

        self.uri = uri
        self.config = config or VlaConfig()
        self.timeout = timeout
        self._address = "tcp://{}:{}".format(*parse_zmq_uri(uri))
        self._token = api_key(api_token)
        self._max_message_bytes = max_message_bytes
        self._context = zmq.Context()
        self._socket = self._new_socket()
        try:
            hello = self._call("ping", None, connect_timeout)
            announced = hello.get("metadata") if isinstance(hello, dict) else None
            self._metadata, self._policy_hz = self._describe(announced)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ Policy protocol
    def reset(self) -> None:
        if self._served_by_mimicsim:
            self._call("reset", None, self.timeout)

    def infer(self, obs: Mapping[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "state": self.config.to_policy_state(obs["state"]),
            "task_description": str(obs.get("instruction", "")),
        }
        if self._metadata["cameras"]:
            data["image"] = np.ascontiguousarray(obs["image"][self._metadata["cameras"][0]])
        if self._metadata["privileged"]:
            data["privileged"] = dict(obs["privileged"])
        reply = self._call(self.config.endpoint, data, self.timeout)
        return self.config.chunk_result(reply, self._policy_hz, self._metadata["action_horizon"], self.uri)

    def metadata(self) -> dict[str, Any]:
        return dict(self._metadata)

    def close(self) -> None:
        self._socket.close(linger=0)
        self._context.term()

    def __enter__(self) -> ZmqPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ wire
    def _describe(self, announced: Any) -> tuple[dict[str, Any], float]:
        """The policy's metadata and rate: a mimicsim server's announced ones, else the config's."""
        self._served_by_mimicsim = isinstance(announced, dict)
        if not self._served_by_mimicsim:
            return self.config.metadata(f"being-h0 at {self.uri}", "unknown"), self.config.policy_hz
        meta = check_metadata(announced)
        hz = self.config.control_hz or float(announced.get("control_hz", BEING_H0_CONTROL_HZ))
        meta = {
            **meta,
            "name": f"{meta['name']} at {self.uri}",
            "action_horizon": resampled_horizon(meta["action_horizon"], hz),
            "cameras": meta["cameras"][:1],  # Being-H0's observation holds one image
        }
        return check_metadata(meta), hz

    def _new_socket(self) -> Any:
        import zmq

        socket = self._context.socket(zmq.REQ)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.MAXMSGSIZE, self._max_message_bytes)
        socket.connect(self._address)
        return socket

    def _call(self, endpoint: str, data: Any, timeout: float) -> Any:
        import zmq

        request: dict[str, Any] = {"endpoint": endpoint}
        if data is not None:
            request["data"] = data
        if self._token is not None:
            request["api_token"] = self._token
        try:
            self._socket.setsockopt(zmq.SNDTIMEO, int(timeout * 1000))
            self._socket.send(torch_wire.encode(request))
            ready = self._socket.poll(int(timeout * 1000), zmq.POLLIN)
            if not ready:
                raise TimeoutError
            message = self._socket.recv(zmq.NOBLOCK)
        except (TimeoutError, zmq.ZMQError) as exc:
            # A REQ socket that sent without receiving can never send again: rebuild it, so a late
            # reply to this request is dropped with the old socket instead of pairing with the next.
            self._socket.close(linger=0)
            self._socket = self._new_socket()
            what = f"within {timeout:g} s" if isinstance(exc, TimeoutError) else f"({exc})"
            raise PolicyError(f"{self.uri} did not answer {endpoint!r} {what}; socket rebuilt") from None
        if message == b"ERROR":  # GR00T's server answers a failed request with these bytes
            raise PolicyError(f"{self.uri} failed {endpoint!r} (the server answered ERROR)")
        try:
            reply = torch_wire.decode(message)
        except ValueError as exc:
            raise PolicyError(f"{self.uri} sent an unacceptable reply to {endpoint!r}: {exc}") from None
        if isinstance(reply, dict) and "error" in reply:
            raise PolicyError(f"{self.uri} failed {endpoint!r}: {reply['error']}")
        return reply
