"""The Being-H0 / GR00T ZeroMQ adapter and the stand-in server, on loopback only."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from fake_task import ENV_ID, GoalPolicy
from zmq_fakes import FakeZmqServer, zero_chunk

from mimicsim.cli import main as cli_main
from mimicsim.envs.manipulation.chunking import ActionChunking
from mimicsim.errors import ConfigError, InputFileError
from mimicsim.eval.episodes import run_episode
from mimicsim.policies.manipulation import torch_wire
from mimicsim.policies.manipulation.experts import make_expert
from mimicsim.policies.manipulation.factory import make_policy
from mimicsim.policies.manipulation.protocol import PolicyError, check_metadata
from mimicsim.policies.manipulation.remote import RemotePolicy
from mimicsim.policies.manipulation.zmq_policy import ZmqPolicy, parse_zmq_uri
from mimicsim.policies.manipulation.zmq_server import ZmqPolicyServer

TESTS = Path(__file__).resolve().parent


def episode(policy, seed: int = 0, horizon: int = 16, privileged: bool = False):
    """One episode of the fake task; its camera plays the zmq policy's default one."""
    cameras = () if privileged else ("ego",)
    env = gym.make(ENV_ID, cameras=cameras, render_every=horizon, privileged=privileged)
    if not privileged:
        rename = {"ego": "third_person"}
        env = gym.wrappers.TransformObservation(
            env, lambda obs: {**obs, "image": {rename[c]: im for c, im in obs["image"].items()}}, None
        )
    return run_episode(ActionChunking(env, horizon), policy, task="fake", index=0, seed=seed, action_dim=13)


# ------------------------------------------------------------------------------------- wire


def test_the_wire_round_trips_numpy_and_refuses_code_and_object_arrays(tmp_path):
    message = {"image": np.arange(12, dtype=np.uint8).reshape(2, 2, 3), "state": np.float32([1.5]), "s": "x"}
    back = torch_wire.decode(torch_wire.encode(message))
    assert back["s"] == "x" and back["image"].dtype == np.uint8
    np.testing.assert_array_equal(back["image"], message["image"])
    # What Being-H0's own server reads (it unpickles everything): a NumPy image, whatever its size.
    image = np.random.default_rng(0).integers(0, 256, (448, 448, 3), dtype=np.uint8)
    for peer in (torch_wire.decode, lambda data: torch.load(io.BytesIO(data), weights_only=False)):
        got = peer(torch_wire.encode({"image": image}))["image"]
        assert isinstance(got, np.ndarray) and got.dtype == np.uint8
        np.testing.assert_array_equal(got, image)
    target = tmp_path / "created"

    class Evil:
        def __reduce__(self):
            return (open, (str(target), "w"))

    with pytest.raises(ValueError, match=r"names (io|builtins)\.open"):
        torch_wire.decode(torch_wire.encode({"x": Evil()}))
    with pytest.raises(ValueError, match="refused"):
        torch_wire.decode(torch_wire.encode(np.array([1, "a"], dtype=object)))
    with pytest.raises(ValueError, match="refused"):
        torch_wire.decode(b"not a torch file")
    assert not target.exists()


def test_replies_pickled_under_numpy_1_names_decode():
    # A server on NumPy 1.x (Being-H0's released environment) pickles arrays as numpy.core.*.
    source = zipfile.ZipFile(io.BytesIO(torch_wire.encode(np.zeros((16, 13), np.float32))))
    legacy = io.BytesIO()
    with zipfile.ZipFile(legacy, "w", zipfile.ZIP_STORED) as out:
        for info in source.infolist():
            payload = source.read(info.filename)
            if info.filename.endswith("data.pkl"):
                assert b"numpy._core.multiarray" in payload
                payload = payload.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            out.writestr(info.filename, payload)
    back = torch_wire.decode(legacy.getvalue())
    assert back.dtype == np.float32 and back.shape == (16, 13) and not back.any()


