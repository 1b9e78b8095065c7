"""Servers written for openpi's websocket client, scored as they are: the msgpack-numpy codec against
an independent encoder, protocol detection, the observation mapping, the API key header, server
errors, and `mimicsim eval` end to end (on the fake task and on a real one)."""

import json

import fake_task
import msgpack
import numpy as np
import pytest
from openpi_style_server import OpenpiStyleServer, packb, unpackb

from mimicsim.errors import ConfigError
from mimicsim.eval import task_eval
from mimicsim.policies.manipulation.openpi_mapping import OpenpiMapping
from mimicsim.policies.manipulation.protocol import PolicyError
from mimicsim.policies.manipulation.remote import API_KEY_ENV, PolicyServer, RemotePolicy
from mimicsim.wire import pack_msgpack_numpy, unpack, unpack_either, unpack_msgpack_numpy

FAKE_MAPPING = "images=observation/image:ego&image_size=8x8&action_horizon=4"


def obs():
    return {
        "image": {"third_person": np.arange(6 * 4 * 3, dtype=np.uint8).reshape(6, 4, 3)},
        "state": np.linspace(-0.4, 0.4, 13, dtype=np.float32),
        "instruction": "put the red cube in the blue bowl",
    }


def hold(request):
    """An openpi-style policy that holds the measured joints for 16 steps."""
    return {"actions": np.tile(request["observation/state"], (16, 1)).astype(np.float64)}


# ---------------------------------------------------------------------------------------- codec


@pytest.mark.parametrize(
    "value",
    [np.arange(24, dtype=">f8").reshape(2, 3, 4)[:, ::2], np.zeros((0, 13), np.float32), np.array([True]), np.int16(7)],
)
def test_msgpack_numpy_matches_an_independent_encoder(value):
    ours = unpackb(pack_msgpack_numpy({"x": value}))["x"]  # decoded by the stand-in's decoder
    theirs = unpack_msgpack_numpy(packb({"x": value}))["x"]  # the stand-in's encoding, decoded by ours
    for back in (ours, theirs):
        assert back.dtype == value.dtype and back.shape == value.shape
        np.testing.assert_array_equal(back, value)
    assert unpack_either(packb({"x": value}))["x"].dtype == value.dtype


def _map(**fields):
    return msgpack.packb({"a": {b"__ndarray__": True, **{k.encode(): v for k, v in fields.items()}}})


@pytest.mark.parametrize(
    "payload, message",
    [
        (_map(data=b"\0" * 8, dtype="|O", shape=[1]), "refusing array dtype"),
        (_map(data=b"\0" * 8, dtype="<c8", shape=[1]), "refusing array dtype"),
        (_map(data=b"\0" * 8, dtype="not a dtype", shape=[1]), "refusing array dtype"),
        (_map(data=b"\0" * 8, dtype="f4,(", shape=[1]), "refusing array dtype"),  # numpy: SyntaxError
        (_map(data=b"\0" * 8, dtype="<f4", shape=[3]), "does not match"),
        (_map(data=b"", dtype="<f4", shape=[2**40, 2**40, 0, 2**40]), "malformed array shape"),
        (_map(data=b"\0" * 4, dtype="<f4", shape=[-1]), "malformed array shape"),
        (_map(data=b"\0" * 4, dtype="<f4"), "expected keys"),
        (msgpack.packb({b"__npgeneric__": True, b"data": 300, b"dtype": "|u1"}), "malformed msgpack-numpy scalar"),
        (msgpack.packb({b"__npgeneric__": True, b"data": 1e300, b"dtype": "<f2"}), "malformed msgpack-numpy scalar"),
    ],
)
def test_malformed_msgpack_numpy_arrays_are_refused(payload, message):
    with pytest.raises(ValueError, match=message):
        unpack_msgpack_numpy(payload)


def test_mimicsim_frames_do_not_accept_msgpack_numpy_maps():
    decoded = unpack(packb({"x": np.zeros(2)}))["x"]  # stays a plain map: no array is built
    assert isinstance(decoded, dict) and decoded[b"__ndarray__"] is True


