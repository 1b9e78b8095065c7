"""The websocket policy server and client, on loopback only, with a bounded number of requests."""

import pickle
import socket
import threading
import time
import urllib.error
import urllib.request

import msgpack
import numpy as np
import pytest
from fake_task import GoalPolicy
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.server import serve

from mimicsim.errors import ConfigError
from mimicsim.policies.manipulation.protocol import Policy, PolicyError
from mimicsim.policies.manipulation.remote import API_KEY_ENV, PolicyServer, RemotePolicy, pack, unpack
from mimicsim.wire import pack_msgpack_numpy, unpack_either, unpack_msgpack_numpy


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


@pytest.mark.parametrize("decode", [unpack, unpack_msgpack_numpy, unpack_either])
def test_corrupted_messages_raise_value_errors_only(decode):
    """Random byte flips and truncations of valid messages in both conventions: whatever a peer
    sends, decoding either succeeds or raises ValueError (which the server answers and the client
    turns into a PolicyError), never another exception."""
    valid = [
        pack({"method": "infer", "obs": obs()}),
        pack_msgpack_numpy({"actions": np.ones((2, 13)), "t": np.float16(1)}),
    ]
    rng = np.random.default_rng(0)
    outcomes = set()
    for i in range(3000):
        message = bytearray(valid[i % 2])
        for at in rng.integers(len(message), size=rng.integers(1, 4)):
            message[at] = rng.integers(256)
        if rng.random() < 0.3:
            message = message[: rng.integers(len(message))]
        try:
            decode(bytes(message))
            outcomes.add("decoded")
        except ValueError:
            outcomes.add("refused")
    assert outcomes == {"decoded", "refused"}


def test_pickles_and_object_arrays_are_never_accepted():
    with pytest.raises(ValueError):  # msgpack reads the pickle as a number followed by junk
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
        assert healthz(server.port) == (200, "ok\n")


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
        with pytest.raises(PolicyError, match=r"does not speak mimicsim\.policy/1"):
            RemotePolicy(f"ws://127.0.0.1:{other.socket.getsockname()[1]}", connect_timeout=5)
        other.shutdown()
        thread.join(timeout=5)


def test_a_policy_breaking_the_protocol_cannot_be_served():
    class NoHorizon(GoalPolicy):
        def metadata(self):
            return {k: v for k, v in super().metadata().items() if k != "action_horizon"}

    with pytest.raises(PolicyError, match="lacks action_horizon"):
        PolicyServer(NoHorizon())


# ------------------------------------------------------------------- access, limits, hung policies


