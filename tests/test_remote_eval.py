"""`mimicsim eval` against a real policy server that fails mid-run: a stalled chunk, a dropped
connection or a dead server costs the episodes it touches (invalid, with the reason), never the run."""

import json
import threading
import time
import urllib.error
import urllib.request

import fake_task
import pytest

from mimicsim.cli import main
from mimicsim.eval import task_eval
from mimicsim.policies.manipulation.remote import PolicyServer


@pytest.fixture(autouse=True)
def fake_tasks(monkeypatch):
    monkeypatch.setattr(task_eval, "TASK_IDS", {"fake": fake_task.ENV_ID})


def evaluate(out, policy, **kwargs):
    info = task_eval.evaluate_tasks("fake", policy, 4, 1, out, videos=0, progress=False, **kwargs)
    return info["tasks"]["fake"]["records"]


def unhealthy(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).close()
        return False
    except urllib.error.HTTPError as error:
        return error.code == 503


class StallOnce(fake_task.GoalPolicy):
    """Its first chunk hangs until `release()` says so; every other call is the goal policy's."""

    def __init__(self, release):
        super().__init__()
        self.release = release

    def infer(self, obs):
        if self.calls == 0:
            self.stalled_at = time.monotonic()
            for _ in range(500):  # bounded, so the server thread always ends
                if self.release():
                    break
                time.sleep(0.01)
        return super().infer(obs)


def test_mimicsim_eval_with_a_chunk_stalled_past_the_server_timeout_completes_with_one_episode_invalid(
    tmp_path, capsys
):
    local = evaluate(tmp_path / "local", "fake_task:make_goal_policy")
    port = []
    # The stalled call returns once the server reports it unhealthy, as a model that recovers.
    policy = StallOnce(release=lambda: unhealthy(port[0]))
    with PolicyServer(policy, call_timeout=0.4) as server:
        port.append(server.port)
        args = ["eval", "--task", "fake", "--policy", server.uri, "--episodes", "4", "--seed", "1", "--videos", "0"]
        assert main([*args, "--out", str(tmp_path / "remote")]) == 0
    printed = capsys.readouterr().out
    assert "success 3/4 = 0.75" in printed and "invalid 1" in printed
    first, *rest = json.loads((tmp_path / "remote" / "eval_info.json").read_text())["tasks"]["fake"]["records"]
    assert first["invalid"] and not first["success"] and first["queries"] == 0
    assert "infer did not return within the server's call timeout of 0.4 s" in first["reason"]
    assert rest == local[1:] and all(r["success"] for r in rest)


def test_a_chunk_stalled_past_the_client_timeout_makes_one_episode_invalid_and_the_client_reconnects(tmp_path):
    local = evaluate(tmp_path / "local", "fake_task:make_goal_policy")
    # The client gives up after 1 s and reconnects at the next reset, which the server answers
    # once the stalled call returns (1.5 s), well within that reset's own 1 s.
    policy = StallOnce(release=lambda: time.monotonic() - policy.stalled_at > 1.5)
    with PolicyServer(policy) as server:
        records = evaluate(tmp_path / "remote", server.uri, timeout=1.0)
    first, *rest = records
    assert first["invalid"] and "did not answer 'infer' within 1.0 s; connection closed" in first["reason"]
    assert rest == local[1:]


def test_a_server_that_dies_mid_run_gives_invalid_episodes_not_a_crash(tmp_path):
    class DiesOnSecondChunk(fake_task.GoalPolicy):
        def infer(self, obs):
            if self.calls == 1:
                threading.Thread(target=server.close).start()
                time.sleep(0.5)
            return super().infer(obs)

    with PolicyServer(DiesOnSecondChunk()) as server:
        records = evaluate(tmp_path, server.uri, timeout=10)
    assert records[0]["success"] and not records[0]["invalid"]
    assert all(r["invalid"] and not r["success"] for r in records[1:])
    assert "closed" in records[1]["reason"]
    assert all("cannot connect to the policy server" in r["reason"] for r in records[2:])
    assert (tmp_path / "eval_info.json").is_file()