# ------------------------------------------------------------------------------ server + client


def test_an_openpi_style_server_is_detected_and_gets_mapped_observations():
    with OpenpiStyleServer(hold, metadata={"name": "pi0-hold", "reset_pose": np.zeros(3)}) as server:
        with RemotePolicy(f"{server.uri}?image_size=6x4&action_horizon=16", timeout=5) as remote:
            assert remote.protocol == "openpi"
            meta = remote.metadata()
            assert (meta["name"], meta["action_horizon"], meta["cameras"], meta["image_size"]) == (
                "pi0-hold",
                16,
                ["third_person"],
                [6, 4],
            )
            remote.reset()  # nothing to send: openpi-style servers keep no episode state
            result = remote.infer(obs())
        np.testing.assert_array_equal(result["actions"], np.tile(obs()["state"], (16, 1)))
        assert result["server_timing"] == {"infer_ms": 0.1}
        (request,) = server.requests
        assert set(request) == {"observation/image", "observation/state", "prompt"}
        np.testing.assert_array_equal(request["observation/image"], obs()["image"]["third_person"])
        assert request["observation/state"].dtype == np.float32 and request["prompt"] == obs()["instruction"]


def test_every_request_key_is_configurable():
    mapping = OpenpiMapping.from_query(
        "images=cam/high:third_person,cam/wrist:wrist&state=qpos&prompt=task&image_size=96x128&action_horizon=5"
    )
    assert mapping == OpenpiMapping(
        images=(("cam/high", "third_person"), ("cam/wrist", "wrist")),
        state="qpos",
        prompt="task",
        image_size=(96, 128),
        action_horizon=5,
    )
    request = mapping.request({**obs(), "image": {"third_person": 1, "wrist": 2}})
    assert request == {
        "cam/high": 1,
        "cam/wrist": 2,
        "qpos": pytest.approx(obs()["state"]),
        "task": obs()["instruction"],
    }
    state_only = OpenpiMapping.from_query("images=")
    assert state_only.metadata({}, "ws://x")["image_size"] is None and state_only.request(obs()).keys() == {
        "observation/state",
        "prompt",
    }


@pytest.mark.parametrize(
    "query, message",
    [
        ("camera=wrist", "unknown policy URI option 'camera'; valid options: images, state"),
        ("image_size=224", "image_size='224' must be HEIGHTxWIDTH"),
        ("images=observation/image", "each entry must be KEY:CAMERA"),
        ("action_horizon=0", "action_horizon and action_dim must be at least 1"),
        ("action_horizon=-3", "must be a positive integer"),
        ("state=prompt", "must be non-empty and distinct"),
        ("state=a&state=b", "given twice"),
        ("state", "not KEY=VALUE"),
    ],
)
def test_bad_mapping_options_are_config_errors(query, message):
    with pytest.raises(ConfigError, match=message):
        OpenpiMapping.from_query(query)


def test_the_api_key_reaches_an_openpi_style_server(monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, "k3y")
    with OpenpiStyleServer(hold, api_key="k3y") as server:
        with RemotePolicy(f"{server.uri}?action_horizon=16") as remote:
            assert remote.protocol == "openpi"
        with pytest.raises(PolicyError, match=r"refused the connection \(HTTP 401: Unauthorized\)"):
            RemotePolicy(server.uri, api_key="", connect_timeout=5)


def test_server_errors_and_short_chunks_are_policy_errors_and_the_next_reset_reconnects():
    calls = []

    def flaky(request):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory")
        return {"actions": np.zeros((3, 13))}

    with OpenpiStyleServer(flaky) as server, RemotePolicy(f"{server.uri}?action_horizon=4", timeout=5) as remote:
        with pytest.raises(PolicyError, match="failed 'infer': RuntimeError: CUDA out of memory"):
            remote.infer(obs())
        with pytest.raises(PolicyError, match="not connected"):
            remote.infer(obs())
        remote.reset()
        with pytest.raises(PolicyError, match="answered 3 actions, fewer than action_horizon=4; set action_horizon=3"):
            remote.infer(obs())
        assert server.connections == 2


