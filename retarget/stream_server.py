"""Streaming retargeting over a websocket: live mocap frames in, robot poses out.

Wire format: the policy server's (`mimicsim.wire`): one binary websocket frame of msgpack per
message, numpy arrays as raw buffers, never pickle. Conversation:

1. On connect the server sends `{"protocol": PROTOCOL, "robot": name, "joint_names": [...]}`.
2. The client sends `{"method": "start", "fps": 30.0, ...}` (options: `up` "z", `units` "m";
   for body-model parameters `model_type` smpl|smplh|smplx, `gender`, `betas`), then one
   `{"method": "frame", "joints": (22, 3)}` or `{"method": "frame", "poses": (>= 66,), "trans":
   (3,)}` per frame, and `{"method": "end"}` to finish the session (a new "start" may follow).
   Each gets one reply: `{"ok": true, "result": ...}` (for a frame: `frame`, `root_pos`,
   `root_quat_wxyz`, `joint_pos`, `contacts`, `solve_ms`) or `{"ok": false, "error": "one line"}`.
   A malformed frame is answered with an error and skipped; the session goes on.
3. `{"method": "health"}` answers `{"status": "ok", ...}`; a plain HTTP `GET /healthz` answers `ok`.

Each connection has its own session. A session ends with "end", a new "start", or the client's
disconnect; with `out` set, it is then written (atomically) as a RobotMotion with its quality
report: the first to `out`, later ones to `out` with `_2`, `_3`... before the suffix.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from mimicsim.assets import RobotSpec, load_robot
from mimicsim.errors import ConfigError, MimicsimError
from mimicsim.retarget.human.formats.body_model import load_body_model
from mimicsim.retarget.retargeter import RetargetConfig
from mimicsim.retarget.stream import FrameInput, RetargetStream
from mimicsim.wire import pack, unpack

PROTOCOL = "mimicsim.retarget_stream/1"
DEFAULT_MAX_MESSAGE_BYTES = 4 * 2**20

log = logging.getLogger(__name__)


def parse_listen(listen: str) -> tuple[str, int]:
    """("127.0.0.1", 8765) from "127.0.0.1:8765"."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"--listen {listen!r}: use HOST:PORT, e.g. 127.0.0.1:8765")
    return host.strip("[]"), int(port)


