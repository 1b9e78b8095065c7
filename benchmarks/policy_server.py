"""Overhead of the remote policy protocols on loopback: what serving a model over a websocket adds
to each query, with a policy that does no work, for mimicsim's `PolicyServer` and for an
openpi-style server (metadata frame, then observation maps answered by action maps, arrays in
openpi's msgpack-numpy maps).

Observations are Being-H0-sized: one or two 224 x 224 RGB cameras, the 13-D state and an
instruction; the reply is a 16 x 13 chunk. Run: .venv/bin/python benchmarks/policy_server.py [--requests 300]
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from collections.abc import Iterator

import numpy as np

from mimicsim.policies.manipulation.remote import PolicyServer, RemotePolicy, pack, unpack
from mimicsim.wire import pack_msgpack_numpy, unpack_msgpack_numpy


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


@contextlib.contextmanager
def openpi_style_server() -> Iterator[str]:
    """An openpi-style server answering every observation with a zero chunk; yields its URI."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.server import serve

    def handle(websocket) -> None:
        websocket.send(pack_msgpack_numpy({}))
        with contextlib.suppress(ConnectionClosed):
            while True:
                unpack_msgpack_numpy(websocket.recv())
                websocket.send(pack_msgpack_numpy({"actions": np.zeros((16, 13), np.float32)}))

    with serve(handle, "127.0.0.1", 0, compression=None, max_size=None) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
        server.shutdown()
        thread.join(timeout=10)


def row(protocol: str, cameras: int, remote: RemotePolicy, requests: int) -> str:
    obs = observation(cameras)
    if protocol == "openpi":
        message = pack_msgpack_numpy({"observation/image": obs["image"]["ego"], "observation/state": obs["state"]})
        codec = per_call_ms(lambda: unpack_msgpack_numpy(pack_msgpack_numpy(obs)), requests)
    else:
        message = pack({"method": "infer", "obs": obs})
        codec = per_call_ms(lambda: unpack(pack({"method": "infer", "obs": obs})), requests)
    trip = per_call_ms(lambda: remote.infer(obs), requests)
    size = len(message) / 1024
    return f"{protocol:>8} | {cameras:>7} | {size:>11.1f} | {codec:>14.3f} | {trip:>13.3f} | {1e3 / trip:>9.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    columns = ["protocol", "cameras", "message KiB", "pack+unpack ms", "round trip ms", "queries/s"]
    header = " | ".join(f"{c:>{w}}" for c, w in zip(columns, (8, 7, 11, 14, 13, 9), strict=True))
    print(header)
    print("-" * len(header))
    with PolicyServer(ZeroPolicy()) as server, openpi_style_server() as openpi_uri:
        with RemotePolicy(server.uri, timeout=10) as remote:
            for cameras in (0, 1, 2):
                print(row("mimicsim", cameras, remote, args.requests))
        with RemotePolicy(f"{openpi_uri}?images=observation/image:ego&action_horizon=16", timeout=10) as remote:
            print(row("openpi", 1, remote, args.requests))


if __name__ == "__main__":
    main()