@pytest.mark.parametrize("uri", ["zmq://host", "zmq://:5555", "zmq://h:5555/x", "zmq://h:port"])
def test_bad_zmq_uris_are_config_errors(uri):
    with pytest.raises(ConfigError, match="zmq://HOST:PORT"):
        parse_zmq_uri(uri)


# ------------------------------------------------------------------------------ stand-in server


class EchoPolicy:
    """Answers H copies of the state, reading one camera: what a Being-H0 client can drive."""

    def __init__(self) -> None:
        self.seen: list[dict] = []

    def reset(self) -> None:
        pass

    def infer(self, obs):
        self.seen.append(obs)
        return {"actions": np.tile(obs["state"], (16, 1))}

    def metadata(self):
        meta = {"name": "echo", "version": "1", "action_horizon": 16, "action_dim": 13}
        return {**meta, "cameras": ["third_person"], "image_size": [4, 4]}


def test_a_being_h0_client_drives_the_stand_in_server():
    import zmq

    policy = EchoPolicy()
    server = ZmqPolicyServer(policy)
    with server, zmq.Context() as context, context.socket(zmq.REQ) as socket:
        socket.connect(f"tcp://127.0.0.1:{server.port}")
        # Being-H0's client: no api_token, and the endpoint may be left to the server's default.
        data = {"image": np.zeros((4, 4, 3), np.uint8), "state": np.arange(13.0), "task_description": "go"}
        socket.send(torch_wire.encode({"data": data}))
        chunk = torch_wire.decode(socket.recv())
        assert isinstance(chunk, list) and np.array_equal(chunk, np.tile(np.arange(13.0), (16, 1)))
        assert policy.seen[0]["instruction"] == "go" and policy.seen[0]["image"]["third_person"].shape == (4, 4, 3)
        socket.send(torch_wire.encode({"endpoint": "get_action", "data": {"state": np.zeros(13)}}))
        assert "lacks 'image'" in torch_wire.decode(socket.recv())["error"]
        socket.send(torch_wire.encode({"endpoint": "kill"}))
        assert torch_wire.decode(socket.recv())["status"] == "ok"
        server._thread.join(timeout=5)  # the serving thread ends after `kill`
        assert not server._thread.is_alive()


def test_a_busy_port_is_a_config_error():
    with ZmqPolicyServer(GoalPolicy()) as server, pytest.raises(ConfigError, match="cannot serve on"):
        ZmqPolicyServer(GoalPolicy(), port=server.port)


def test_requests_follow_being_h0s_format_and_the_chunk_comes_back():
    reply = np.linspace(0, 1, 16 * 13).reshape(16, 13)
    with FakeZmqServer(lambda request: torch_wire.encode(reply.tolist())) as server:
        policy = ZmqPolicy(server.uri, api_token="secret")
        meta = policy.metadata()
        # No metadata announced: Being-H0's defaults, 16 actions at 30 Hz -> 10 at the tasks' 20 Hz.
        assert meta["action_horizon"] == 10 and meta["cameras"] == ["third_person"] and not meta["privileged"]
        obs = {
            "image": {"third_person": np.zeros((4, 4, 3), np.uint8)},
            "state": np.arange(13, dtype=np.float32) / 13,
            "instruction": "pick it up",
        }
        result = policy.infer(obs)
        policy.close()
    ping, request = server.requests
    assert ping == {"endpoint": "ping", "api_token": "secret"}
    assert request["endpoint"] == "get_action" and request["api_token"] == "secret"
    assert sorted(request["data"]) == ["image", "state", "task_description"]
    assert request["data"]["task_description"] == "pick it up" and request["data"]["state"].dtype == np.float32
    np.testing.assert_array_equal(request["data"]["state"], obs["state"])
    # Action i of the policy is reached at (i + 1) / 30 s; task action j at (j + 1) / 20 s.
    np.testing.assert_allclose(result["actions"][0], 0.5 * (reply[0] + reply[1]))
    np.testing.assert_allclose(result["actions"][1], reply[2])
    assert result["actions"].shape == (10, 13) and not result["zero_chunk"]