def test_a_first_frame_that_is_not_a_map_is_refused():
    from websockets.sync.server import serve

    def hello(ws):
        ws.send(msgpack.packb([1, 2, 3]))
        ws.recv(timeout=5)

    import threading

    with serve(hello, "127.0.0.1", 0) as other:
        thread = threading.Thread(target=other.serve_forever, daemon=True)
        thread.start()
        with pytest.raises(PolicyError, match="sent list as its first frame, not a metadata map"):
            RemotePolicy(f"ws://127.0.0.1:{other.socket.getsockname()[1]}", connect_timeout=5)
        other.shutdown()
        thread.join(timeout=5)


def test_a_mimicsim_server_is_still_spoken_to_in_its_own_protocol():
    with PolicyServer(fake_task.GoalPolicy()) as server:
        with RemotePolicy(server.uri) as remote:
            assert remote.protocol == "mimicsim" and remote.metadata()["name"] == "goal"
        with pytest.raises(PolicyError, match="is a mimicsim policy server, which takes observations as they are"):
            RemotePolicy(f"{server.uri}?{FAKE_MAPPING}")


# ------------------------------------------------------------------------------------ scoring


class StepPolicy:
    """Moves from the measured state by a ramp that depends on the image, so equal records from the
    local and the served copy mean that state, image and prompt all arrived intact."""

    def reset(self) -> None:
        pass

    def infer(self, obs):
        return {"actions": step_chunk(obs["state"], obs["image"]["ego"], obs["instruction"])}

    def metadata(self):
        return {
            "name": "step",
            "version": "1",
            "action_horizon": 4,
            "action_dim": 13,
            "cameras": ["ego"],
            "image_size": [8, 8],
        }


def step_chunk(state, image, prompt):
    assert prompt == "reach the goal" and image.shape == (8, 8, 3) and image.dtype == np.uint8
    ramp = np.arange(1, 5)[:, None] * 0.05 + image.mean() / 100
    return np.asarray(state, np.float64)[None, :] + ramp


def make_step_policy(task):
    return StepPolicy()


def test_eval_scores_an_openpi_style_server_like_the_local_policy(tmp_path, monkeypatch):
    monkeypatch.setattr(task_eval, "TASK_IDS", {"fake": fake_task.ENV_ID})

    def served(request):
        return {"actions": step_chunk(request["observation/state"], request["observation/image"], request["prompt"])}

    def evaluate(out, policy):
        return task_eval.evaluate_tasks("fake", policy, 3, 2, out, videos=0, progress=False)["tasks"]["fake"]

    with OpenpiStyleServer(served) as server:
        remote = evaluate(tmp_path / "remote", f"{server.uri}?{FAKE_MAPPING}")
    local = evaluate(tmp_path / "local", "test_openpi_server:make_step_policy")
    assert remote["records"] == local["records"] and not any(r["invalid"] for r in local["records"])
    assert len({r["score"] for r in local["records"]}) == 3
    assert remote["policy"]["protocol"] == "openpi" and remote["policy"]["cameras"] == ["ego"]


def test_mimicsim_eval_scores_an_openpi_style_server_on_a_real_task(tmp_path, monkeypatch):
    from mimicsim.cli import main

    monkeypatch.setenv(API_KEY_ENV, "k3y")
    with OpenpiStyleServer(hold, api_key="k3y") as server:
        policy = f"{server.uri}?image_size=64x64&action_horizon=16"
        args = ["eval", "--task", "pick-place", "--policy", policy, "--episodes", "1", "--replan-steps", "8"]
        assert main([*args, "--videos", "0", "--out", str(tmp_path)]) == 0
        images = [r["observation/image"] for r in server.requests]
    record = json.loads((tmp_path / "eval_info.json").read_text())["tasks"]["pick-place"]["records"][0]
    assert not record["success"] and not record["invalid"]  # holding still does nothing, stably
    assert record["queries"] == -(-record["length"] // 8) == len(images)
    assert all(image.shape == (64, 64, 3) and image.dtype == np.uint8 for image in images)
    assert len({image.tobytes() for image in images}) > 1  # a fresh render at every query
