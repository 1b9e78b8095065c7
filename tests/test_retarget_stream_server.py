"""The streaming retarget server: sessions over a websocket, malformed input, disconnects, the CLI."""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from mimicsim.assets import load_robot
from mimicsim.errors import ConfigError, MimicsimError
from mimicsim.retarget.human.procedural import Stand, Walk, generate
from mimicsim.retarget.robot_motion import load
from mimicsim.retarget.stream import stream
from mimicsim.retarget.stream_server import StreamClient, StreamServer, parse_listen
from mimicsim.wire import pack, unpack


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


@pytest.fixture(scope="module")
def clip():
    return generate([Stand(0.3), Walk(0.8)], fps=30.0, name="server-walk").positions


def test_a_session_answers_poses_and_is_written(g1, clip, tmp_path: Path) -> None:
    local = stream(g1, fps=30.0, record=False)
    expected = [local.push(f) for f in clip]
    with StreamServer(g1, out=tmp_path / "session.npz") as server, StreamClient(server.uri) as client:
        assert client.hello["robot"] == "g1" and len(client.hello["joint_names"]) == g1.dof
        client.start(30.0)
        for frame, want in zip(clip, expected, strict=True):
            pose = client.push(frame)
            np.testing.assert_allclose(pose["joint_pos"], want.joint_pos, atol=1e-12)
            np.testing.assert_array_equal(pose["contacts"], want.contacts)
            assert pose["solve_ms"] > 0
        summary = client.end()
        assert summary["frames"] == len(clip) and summary["path"] == str(tmp_path / "session.npz")
        assert summary["quality"]["ground_penetration_frames"] == 0
        client.start(30.0)  # a second session on the same connection
        for frame in clip[:5]:
            client.push(frame)
        assert client.end()["path"] == str(tmp_path / "session_2.npz")
    written = load(tmp_path / "session.npz")
    assert written.num_frames == len(clip) and written.quality["passes"]
    np.testing.assert_allclose(written.joint_pos[-1], expected[-1].joint_pos)


def test_malformed_messages_get_one_line_errors(g1, clip) -> None:
    from websockets.sync.client import connect

    with StreamServer(g1) as server, connect(server.uri, proxy=None) as ws:
        unpack(ws.recv(timeout=10))  # the handshake

        def ask(data: bytes | str) -> dict:
            ws.send(data)
            return unpack(ws.recv(timeout=10))

        nan = clip[0].copy()
        nan[0, 0] = np.nan
        bad = [
            (pack({"method": "frame", "joints": clip[0]}), "send 'start'"),
            ("text", "binary frame"),
            (pickle.dumps({"method": "start"}), ""),
            (pack([1, 2]), "a request must be a map"),
            (pack({"method": "fly"}), "unknown method 'fly'"),
            (pack({"method": "start"}), "needs 'fps'"),
            (pack({"method": "start", "fps": 30.0, "up": "w"}), "up='w'"),
        ]
        for data, message in bad:
            reply = ask(data)
            assert reply["ok"] is False and message in reply["error"] and "\n" not in reply["error"]
        assert ask(pack({"method": "start", "fps": 30.0}))["ok"]
        for joints, message in ((nan, "NaN"), (np.zeros((5, 3)), "(22, 3)"), ("x", "could not convert")):
            reply = ask(pack({"method": "frame", "joints": joints}))
            assert reply["ok"] is False and message in reply["error"], reply
        reply = ask(pack({"method": "frame", "joints": clip[0] * 1000}))  # millimetres: no plausible person
        assert reply["ok"] is False and "units" in reply["error"]
        reply = ask(pack({"method": "frame", "joints": clip[0]}))
        assert reply["ok"] and reply["result"]["frame"] == 0
        assert ask(pack({"method": "health"}))["result"]["status"] == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as response:
            assert response.status == 200


def test_a_disconnect_ends_the_session_and_the_next_client_is_served(g1, clip, tmp_path: Path) -> None:
    with StreamServer(g1, out=tmp_path / "live.npz") as server:
        client = StreamClient(server.uri)
        client.start(30.0)
        for frame in clip[:10]:
            client.push(frame)
        client.close()  # gone without "end"
        with StreamClient(server.uri) as second:
            second.start(30.0)
            assert second.push(clip[0])["frame"] == 0
            with pytest.raises(MimicsimError, match="NaN"):
                second.push(np.full((22, 3), np.nan))
            assert second.push(clip[1])["frame"] == 1
        for _ in range(50):  # the server writes the first session when it sees the disconnect
            if (tmp_path / "live.npz").exists():
                break
            time.sleep(0.1)
    assert load(tmp_path / "live.npz").num_frames == 10


def test_listen_address_and_cli_errors() -> None:
    assert parse_listen("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    for bad in ("8765", "localhost:", "host:99999"):
        with pytest.raises(ConfigError, match="HOST:PORT"):
            parse_listen(bad)
    run = subprocess.run(
        [sys.executable, "-m", "mimicsim.cli", "retarget-stream", "--listen", "nowhere"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "HOST:PORT" in run.stderr
