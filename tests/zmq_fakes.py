"""Servers and served policies that misbehave, for the ZeroMQ adapter's tests."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import zmq

from mimicsim.policies.manipulation import torch_wire
from mimicsim.policies.manipulation.experts import make_expert


class FakeZmqServer:
    """A ROUTER socket answering like a Being-H0 server: `ping` always; every other request with
    `answer(request)`, or no answer at all when that returns None (a stalled model)."""

    def __init__(self, answer: Callable[[dict[str, Any]], Any]):
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.LINGER, 0)
        port = self._socket.bind_to_random_port("tcp://127.0.0.1")
        self.uri = f"zmq://127.0.0.1:{port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self._socket.poll(50):
                continue
            identity, empty, payload = self._socket.recv_multipart()
            request = torch_wire.decode(payload)  # the test's own client: trusted enough
            self.requests.append(request)
            if request["endpoint"] == "ping":
                reply: Any = torch_wire.encode({"status": "ok", "message": "Server is running"})
            else:
                reply = self.answer(request)
                if reply is None:
                    continue
            self._socket.send_multipart([identity, empty, reply])
        self._socket.close()
        self._context.term()

    def __enter__(self) -> FakeZmqServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def zero_chunk(request: dict[str, Any]) -> bytes:
    """The released server's answer when its model returns nothing."""
    return torch_wire.encode(np.zeros((16, 13), np.float32))


class DyingExpert:
    """The pick-place expert, whose process dies (as if killed) at its `MIMICSIM_TEST_DIE_AT`-th query."""

    def __init__(self) -> None:
        self._expert = make_expert("pick-place")
        self._die_at = int(os.environ["MIMICSIM_TEST_DIE_AT"])
        self._calls = 0

    def reset(self) -> None:
        self._expert.reset()

    def infer(self, obs: dict[str, Any]) -> dict[str, np.ndarray]:
        self._calls += 1
        if self._calls >= self._die_at:
            os._exit(9)
        return self._expert.infer(obs)

    def metadata(self) -> dict[str, Any]:
        return self._expert.metadata()


def dying_expert(task: str) -> DyingExpert:
    return DyingExpert()