def test_the_token_comes_from_the_environment_and_the_server_checks_it(monkeypatch):
    with ZmqPolicyServer(GoalPolicy(), api_token="right") as server:
        monkeypatch.setenv("MIMICSIM_API_KEY", "wrong")
        with pytest.raises(PolicyError, match="Unauthorized"):
            ZmqPolicy(server.uri)
        monkeypatch.setenv("MIMICSIM_API_KEY", "right")
        with ZmqPolicy(server.uri) as policy:
            assert policy.metadata()["name"] == f"goal at {server.uri}"


def test_the_stand_in_server_gives_the_in_process_policys_episodes():
    with ZmqPolicyServer(GoalPolicy(horizon=4)) as server, ZmqPolicy(server.uri) as remote:
        assert remote.metadata()["action_horizon"] == 4 and remote.metadata()["privileged"]
        for seed in range(3):
            local = episode(GoalPolicy(horizon=4), seed, horizon=4, privileged=True)
            assert episode(remote, seed, horizon=4, privileged=True) == local and local.success


def test_a_malicious_reply_runs_no_code_and_makes_the_episode_invalid(tmp_path):
    target = tmp_path / "created-by-the-server"

    class Evil:
        def __reduce__(self):
            return (open, (str(target), "w"))

    server = FakeZmqServer(lambda request: torch_wire.encode({"actions": Evil()}))
    with server, ZmqPolicy(server.uri) as policy:
        record = episode(policy)
    assert record.invalid and not record.success
    assert "unacceptable reply" in record.reason and "open, which is not a NumPy array" in record.reason
    assert not target.exists()


def test_a_stalled_server_makes_episodes_invalid_within_the_timeout_and_the_run_goes_on():
    with FakeZmqServer(lambda request: None) as server, ZmqPolicy(server.uri, timeout=0.3) as policy:
        records = [episode(policy, seed) for seed in range(2)]
    assert all(r.invalid and "did not answer 'get_action' within 0.3 s; socket rebuilt" in r.reason for r in records)
    assert [r.queries for r in records] == [0, 0]
    # The rebuilt socket sent the second episode's request: the server saw both.
    assert [r["endpoint"] for r in server.requests] == ["ping", "get_action", "get_action"]


def test_all_zero_chunks_are_flagged_in_the_episode_record():
    with FakeZmqServer(zero_chunk) as server, ZmqPolicy(server.uri) as policy:
        record = episode(policy, horizon=10)
    assert record.queries > 0 and record.zero_chunks == record.queries


def test_errors_and_bad_chunks_from_the_server_are_policy_errors():
    answers = iter([torch_wire.encode({"error": "model exploded"}), torch_wire.encode([[1.0, 2.0]]), b"ERROR"])
    with FakeZmqServer(lambda request: next(answers)) as server, ZmqPolicy(server.uri) as policy:
        obs = {"image": {"third_person": np.zeros((2, 2, 3), np.uint8)}, "state": np.zeros(13), "instruction": ""}
        with pytest.raises(PolicyError, match="model exploded"):
            policy.infer(obs)
        with pytest.raises(PolicyError, match=r"shape \(1, 2\)"):
            policy.infer(obs)
        with pytest.raises(PolicyError, match="the server answered ERROR"):  # GR00T's failure reply
            policy.infer(obs)


def test_an_unreachable_server_fails_at_the_handshake():
    with FakeZmqServer(lambda request: None) as server:
        uri = server.uri
    with pytest.raises(PolicyError, match=r"did not answer 'ping' within 0\.2 s"):
        ZmqPolicy(uri, connect_timeout=0.2)


def test_vla_uris_are_dispatched_before_module_factory(tmp_path):
    config = tmp_path / "vla.json"
    config.write_text(json.dumps({"control_hz": 20, "action_horizon": 8, "camera": "wrist"}))
    with FakeZmqServer(lambda request: None) as server:
        policy = make_policy(server.uri, "pick-place", policy_config=config)
        assert policy.metadata()["action_horizon"] == 8 and policy.metadata()["cameras"] == ["wrist"]
        policy.close()
    config.write_text(json.dumps({"hand_unit": "radians"}))
    with pytest.raises(InputFileError, match=r"unknown key\(s\) hand_unit"):
        make_policy("zmq://127.0.0.1:1", "pick-place", policy_config=config)