class StreamServer:
    """Serves streaming retargeting sessions (see the module docstring).

    Use `serve_forever()` in a dedicated process, or `with StreamServer(...) as server:` to serve
    from a background thread at `server.uri`. The default host is loopback."""

    def __init__(
        self,
        robot: str | RobotSpec,
        config: RetargetConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        out: Path | None = None,
        body_models: Path | None = None,
        gender: str | None = None,
        model_type: str | None = None,
        idle_timeout: float = 600.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ):
        from websockets.sync.server import serve

        self.spec = load_robot(robot) if isinstance(robot, str) else robot
        self.config = config if config is not None else RetargetConfig()
        self.out = out
        self.body_models, self.gender, self.model_type = body_models, gender, model_type
        self._idle_timeout = idle_timeout
        self._sessions = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._thread: threading.Thread | None = None
        self.written: list[Path] = []
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
        return f"ws://{self._server.socket.getsockname()[0]}:{self.port}"

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def close(self) -> None:
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> StreamServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="retarget-stream", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _http_health(connection: Any, request: Any) -> Any:
        if request.path == "/healthz":
            return connection.respond(200, "ok\n")
        return None

    def _handle(self, websocket: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        session = _Session(self)
        try:
            websocket.send(
                pack({"protocol": PROTOCOL, "robot": self.spec.name, "joint_names": list(self.spec.joint_names)})
            )
            while True:
                try:
                    data = websocket.recv(timeout=self._idle_timeout)
                except TimeoutError:
                    websocket.close(code=1001, reason=f"idle for {self._idle_timeout} s")
                    return
                websocket.send(session.reply(data))
        except ConnectionClosed:
            return
        finally:
            session.finish()

    def next_output(self) -> Path | None:
        """Where the next finished session is written."""
        if self.out is None:
            return None
        with self._lock:
            self._sessions += 1
            n = self._sessions
        return self.out if n == 1 else self.out.with_name(f"{self.out.stem}_{n}{self.out.suffix}")


class _Session:
    """One connection's conversation: at most one stream at a time."""

    def __init__(self, server: StreamServer):
        self.server = server
        self.stream: RetargetStream | None = None

    def reply(self, data: bytes) -> bytes:
        try:
            return pack({"ok": True, "result": self._dispatch(data)})
        except Exception as exc:  # the client gets the reason on one line; the session goes on
            if not isinstance(exc, (ValueError, TypeError, MimicsimError)):
                log.warning("stream request failed", exc_info=True)
            message = " ".join(str(exc).split())
            return pack({"ok": False, "error": f"{type(exc).__name__}: {message}"})

    def _dispatch(self, data: bytes) -> Any:
        request = unpack(data)
        if not isinstance(request, dict):
            raise ValueError("a request must be a map with key 'method'")
        method = request.get("method")
        if method == "frame":
            if self.stream is None:
                raise ValueError("send 'start' (with the frame rate) before frames")
            frame = request.get("joints", request)
            started = time.perf_counter()
            pose = self.stream.push(frame)
            return {**pose.message(), "solve_ms": 1e3 * (time.perf_counter() - started)}
        if method == "start":
            summary = self.finish()
            self.stream = self._start(request)
            return {"robot": self.server.spec.name, "fps": self.stream.fps, "previous": summary}
        if method == "end":
            return self.finish()
        if method == "health":
            return {"status": "ok", "robot": self.server.spec.name, "uptime_s": time.monotonic() - self.server._started}
        raise ValueError(f"unknown method {method!r}; expected start, frame, end or health")

    def _start(self, request: dict[str, Any]) -> RetargetStream:
        server = self.server
        try:
            fps = float(request.get("fps"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError("'start' needs 'fps', the frame rate frames arrive at") from None
        model = None
        model_type = request.get("model_type") or server.model_type
        if model_type is not None:
            gender = request.get("gender") or server.gender or "neutral"
            model = load_body_model(server.body_models, str(model_type), str(gender))
        source = FrameInput(
            str(request.get("up", "z")),
            request.get("units", "m"),
            model,
            request.get("betas"),
        )
        return RetargetStream(server.spec, server.config, fps, source, record=server.out is not None)

    def finish(self) -> dict[str, Any] | None:
        """End the current stream, writing it when the server keeps sessions; its summary."""
        stream, self.stream = self.stream, None
        if stream is None:
            return None
        summary: dict[str, Any] = {"frames": stream.frames, "path": None}
        if stream.record and stream.frames >= 2:
            from mimicsim.retarget.quality import with_quality
            from mimicsim.retarget.robot_motion import save

            path = self.server.next_output()
            motion = with_quality(stream.motion(), self.server.spec)
            if path is not None:
                save(motion, path)
                self.server.written.append(path)
                summary["path"] = str(path)
            summary["quality"] = {k: v for k, v in motion.quality.items() if isinstance(v, (int, float, bool))}
        return summary


class StreamClient:
    """Talks to a `StreamServer`: `start(fps=...)`, `push(frame)` per frame, `end()`.

    Args:
        uri: ws://host:port.
        timeout: Seconds to wait for each reply.
    """

    def __init__(self, uri: str, *, timeout: float = 10.0):
        from websockets.sync.client import connect

        self.uri, self.timeout = uri, timeout
        self._connection = contextlib.ExitStack()
        try:
            self._ws = self._connection.enter_context(
                connect(uri, open_timeout=timeout, close_timeout=5, compression=None, proxy=None)
            )
        except Exception as exc:  # refused, unresolvable, bad URI, handshake failure, timeout
            raise ConfigError(f"cannot connect to the stream server at {uri}: {type(exc).__name__}: {exc}") from None
        self.hello = self._receive(timeout)
        if not isinstance(self.hello, dict) or self.hello.get("protocol") != PROTOCOL:
            self.close()
            raise ConfigError(f"{uri} does not speak {PROTOCOL}")

    def _receive(self, timeout: float) -> Any:
        frame = self._ws.recv(timeout=timeout)
        if isinstance(frame, str):  # the protocol is binary msgpack only
            raise MimicsimError(f"{self.uri} sent a text frame: {frame[:200]!r}")
        return unpack(frame)

    def call(self, request: dict[str, Any]) -> Any:
        """Send one request; its result, or `MimicsimError` with the server's one-line error."""
        self._ws.send(pack(request))
        reply = self._receive(self.timeout)
        if not isinstance(reply, dict):
            raise MimicsimError(f"{self.uri} answered {type(reply).__name__}, not a reply map")
        if not reply.get("ok"):
            raise MimicsimError(f"{self.uri}: {reply.get('error')}")
        return reply["result"]

    def start(self, fps: float, **options: Any) -> dict[str, Any]:
        return self.call({"method": "start", "fps": fps, **options})

    def push(self, frame: np.ndarray | dict[str, Any]) -> dict[str, Any]:
        message = {"method": "frame", **frame} if isinstance(frame, dict) else {"method": "frame", "joints": frame}
        return self.call(message)

    def end(self) -> dict[str, Any] | None:
        return self.call({"method": "end"})

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> StreamClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
