"""The websocket policy server and client, on loopback only, with a bounded number of requests."""

import pickle
import socket
import threading
import urllib.request

import msgpack
import numpy as np
import pytest
from fake_task import GoalPolicy
from websockets.sync.client import connect
from websockets.sync.server import serve

from mimicsim.policies.manipulation.protocol import Policy, PolicyError
from mimicsim.policies.manipulation.remote import PolicyServer, RemotePolicy, pack, unpack


def obs(state=None):
    return {
        "image": {"ego": np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)},
        "state": np.linspace(-0.4, 0.4, 13, dtype=np.float32) if state is None else state,
        "instruction": "put the red cube in the blue bowl",
        "privileged": {"goal": np.linspace(0.5, -0.5, 13)},
    }


# ---------------------------------------------------------------------------------------- codec


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.arange(24, dtype=">f8").reshape(2, 3, 4)[:, ::2],  # big-endian and not contiguous
        np.zeros((0, 13)),
        np.array([True, False]),
        np.array(7, dtype=np.int16),
        np.arange(5, dtype=np.uint64),
    ],
)
def test_arrays_round_trip_with_dtype_and_shape(array):
    back = unpack(pack({"a": [array]}))["a"][0]
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    back[...] = 0  # decoded arrays are writable copies


def test_nested_observations_round_trip():
    message = obs()
    back = unpack(pack(message))
    assert back["instruction"] == message["instruction"]
    np.testing.assert_array_equal(back["image"]["ego"], message["image"]["ego"])
    np.testing.assert_array_equal(back["privileged"]["goal"], message["privileged"]["goal"])
    assert unpack(pack({"x": np.float32(1.5), "n": np.int64(3)})) == {"x": 1.5, "n": 3}


def _ext(dtype, shape, buffer):
    return msgpack.packb({"a": msgpack.ExtType(1, msgpack.packb([dtype, shape, buffer]))})


@pytest.mark.parametrize(
    "payload, message",
    [
        (_ext("|O", [1], b"\0" * 8), "refusing array dtype"),
        (_ext("<U4", [1], b"\0" * 16), "refusing array dtype"),
        (_ext("<f4", [3], b"\0" * 8), "does not match"),
        (_ext("<f4", [-1], b""), "malformed array shape"),
        (msgpack.packb(msgpack.ExtType(9, b"")), "unknown msgpack extension"),
    ],
)
def test_malformed_arrays_are_refused(payload, message):
    with pytest.raises(ValueError, match=message):
        unpack(payload)


def test_pickles_and_object_arrays_are_never_accepted():
    with pytest.raises(Exception):
        unpack(pickle.dumps({"actions": np.zeros(3)}))
    with pytest.raises(TypeError, match="dtype object"):
        pack({"a": np.array([{}], dtype=object)})


# ------------------------------------------------------------------------------ server + client


class SlowPolicy(GoalPolicy):
    """Blocks in infer until released (bounded, so the server thread always ends)."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def infer(self, obs):
        self.release.wait(timeout=10)
        return super().infer(obs)


def test_a_remote_policy_behaves_like_the_local_one():
    local = GoalPolicy()
    with PolicyServer(GoalPolicy()) as server, RemotePolicy(server.uri, timeout=10) as remote:
        assert server.uri.startswith("ws://127.0.0.1:")
        assert isinstance(remote, Policy)
        assert remote.metadata() == {**local.metadata(), "privileged": True}
        remote.reset()
        for state in (None, np.zeros(13, np.float32)):
            expected = local.infer(obs(state))["actions"]
            actions = remote.infer(obs(state))["actions"]
            assert actions.dtype == expected.dtype
            np.testing.assert_array_equal(actions, expected)
        health = remote.health()
        assert health["status"] == "ok" and health["policy"] == "goal"
        assert server._policy.resets == 1 and server._policy.calls == 2


def test_http_health_check():
    with PolicyServer(GoalPolicy()) as server:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as response:
            assert response.status == 200 and response.read() == b"ok\n"


def test_policy_errors_reach_the_client_and_the_server_keeps_serving():
    with PolicyServer(GoalPolicy()) as server, RemotePolicy(server.uri, timeout=10) as remote:
        with pytest.raises(PolicyError, match="failed 'infer': KeyError"):
            remote.infer({"state": np.zeros(13)})  # no privileged goal
        assert remote.infer(obs())["actions"].shape == (4, 13)


def test_malformed_requests_get_an_error_reply_not_a_crash():
    with PolicyServer(GoalPolicy()) as server, connect(server.uri, open_timeout=5) as ws:
        assert unpack(ws.recv(timeout=5))["metadata"]["name"] == "goal"  # the handshake
        for request in (pickle.dumps({"method": "reset"}), pack({"method": "fly"}), pack([1, 2])):
            ws.send(request)
            reply = unpack(ws.recv(timeout=5))
            assert reply["ok"] is False and reply["error"]
        ws.send(pack({"method": "health"}))
        assert unpack(ws.recv(timeout=5))["ok"] is True
        assert server._policy.resets == 0  # the pickled reset was never executed


def test_a_slow_reply_times_out_and_closes_the_connection():
    policy = SlowPolicy()
    with PolicyServer(policy) as server:
        remote = RemotePolicy(server.uri, timeout=0.3)
        try:
            with pytest.raises(PolicyError, match=r"did not answer 'infer' within 0.3 s"):
                remote.infer(obs())
            with pytest.raises(PolicyError, match="closed"):
                remote.reset()
        finally:
            policy.release.set()
            remote.close()


def test_an_unreachable_server_is_a_clear_error():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PolicyError, match=f"cannot connect to the policy server at ws://127.0.0.1:{port}"):
        RemotePolicy(f"ws://127.0.0.1:{port}", connect_timeout=2)


def test_a_server_speaking_another_protocol_is_refused():
    def hello(ws):
        ws.send(pack({"protocol": "other/9", "metadata": {}}))
        ws.recv(timeout=5)  # hold the connection until the client leaves

    with serve(hello, "127.0.0.1", 0) as other:
        thread = threading.Thread(target=other.serve_forever, daemon=True)
        thread.start()
        with pytest.raises(PolicyError, match="does not speak mimicsim.policy/1"):
            RemotePolicy(f"ws://127.0.0.1:{other.socket.getsockname()[1]}", connect_timeout=5)
        other.shutdown()
        thread.join(timeout=5)


def test_a_policy_breaking_the_protocol_cannot_be_served():
    class NoHorizon(GoalPolicy):
        def metadata(self):
            return {k: v for k, v in super().metadata().items() if k != "action_horizon"}

    with pytest.raises(PolicyError, match="lacks action_horizon"):
        PolicyServer(NoHorizon())