# ------------------------------------------------------------------------------ end to end (CLI)


def _serve(*args: str, env: dict[str, str] | None = None, protocol: str = "zmq") -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mimicsim.cli", "serve", "--protocol", protocol, "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    line = process.stdout.readline()  # "serving ... on zmq://127.0.0.1:PORT (Ctrl-C to stop)"
    assert f" on {protocol}://" in line, line
    return process, line.split(" on ")[1].split()[0]


def _records(out: Path) -> list[dict]:
    return json.loads((out / "eval_info.json").read_text())["tasks"]["pick-place"]["records"]


def test_eval_over_zmq_gives_the_in_process_experts_results(tmp_path):
    server, uri = _serve("--policy", "expert", "--task", "pick-place")
    try:
        common = ["--task", "pick-place", "--episodes", "2", "--seed", "3", "--videos", "0"]
        assert cli_main(["eval", "--policy", uri, *common, "--out", str(tmp_path / "zmq")]) == 0
        assert cli_main(["eval", "--policy", "expert", *common, "--out", str(tmp_path / "local")]) == 0
    finally:
        server.kill()
        server.wait()
    remote, local = _records(tmp_path / "zmq"), _records(tmp_path / "local")
    keys = ("seed", "success", "score", "length", "queries", "invalid")
    assert [[r[k] for k in keys] for r in remote] == [[r[k] for k in keys] for r in local]
    assert all(r["success"] for r in local)


def test_a_server_killed_mid_run_gives_invalid_episodes_not_a_crash(tmp_path):
    # The served expert's process dies at its 60th query: during the second episode (49 each).
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))  # finds zmq_fakes
    server, uri = _serve("--policy", "zmq_fakes:dying_expert", env={"MIMICSIM_TEST_DIE_AT": "60", "PYTHONPATH": path})
    try:
        args = ["--task", "pick-place", "--episodes", "3", "--videos", "0", "--timeout", "1"]
        assert cli_main(["eval", "--policy", uri, *args, "--out", str(tmp_path)]) == 0
    finally:
        server.kill()
        server.wait()
    records = _records(tmp_path)
    assert records[0]["success"] and not records[0]["invalid"]
    assert all(r["invalid"] and "did not answer" in r["reason"] for r in records[1:])


def test_serve_speaks_websocket_too():
    server, uri = _serve("--policy", "expert", "--task", "pour", protocol="ws")
    try:
        with RemotePolicy(uri, timeout=10) as remote:
            assert remote.metadata() == check_metadata(make_expert("pour").metadata())
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize("protocol", ["zmq", "ws"])
def test_serve_with_a_key_refuses_clients_without_it(protocol, monkeypatch):
    monkeypatch.delenv("MIMICSIM_API_KEY", raising=False)
    server, uri = _serve("--policy", "expert", "--task", "pour", "--api-key", "s3cret", protocol=protocol)
    try:
        with pytest.raises((PolicyError, ConfigError)):
            make_policy(uri, "pour", timeout=5)
        keyed = make_policy(uri, "pour", timeout=5, api_token="s3cret")
        assert keyed.metadata()["name"].startswith(make_expert("pour").metadata()["name"])
        keyed.close()
    finally:
        server.kill()
        server.wait()


def test_eval_completes_against_a_stalled_server(tmp_path):
    with FakeZmqServer(lambda request: None) as server:
        args = ["--task", "pick-place", "--episodes", "2", "--videos", "0", "--timeout", "0.5"]
        assert cli_main(["eval", "--policy", server.uri, *args, "--out", str(tmp_path)]) == 0
    records = _records(tmp_path)
    assert [r["invalid"] for r in records] == [True, True] and not any(r["success"] for r in records)
    assert all("did not answer 'get_action' within 0.5 s" in r["reason"] for r in records)
