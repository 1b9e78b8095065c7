"""Round-trip cost of one policy request over each transport on loopback, with a policy that does no
work: what the wire adds to a query of a served VLA.

The request is Being-H0-sized with a 448 x 448 RGB image (the model's input size), the 13-D state
and an instruction; the reply a 16 x 13 chunk. `zmq` is the Being-H0 / GR00T wire format
(torch-serialised dicts over ZeroMQ REQ/REP, decoded by the weights-only loader: `ZmqPolicy` against
`ZmqPolicyServer`); `ws` is mimicsim's websocket protocol (msgpack with raw numpy buffers:
`RemotePolicy` against `PolicyServer`). Client and server run in this process, pinned to one core
(`--cpu`), and the transports alternate in rounds so machine noise falls on both.

Run: .venv/bin/python benchmarks/policy_transport.py [--requests 300 --rounds 3 --cpu 0]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mimicsim.policies.manipulation.remote import PolicyServer, RemotePolicy
from mimicsim.policies.manipulation.zmq_policy import ZmqPolicy
from mimicsim.policies.manipulation.zmq_server import ZmqPolicyServer

SIZE = 448


class ZeroPolicy:
    def reset(self) -> None:
        pass

    def infer(self, obs: dict[str, Any]) -> dict[str, np.ndarray]:
        return {"actions": np.zeros((16, 13))}

    def metadata(self) -> dict[str, Any]:
        return {
            "name": "zero",
            "version": "1",
            "action_horizon": 16,
            "action_dim": 13,
            "cameras": ["third_person"],
            "image_size": [SIZE, SIZE],
        }


def observation() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {
        "image": {"third_person": rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)},
        "state": rng.uniform(0, 1, 13).astype(np.float32),
        "instruction": "put the red cube in the blue bowl",
    }


def times_ms(call: Callable[[], object], requests: int) -> np.ndarray:
    for _ in range(10):  # warm-up: connections, allocator, first torch.save
        call()
    out = np.empty(requests)
    for i in range(requests):
        start = time.perf_counter()
        call()
        out[i] = (time.perf_counter() - start) * 1e3
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per transport and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=0, help="core to pin to (-1: no pinning)")
    args = parser.parse_args()
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})
    obs = observation()
    samples: dict[str, list[np.ndarray]] = {"zmq": [], "ws": []}
    with (
        ZmqPolicyServer(ZeroPolicy()) as zmq_server,
        ZmqPolicy(zmq_server.uri, timeout=10) as zmq_client,
        PolicyServer(ZeroPolicy()) as ws_server,
        RemotePolicy(ws_server.uri, timeout=10) as ws_client,
    ):
        clients = {"zmq": zmq_client, "ws": ws_client}
        for _ in range(args.rounds):
            for name, client in clients.items():
                samples[name].append(times_ms(lambda c=client: c.infer(obs), args.requests))
    pinned = f"pinned to core {args.cpu}" if args.cpu >= 0 else "not pinned"
    print(f"round trip per request, {SIZE}x{SIZE} RGB image + 13-D state -> 16x13 chunk, loopback, {pinned}")
    print(f"{'transport':<9} | {'median ms':>9} | {'p90 ms':>7} | {'mean ms':>7} | {'requests/s':>10}")
    print("-" * 55)
    for name, parts in samples.items():
        ms = np.concatenate(parts)
        print(
            f"{name:<9} | {np.median(ms):9.2f} | {np.percentile(ms, 90):7.2f} | {ms.mean():7.2f} | "
            f"{1e3 / ms.mean():10.0f}"
        )


if __name__ == "__main__":
    main()