def healthz(port):
    """(status, body) of GET /healthz."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def eventually(condition, tries=100):
    """Poll `condition` (a server noticing a closed connection takes a moment)."""
    for _ in range(tries):
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_hung_infer_answers_with_an_error_and_reports_unhealthy_until_a_call_completes():
    policy = SlowPolicy()
    with PolicyServer(policy, call_timeout=0.3) as server:
        try:
            with RemotePolicy(server.uri, timeout=10) as first, RemotePolicy(server.uri, timeout=10) as other:
                # The server's timeout answers, long before the client's own 10 s.
                with pytest.raises(
                    PolicyError, match=r"infer did not return within the server's call timeout of 0\.3 s"
                ):
                    first.infer(obs())
                status, body = healthz(server.port)
                assert status == 503 and body.startswith("unhealthy: a policy call has not returned for")
                health = other.health()
                assert health["status"] == "unhealthy" and "call timeout 0.3 s" in health["problem"]
                # Another client waits at most the timeout for the hung call, then hears why.
                with pytest.raises(PolicyError, match=r"infer did not start within 0\.3 s: a policy call has not"):
                    other.infer(obs())
                policy.release.set()  # the hung call returns: healthy again, and both clients go on
                assert eventually(lambda: healthz(server.port) == (200, "ok\n"))
                assert other.health()["status"] == "ok" and "problem" not in other.health()
                assert first.infer(obs())["actions"].shape == (4, 13)
                assert other.infer(obs())["actions"].shape == (4, 13)
        finally:
            policy.release.set()


def test_with_an_api_key_a_client_without_it_is_refused(monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    with PolicyServer(GoalPolicy(), api_key="s3cret") as server:
        for key in (None, "wrong"):
            with pytest.raises(PolicyError, match=r"refused the connection \(HTTP 401: missing or wrong API key"):
                RemotePolicy(server.uri, api_key=key, connect_timeout=5)
        with RemotePolicy(server.uri, api_key="s3cret") as remote:
            assert remote.infer(obs())["actions"].shape == (4, 13)
        assert healthz(server.port) == (200, "ok\n")  # load balancers need no key
    # Both sides read the key from the environment when none is given.
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    with PolicyServer(GoalPolicy()) as server:
        with RemotePolicy(server.uri) as remote:
            assert remote.health()["status"] == "ok"
        with pytest.raises(PolicyError, match="HTTP 401"):
            RemotePolicy(server.uri, api_key="", connect_timeout=5)  # an explicit empty key sends none


def test_connections_beyond_the_limit_are_refused():
    with PolicyServer(GoalPolicy(), max_connections=1) as server:
        first = RemotePolicy(server.uri)
        with pytest.raises(PolicyError, match=r"HTTP 503: too many connections: this server accepts 1 at once"):
            RemotePolicy(server.uri, connect_timeout=5)
        first.close()

        def connects():
            try:
                RemotePolicy(server.uri, connect_timeout=5).close()
                return True
            except PolicyError:
                return False

        assert eventually(connects)  # the slot is free again


def test_messages_beyond_the_size_limit_are_refused():
    big = obs()
    big["image"] = {"ego": np.zeros((64, 64, 3), np.uint8)}  # 12 KB
    with PolicyServer(GoalPolicy(), max_message_bytes=4096) as server:
        with RemotePolicy(server.uri) as remote:
            with pytest.raises(PolicyError, match="over the server's message limit of 4096 bytes"):
                remote.infer(big)
            assert remote.infer(obs())["actions"].shape == (4, 13)  # refused before sending: still connected
        with connect(server.uri, open_timeout=5) as ws:  # a client that ignores the announced limit
            assert unpack(ws.recv(timeout=5))["max_message_bytes"] == 4096
            ws.send(pack({"method": "infer", "obs": big}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd.code == 1009 and "exceeds limit of 4096 bytes" in closed.value.rcvd.reason


def test_the_next_reset_reconnects_after_a_timeout_or_a_dropped_connection():
    policy = SlowPolicy()
    with PolicyServer(policy, idle_timeout=0.3) as server, RemotePolicy(server.uri, timeout=0.2) as remote:
        with pytest.raises(PolicyError, match=r"did not answer 'infer' within 0\.2 s"):
            remote.infer(obs())
        with pytest.raises(PolicyError, match=r"not connected .* the next reset\(\) connects again"):
            remote.infer(obs())
        policy.release.set()
        remote.timeout = 10
        remote.reset()  # a new connection; the policy is free again
        assert remote.infer(obs())["actions"].shape == (4, 13)
        time.sleep(1.0)  # the server closes the idle connection after 0.3 s
        with pytest.raises(PolicyError, match="closed"):
            remote.infer(obs())
        remote.reset()
        assert remote.infer(obs())["actions"].shape == (4, 13)
        assert policy.resets == 2


def test_a_reconnect_to_a_server_serving_another_policy_is_refused():
    class Other(GoalPolicy):
        def metadata(self):
            return {**super().metadata(), "name": "other"}

    with PolicyServer(GoalPolicy()) as server:
        remote = RemotePolicy(server.uri)
        port = server.port
    remote.close()
    with PolicyServer(Other(), port=port), pytest.raises(PolicyError, match=r"now serves another policy \('other'"):
        remote.reset()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_connections": 0}, "max_connections must be at least 1"),
        ({"call_timeout": 0}, "timeouts must be positive"),
        ({"max_message_bytes": 10}, "max_message_bytes must be at least 1024"),
    ],
)
def test_bad_server_limits_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        PolicyServer(GoalPolicy(), **kwargs)
