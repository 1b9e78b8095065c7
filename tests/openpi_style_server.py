"""A stand-in for a policy server written for openpi's `WebsocketClientPolicy`, built from the public
wire format alone (not from mimicsim's codec, so the tests check interoperability, not symmetry):

- on connect, one binary frame: the server's metadata map;
- then each binary frame from the client is an observation map and is answered by an action map;
- numpy arrays are maps with the bytes keys `__ndarray__`, `data`, `dtype`, `shape`;
- a failing policy is answered with its traceback as a text frame, then the connection is closed
  with code 1011;
- an API key, when set, is required as the header `Authorization: Api-Key KEY` (HTTP 401 otherwise).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve


def encode(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {b"__ndarray__": True, b"data": obj.tobytes(), b"dtype": obj.dtype.str, b"shape": obj.shape}
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    return obj


def decode(obj: dict) -> Any:
    if b"__ndarray__" in obj:
        return np.ndarray(buffer=obj[b"data"], dtype=np.dtype(obj[b"dtype"]), shape=obj[b"shape"])
    if b"__npgeneric__" in obj:
        return np.dtype(obj[b"dtype"]).type(obj[b"data"])
    return obj


def packb(message: Any) -> bytes:
    return msgpack.packb(message, default=encode, use_bin_type=True)


def unpackb(data: bytes) -> Any:
    return msgpack.unpackb(data, object_hook=decode)


class OpenpiStyleServer:
    """Serves `infer(obs) -> dict` on loopback from a background thread; `requests` keeps every
    observation received and `headers` the Authorization header of every connection."""

    def __init__(self, infer: Callable[[dict], dict], metadata: dict | None = None, api_key: str | None = None):
        self.infer, self.metadata, self.api_key = infer, metadata or {}, api_key
        self.requests: list[dict] = []
        self.connections = 0
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None, max_size=None, process_request=self._check)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def uri(self) -> str:
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}"

    def __enter__(self) -> OpenpiStyleServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)

    def _check(self, connection, request):
        if self.api_key is not None and request.headers.get("Authorization") != f"Api-Key {self.api_key}":
            return connection.respond(401, "Unauthorized\n")
        return None

    def _handle(self, websocket) -> None:
        self.connections += 1
        websocket.send(packb(self.metadata))
        while True:
            try:
                obs = unpackb(websocket.recv())
            except ConnectionClosed:
                return
            self.requests.append(obs)
            try:
                action = self.infer(obs)
            except Exception:
                websocket.send(traceback.format_exc())
                websocket.close(code=1011, reason="Internal server error. Traceback included in previous frame.")
                return
            action["server_timing"] = {"infer_ms": 0.1}
            websocket.send(packb(action))
