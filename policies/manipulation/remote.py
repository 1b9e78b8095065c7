"""Serve a `Policy` over a websocket, and use one served elsewhere as a local `Policy`.

Wire format: every message is one binary websocket frame holding msgpack. Numpy arrays travel as
raw buffers behind a dtype/shape header (msgpack extension type `_NDARRAY_EXT`); only plain
numeric and bool dtypes are accepted and the buffer length must match the header, so decoding
network input never runs code (no pickle anywhere).

Conversation:

1. On connect the server sends `{"protocol": PROTOCOL, "metadata": {...}}` (the handshake); the
   client refuses a server that speaks another protocol or sends invalid metadata.
2. The client sends requests `{"method": "infer", "obs": {...}}`, `{"method": "reset"}`,
   `{"method": "metadata"}` or `{"method": "health"}`; each gets one reply,
   `{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}`.

Every wait has a bound: the client's connect and each reply (`PolicyError` on expiry; the
connection is then closed, since a late reply would pair with the wrong request), the server's
handshake and idle connections, and websocket pings on both sides to drop dead peers. A plain HTTP
`GET /healthz` on the same port answers `ok` for load balancers and orchestration.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from mimicsim.policies.manipulation.protocol import PROTOCOL, Policy, PolicyError, check_metadata
from mimicsim.wire import pack, unpack

DEFAULT_MAX_MESSAGE_BYTES = 64 * 2**20

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------- server


class PolicyServer:
    """Serves one `Policy` to websocket clients.

    Calls from concurrent clients are serialised by a lock (one policy, one model in memory), so a
    policy that keeps per-episode state should be served to one client at a time.

    Use `serve_forever()` in a dedicated process, or `with PolicyServer(policy) as server:` to serve
    from a background thread (e.g. in tests) at `server.uri`. The default host is loopback; pass
    `host="0.0.0.0"` deliberately to accept connections from other machines.
    """

    def __init__(
        self,
        policy: Policy,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        idle_timeout: float = 600.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ):
        from websockets.sync.server import serve

        self._policy = policy
        self._metadata = check_metadata(policy.metadata())
        self._idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._thread: threading.Thread | None = None
        self._server = serve(
            self._handle,
            host,
            port,
            compression=None,
            max_size=max_message_bytes,
            open_timeout=10,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=5,
            process_request=self._http_health,
        )

    @property
    def port(self) -> int:
        return self._server.socket.getsockname()[1]

    @property
    def uri(self) -> str:
        host = self._server.socket.getsockname()[0]
        return f"ws://{host}:{self.port}"

    def serve_forever(self) -> None:
        log.info("serving policy %r on %s", self._metadata["name"], self.uri)
        self._server.serve_forever()

    def close(self) -> None:
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> PolicyServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="policy-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _http_health(connection: Any, request: Any) -> Any:
        if request.path == "/healthz":
            return connection.respond(200, "ok\n")
        return None  # continue the websocket handshake

    def _handle(self, websocket: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            websocket.send(pack({"protocol": PROTOCOL, "metadata": self._metadata}))
            while True:
                try:
                    data = websocket.recv(timeout=self._idle_timeout)
                except TimeoutError:
                    websocket.close(code=1001, reason=f"idle for {self._idle_timeout} s")
                    return
                websocket.send(self._reply(data))
        except ConnectionClosed:
            return

    def _reply(self, data: bytes) -> bytes:
        try:
            return pack({"ok": True, "result": self._dispatch(data)})
        except Exception as exc:  # the client gets the reason; the server keeps serving
            log.warning("policy request failed: %s", exc, exc_info=not isinstance(exc, (ValueError, TypeError)))
            return pack({"ok": False, "error": f"{type(exc).__name__}: {exc}"})

    def _dispatch(self, data: bytes) -> Any:
        request = unpack(data)
        if not isinstance(request, dict):
            raise ValueError("a request must be a map with key 'method'")
        method = request.get("method")
        if method == "infer":
            if not isinstance(request.get("obs"), dict):
                raise ValueError("'infer' needs an 'obs' map")
            with self._lock:
                result = self._policy.infer(request["obs"])
            if not isinstance(result, Mapping) or "actions" not in result:
                raise PolicyError("the served policy's infer() returned no 'actions'")
            return {key: np.asarray(value) if key == "actions" else value for key, value in result.items()}
        if method == "reset":
            with self._lock:
                self._policy.reset()
            return None
        if method == "metadata":
            return self._metadata
        if method == "health":
            return {"status": "ok", "policy": self._metadata["name"], "uptime_s": time.monotonic() - self._started}
        raise ValueError(f"unknown method {method!r}; expected infer, reset, metadata or health")


# --------------------------------------------------------------------------------------- client


class RemotePolicy:
    """A `Policy` whose calls go to a `PolicyServer` at `uri` (ws://host:port). System HTTP proxies
    are not used: policy servers live on the local network.

    Args:
        uri: The server's address.
        timeout: Seconds to wait for each reply (inference included).
        connect_timeout: Seconds to wait for the connection and the metadata handshake.
        max_message_bytes: Largest message accepted from the server.
    """

    def __init__(
        self,
        uri: str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ):
        from websockets.sync.client import connect

        self.uri = uri
        self.timeout = timeout
        self._connection = contextlib.ExitStack()  # websockets wants its connection used as a context
        try:
            self._ws = self._connection.enter_context(
                connect(
                    uri,
                    open_timeout=connect_timeout,
                    close_timeout=5,
                    compression=None,
                    max_size=max_message_bytes,
                    proxy=None,
                )
            )
        except Exception as exc:  # refused, unresolvable, bad URI, handshake failure, timeout
            raise PolicyError(f"cannot connect to the policy server at {uri}: {type(exc).__name__}: {exc}") from exc
        try:
            hello = self._receive(connect_timeout, "the metadata handshake")
            if not isinstance(hello, dict) or hello.get("protocol") != PROTOCOL:
                got = hello.get("protocol") if isinstance(hello, dict) else hello
                raise PolicyError(f"{uri} does not speak {PROTOCOL} (handshake announced {got!r})")
            self._metadata = check_metadata(hello.get("metadata"))
        except BaseException:
            self.close()
            raise

    def reset(self) -> None:
        self._call({"method": "reset"})

    def infer(self, obs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        return self._call({"method": "infer", "obs": dict(obs)})

    def metadata(self) -> dict[str, Any]:
        return dict(self._metadata)

    def health(self) -> dict[str, Any]:
        """The server's status (`{"status": "ok", "policy": name, "uptime_s": ...}`)."""
        return self._call({"method": "health"})

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> RemotePolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, request: dict[str, Any]) -> Any:
        from websockets.exceptions import ConnectionClosed

        try:
            self._ws.send(pack(request))
        except ConnectionClosed as exc:
            raise PolicyError(f"the connection to {self.uri} is closed ({exc})") from exc
        reply = self._receive(self.timeout, repr(request["method"]))
        if not isinstance(reply, dict) or "ok" not in reply:
            raise PolicyError(f"{self.uri} sent a malformed reply to {request['method']!r}")
        if not reply["ok"]:
            raise PolicyError(f"{self.uri} failed {request['method']!r}: {reply.get('error')}")
        return reply.get("result")

    def _receive(self, timeout: float, what: str) -> Any:
        from websockets.exceptions import ConnectionClosed

        try:
            data = self._ws.recv(timeout=timeout)
        except TimeoutError:
            self.close()
            raise PolicyError(f"{self.uri} did not answer {what} within {timeout} s; connection closed") from None
        except ConnectionClosed as exc:
            raise PolicyError(f"the connection to {self.uri} is closed ({exc})") from exc
        try:
            return unpack(data)
        except Exception as exc:
            self.close()
            raise PolicyError(f"{self.uri} sent an undecodable message for {what}: {exc}") from exc
