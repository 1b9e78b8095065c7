"""Overhead of the remote policy protocol on loopback: what serving a model over a websocket adds
to each query, with a policy that does no work.

Observations are Being-H0-sized: one or two 224 x 224 RGB cameras, the 13-D state and an
instruction; the reply is a 16 x 13 chunk. Run: .venv/bin/python benchmarks/policy_server.py [--requests 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mimicsim.policies.manipulation.remote import PolicyServer, RemotePolicy, pack, unpack


class ZeroPolicy:
    def reset(self) -> None:
        pass

    def infer(self, obs: dict) -> dict[str, np.ndarray]:
        return {"actions": np.zeros((16, 13), np.float32)}

    def metadata(self) -> dict:
        return {
            "name": "zero",
            "version": "1",
            "action_horizon": 16,
            "action_dim": 13,
            "cameras": ["ego", "wrist"],
            "image_size": [224, 224],
        }


def observation(cameras: int) -> dict:
    rng = np.random.default_rng(0)
    names = ["ego", "wrist"][:cameras]
    return {
        "image": {c: rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for c in names},
        "state": rng.standard_normal(13).astype(np.float32),
        "instruction": "put the red cube in the blue bowl",
    }


def per_call_ms(call, repeats: int) -> float:
    call()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    print(f"{'cameras':>7} | {'message KiB':>11} | {'pack+unpack ms':>14} | {'round trip ms':>13} | {'queries/s':>9}")
    print("-" * 68)
    with PolicyServer(ZeroPolicy()) as server, RemotePolicy(server.uri, timeout=10) as remote:
        for cameras in (0, 1, 2):
            obs = observation(cameras)
            message = pack({"method": "infer", "obs": obs})
            codec = per_call_ms(lambda obs=obs: unpack(pack({"method": "infer", "obs": obs})), args.requests)
            trip = per_call_ms(lambda obs=obs: remote.infer(obs), args.requests)
            print(f"{cameras:>7} | {len(message) / 1024:>11.1f} | {codec:>14.3f} | {trip:>13.3f} | {1e3 / trip:>9.0f}")


if __name__ == "__main__":
    main()
