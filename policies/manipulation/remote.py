"""Serve a `Policy` over a websocket, and use one served elsewhere as a local `Policy`.

Wire format: every message is one binary websocket frame of msgpack with raw numpy buffers
(`mimicsim.wire`: no pickle anywhere, dtype whitelist, sizes checked before allocation).

Conversation:

1. On connect the server sends `{"protocol": PROTOCOL, "metadata": {...}, "max_message_bytes": N}`
   (the handshake); the client refuses a server that announces another protocol or sends invalid
   metadata, and does not send messages larger than N.
2. The client sends requests `{"method": "infer", "obs": {...}}`, `{"method": "reset"}`,
   `{"method": "metadata"}` or `{"method": "health"}`; each gets one reply,
   `{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}`.

`RemotePolicy` also speaks to servers written for openpi's `WebsocketClientPolicy`: their first
frame is their own metadata map (no `protocol` key), arrays travel in openpi's msgpack-numpy
convention, and each observation map is answered by an action map, with no method envelope; a text
frame is the server's error. How observation keys are named is `OpenpiMapping`'s business.

Access and limits (server): an optional API key, sent by clients as `Authorization: Api-Key KEY`
(openpi's header); a connection limit and a message-size limit; and a per-call timeout on the
policy, so a hung model answers its client with an error, reports unhealthy (`health` and
`GET /healthz`, which answers 503) until a call completes again, and holds no other client longer
than the timeout. Every wait of the client has a bound too: connect, each reply (`PolicyError` on
expiry; the connection is then closed, since a late reply would pair with the wrong request), and
the next `reset()` reconnects a closed connection, so one failure costs one episode.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np

from mimicsim.errors import ConfigError
from mimicsim.policies.manipulation.openpi_mapping import OpenpiMapping
from mimicsim.policies.manipulation.protocol import (
    API_KEY_ENV,
    DEFAULT_MAX_MESSAGE_BYTES,
    PROTOCOL,
    Policy,
    PolicyError,
    check_metadata,
)
from mimicsim.policies.manipulation.protocol import api_key as resolve_api_key
from mimicsim.wire import pack, pack_msgpack_numpy, unpack, unpack_either, unpack_msgpack_numpy

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------- server


class _PolicyCalls:
    """Runs calls into one policy one at a time on a dedicated thread, each waited for at most
    `timeout` seconds, counted from the request (time spent waiting for an earlier call included).

    Python cannot stop a thread, so a call that overruns keeps the policy until it returns; the
    caller gets an error at the timeout all the same, and until the call returns the policy is
    reported stalled (`stall()`), while later calls wait for it, each at most its own timeout.
    """

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._free = threading.Lock()  # held from a call's submission until it returns
        self._state = threading.Lock()  # orders "overran" against "returned"
        self._running_since: float | None = None
        self._overran = False
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        # A daemon thread: a model hung for good must not keep the process from exiting.
        threading.Thread(target=self._work, name="policy-calls", daemon=True).start()

    def run(self, call: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + self.timeout
        if not self._free.acquire(timeout=self.timeout):
            raise PolicyError(f"{what} did not start within {self.timeout} s: {self.stall() or 'the policy is busy'}")
        with self._state:
            self._running_since = time.monotonic()
        future: Future[Any] = Future()
        self._jobs.put((call, future))
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            with self._state:
                # Reported from now on even if the clock has not quite passed `timeout` since the
                # call started, unless the call has returned meanwhile.
                self._overran = not future.done()
            raise PolicyError(f"{what} did not return within the server's call timeout of {self.timeout} s") from None

    def stall(self) -> str | None:
        """Why the policy is unhealthy (a call has run longer than the timeout), or None."""
        with self._state:
            since, overran = self._running_since, self._overran
        if since is None or not (overran or time.monotonic() - since > self.timeout):
            return None
        return f"a policy call has not returned for {time.monotonic() - since:.1f} s (call timeout {self.timeout} s)"

    def close(self) -> None:
        self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            call, future = job
            try:
                future.set_result(call())
            except BaseException as exc:  # handed to the waiting connection thread
                future.set_exception(exc)
            finally:
                with self._state:
                    self._running_since, self._overran = None, False
                self._free.release()


class PolicyServer:
    """Serves one `Policy` to websocket clients.

    Calls from concurrent clients are serialised (one policy, one model in memory), so a policy
    that keeps per-episode state should be served to one client at a time.

    Use `serve_forever()` in a dedicated process, or `with PolicyServer(policy) as server:` to serve
    from a background thread (e.g. in tests) at `server.uri`. The default host is loopback; pass
    `host="0.0.0.0"` deliberately to accept connections from other machines, and then set an API key.

    Args:
        policy: The policy to serve.
        host: Interface to bind.
        port: TCP port (0: any free port; see `port`).
        api_key: Clients must send `Authorization: Api-Key KEY`; None reads `MIMICSIM_API_KEY`
            (unset or empty: no key required). `GET /healthz` needs no key.
        call_timeout: Seconds one `infer` or `reset` may take, waiting for earlier calls included;
            below the clients' own timeout (30 s by default) so that they learn why.
        max_connections: Clients connected at once; one more is refused (HTTP 503).
        idle_timeout: Seconds a connection may stay silent before the server closes it.
        max_message_bytes: Largest message accepted; a larger one closes its connection (1009).
    """

    def __init__(
        self,
        policy: Policy,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        call_timeout: float = 20.0,
        max_connections: int = 16,
        idle_timeout: float = 600.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ):
        from websockets.sync.server import serve

        if not call_timeout > 0 or not idle_timeout > 0:
            raise ConfigError(f"call and idle timeouts must be positive, got {call_timeout} and {idle_timeout}")
        if max_connections < 1:
            raise ConfigError(f"max_connections must be at least 1, got {max_connections}")
        if max_message_bytes < 1024:
            raise ConfigError(f"max_message_bytes must be at least 1024, got {max_message_bytes}")
        self._policy = policy
        self._metadata = check_metadata(policy.metadata())
        self._api_key = resolve_api_key(api_key)
        self._max_connections = max_connections
        self._max_message_bytes = max_message_bytes
        self._idle_timeout = idle_timeout
        self._connections: set[Any] = set()
        self._connections_lock = threading.Lock()
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
            process_request=self._admit,
        )
        self._calls = _PolicyCalls(call_timeout)  # its thread starts once the port is bound

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
        self._calls.close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> PolicyServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="policy-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _admit(self, connection: Any, request: Any) -> Any:
        """HTTP health checks, then the key and the connection limit, before the websocket
        handshake; None lets the handshake go on."""
        from websockets.protocol import State

        if request.path == "/healthz":
            stall = self._calls.stall()
            return (
                connection.respond(200, "ok\n") if stall is None else connection.respond(503, f"unhealthy: {stall}\n")
            )
        if self._api_key is not None:
            sent = request.headers.get_all("Authorization")
            expected = f"Api-Key {self._api_key}".encode()
            if len(sent) != 1 or not hmac.compare_digest(sent[0].encode(), expected):
                return connection.respond(
                    401,
                    f"missing or wrong API key: send the header 'Authorization: Api-Key KEY' "
                    f"(mimicsim clients read {API_KEY_ENV})\n",
                )
        with self._connections_lock:
            self._connections = {c for c in self._connections if c.state is not State.CLOSED}
            if len(self._connections) >= self._max_connections:
                return connection.respond(
                    503, f"too many connections: this server accepts {self._max_connections} at once\n"
                )
            self._connections.add(connection)
        return None

    def _handle(self, websocket: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            hello = {"protocol": PROTOCOL, "metadata": self._metadata, "max_message_bytes": self._max_message_bytes}
            websocket.send(pack(hello))
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
            expected = (ValueError, TypeError, PolicyError)
            log.warning("policy request failed: %s", exc, exc_info=not isinstance(exc, expected))
            return pack({"ok": False, "error": f"{type(exc).__name__}: {exc}"})

    def _dispatch(self, data: bytes) -> Any:
        request = unpack(data)
        if not isinstance(request, dict):
            raise ValueError("a request must be a map with key 'method'")
        method = request.get("method")
        if method == "infer":
            obs = request.get("obs")
            if not isinstance(obs, dict):
                raise ValueError("'infer' needs an 'obs' map")
            result = self._calls.run(lambda: self._policy.infer(obs), "infer")
            if not isinstance(result, Mapping) or "actions" not in result:
                raise PolicyError("the served policy's infer() returned no 'actions'")
            return {key: np.asarray(value) if key == "actions" else value for key, value in result.items()}
        if method == "reset":
            self._calls.run(self._policy.reset, "reset")
            return None
        if method == "metadata":
            return self._metadata
        if method == "health":
            stall = self._calls.stall()
            status = {"status": "ok" if stall is None else "unhealthy", "policy": self._metadata["name"]}
            return {**status, "uptime_s": time.monotonic() - self._started, **({"problem": stall} if stall else {})}
        raise ValueError(f"unknown method {method!r}; expected infer, reset, metadata or health")


# --------------------------------------------------------------------------------------- client


class RemotePolicy:
    """A `Policy` whose calls go to a policy server at `uri` (ws://host:port or wss://): a
    `PolicyServer`, or a server written for openpi's websocket client, told apart by the first
    frame. System HTTP proxies are not used: policy servers live on the local network.

    A failed call (timeout, dropped connection, server error) raises `PolicyError`; when it left the
    connection unusable, the next `reset()` (the next episode) connects again, to a server that must
    serve the same policy.

    Args:
        uri: The server's address. For an openpi-style server its query holds the observation
            mapping (`OpenpiMapping.from_query`), e.g. `ws://host:8000?images=observation/image:wrist`;
            the query is not sent.
        timeout: Seconds to wait for each reply (inference included).
        connect_timeout: Seconds to wait for the connection and the metadata handshake.
        max_message_bytes: Largest message accepted from the server.
        api_key: Sent as `Authorization: Api-Key KEY`; None reads `MIMICSIM_API_KEY` (unset: no key).
        openpi: The observation mapping for an openpi-style server when `uri` has no query
            (default: `OpenpiMapping()`).
    """

    def __init__(
        self,
        uri: str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        api_key: str | None = None,
        openpi: OpenpiMapping | None = None,
    ):
        self.uri, _, query = uri.partition("?")
        if query and openpi is not None:
            raise ConfigError(f"give the openpi mapping either in the policy URI ({uri}) or as an object, not both")
        self._mapping = OpenpiMapping.from_query(query) if query else (openpi or OpenpiMapping())
        self._mapping_given = bool(query) or openpi is not None
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._max_message_bytes = max_message_bytes
        self._api_key = resolve_api_key(api_key)
        self._connection: contextlib.ExitStack | None = None
        self._ws: Any = None
        self._closed_because = ""
        self._openpi = False
        self._server_limit: int | None = None
        self._metadata: dict[str, Any] | None = None
        self._connect()

    @property
    def protocol(self) -> str:
        """The protocol the server speaks: "mimicsim" or "openpi"."""
        return "openpi" if self._openpi else "mimicsim"

    def reset(self) -> None:
        if self._ws is None:
            self._connect()
        if not self._openpi:  # openpi-style servers keep no episode state to reset
            self._call({"method": "reset"})

    def infer(self, obs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if not self._openpi:
            return self._call({"method": "infer", "obs": dict(obs)})
        self._send(pack_msgpack_numpy(self._mapping.request(obs)), "'infer'")
        return self._mapping.result(self._receive(self.timeout, "'infer'"), self.uri)

    def metadata(self) -> dict[str, Any]:
        assert self._metadata is not None  # set by the first connection, or __init__ raised
        return dict(self._metadata)

    def health(self) -> dict[str, Any]:
        """The server's status (`{"status": "ok" or "unhealthy", "policy": name, "uptime_s": ...,
        "problem": ...}`). openpi-style servers have no such method (they answer `GET /healthz`)."""
        if self._openpi:
            raise PolicyError(f"{self.uri} is an openpi-style server, which has no health method; use GET /healthz")
        return self._call({"method": "health"})

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = self._ws = None

    def __enter__(self) -> RemotePolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> None:
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        headers = {"Authorization": f"Api-Key {self._api_key}"} if self._api_key else None
        stack = contextlib.ExitStack()  # websockets wants its connection used as a context
        try:
            self._ws = stack.enter_context(
                connect(
                    self.uri,
                    open_timeout=self.connect_timeout,
                    close_timeout=5,
                    compression=None,
                    max_size=self._max_message_bytes,
                    proxy=None,
                    additional_headers=headers,
                )
            )
        except InvalidStatus as exc:  # the server refused: key, connection limit, not a websocket
            body = exc.response.body.decode("utf-8", "replace").strip() if exc.response.body else ""
            raise PolicyError(
                f"the policy server at {self.uri} refused the connection "
                f"(HTTP {exc.response.status_code}{': ' + body if body else ''})"
            ) from None
        except Exception as exc:  # refused, unresolvable, bad URI, handshake failure, timeout
            raise PolicyError(
                f"cannot connect to the policy server at {self.uri}: {type(exc).__name__}: {exc}"
            ) from exc
        self._connection = stack
        try:
            self._greet(self._receive(self.connect_timeout, "the metadata handshake", decode=unpack_either))
        except BaseException:
            self.close()
            raise

    def _greet(self, hello: Any) -> None:
        """Learn the protocol and the policy from the server's first frame."""
        if not isinstance(hello, dict):
            raise PolicyError(f"{self.uri} sent {type(hello).__name__} as its first frame, not a metadata map")
        if "protocol" in hello:
            if hello["protocol"] != PROTOCOL:
                raise PolicyError(f"{self.uri} does not speak {PROTOCOL} (handshake announced {hello['protocol']!r})")
            if self._mapping_given:
                raise PolicyError(
                    f"{self.uri} is a mimicsim policy server, which takes observations as they are; "
                    "drop the observation mapping (the policy URI's query), meant for openpi-style servers"
                )
            openpi, metadata = False, check_metadata(hello.get("metadata", {}))
            limit = hello.get("max_message_bytes")
            self._server_limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
        else:
            openpi, metadata = True, check_metadata(self._mapping.metadata(hello, self.uri))
        if self._metadata is not None and (openpi, metadata) != (self._openpi, self._metadata):
            raise PolicyError(
                f"{self.uri} now serves another policy ({metadata['name']!r}, {'openpi' if openpi else PROTOCOL}) "
                f"than at the start of the run ({self._metadata['name']!r})"
            )
        self._openpi, self._metadata = openpi, metadata

    def _call(self, request: dict[str, Any]) -> Any:
        what = repr(request["method"])
        self._send(pack(request), what)
        reply = self._receive(self.timeout, what)
        if not isinstance(reply, dict) or "ok" not in reply:
            raise PolicyError(f"{self.uri} sent a malformed reply to {what}")
        if not reply["ok"]:
            raise PolicyError(f"{self.uri} failed {what}: {reply.get('error')}")
        return reply.get("result")

    def _send(self, data: bytes, what: str) -> None:
        from websockets.exceptions import ConnectionClosed

        if self._ws is None:
            raise PolicyError(f"not connected to {self.uri} ({self._closed_because}); the next reset() connects again")
        if self._server_limit is not None and len(data) > self._server_limit:
            raise PolicyError(
                f"the {what} request is {len(data)} bytes, over the server's message limit of "
                f"{self._server_limit} bytes (raise the server's max_message_bytes or send smaller images)"
            )
        try:
            self._ws.send(data)
        except ConnectionClosed as exc:
            self._drop(f"the connection was closed: {exc}")
            raise PolicyError(f"the connection to {self.uri} is closed ({exc})") from exc

    def _receive(self, timeout: float, what: str, decode: Callable[[bytes], Any] | None = None) -> Any:
        from websockets.exceptions import ConnectionClosed

        try:
            data = self._ws.recv(timeout=timeout)
        except TimeoutError:
            self._drop(f"no answer to {what} within {timeout} s")
            raise PolicyError(f"{self.uri} did not answer {what} within {timeout} s; connection closed") from None
        except ConnectionClosed as exc:
            self._drop(f"the connection was closed: {exc}")
            raise PolicyError(f"the connection to {self.uri} is closed ({exc})") from exc
        if isinstance(data, str) and self._openpi:  # openpi-style servers send their traceback as text
            self._drop("the server failed")
            last = data.strip().splitlines()[-1:] or ["(no message)"]
            raise PolicyError(f"{self.uri} failed {what}: {last[0]}")
        try:
            return (decode or (unpack_msgpack_numpy if self._openpi else unpack))(data)
        except Exception as exc:
            self._drop(f"an undecodable message for {what}")
            raise PolicyError(f"{self.uri} sent an undecodable message for {what}: {exc}") from exc

    def _drop(self, because: str) -> None:
        """Close a connection that can no longer pair replies with requests."""
        self._closed_because = because
        self.close()
