"""The evaluation harness: episode seeds and records, the runner, the report files and the CLI verb.

Most tests run the harness on `fake_task` (no physics); the smoke tests at the end run the real
tasks with their scripted experts.
"""

import json
import subprocess
import sys
from pathlib import Path

import fake_task
import gymnasium as gym
import pytest

from mimicsim.envs.manipulation.chunking import ActionChunking
from mimicsim.errors import ConfigError
from mimicsim.eval import task_eval
from mimicsim.eval.episodes import episode_seed, run_episode
from mimicsim.policies.manipulation.remote import PolicyServer


@pytest.fixture
def fake_tasks(monkeypatch):
    """The harness's task table pointed at the fake task. Workers get the environment id with each
    episode and register the fake task when they import the fake policy factory."""
    monkeypatch.setattr(task_eval, "TASK_IDS", {"fake": fake_task.ENV_ID, "fake-2": fake_task.ENV_ID})


def evaluate(out, tasks="fake", policy="fake_task:make_goal_policy", **kwargs):
    return task_eval.evaluate_tasks(tasks, policy, out=out, progress=False, **{"episodes": 3, **kwargs})


def test_episode_seeds_come_from_the_run_seed_alone():
    seeds = [episode_seed(7, i) for i in range(50)]
    assert seeds == [episode_seed(7, i) for i in range(50)]
    assert len(set(seeds)) == 50 and len(set(seeds) & {episode_seed(8, i) for i in range(50)}) == 0
    assert all(0 <= s < 2**32 for s in seeds)


def test_run_episode_records_what_happened():
    env = ActionChunking(gym.make(fake_task.ENV_ID, privileged=True, render_every=4), horizon=4)
    policy = fake_task.GoalPolicy(horizon=4, steps=3)
    record = run_episode(env, policy, task="fake", index=5, seed=11, action_dim=13)
    assert record.success and not record.invalid and record.score > -0.05
    assert (record.length, record.queries, record.index, record.seed) == (3, 1, 5, 11)
    assert record.instruction == "reach the goal" and policy.resets == 1
    bad = run_episode(env, fake_task.make_exploding_policy("fake"), task="fake", index=0, seed=11, action_dim=13)
    assert bad.invalid and not bad.success and bad.length == 1


def test_actions_of_the_wrong_size_make_the_episode_invalid_with_the_reason():
    env = ActionChunking(gym.make(fake_task.ENV_ID, privileged=True), horizon=4)
    record = run_episode(env, fake_task.GoalPolicy(), task="fake", index=0, seed=0, action_dim=12)
    assert record.invalid and not record.success and record.queries == 0
    assert "shape (H >= 1, 12)" in record.reason


def test_evaluate_writes_json_html_and_videos(tmp_path, fake_tasks):
    info = evaluate(tmp_path, tasks="fake,fake-2", seed=3, videos=2)
    on_disk = json.loads((tmp_path / "eval_info.json").read_text())
    assert on_disk == json.loads(json.dumps(info))
    assert on_disk["schema"] == "mimicsim.eval_info/1" and on_disk["policy"] == "fake_task:make_goal_policy"
    assert set(on_disk["versions"]) >= {"mimicsim", "mujoco", "python"} and on_disk["rendering_backend"]
    task = on_disk["tasks"]["fake"]
    assert (task["episodes"], task["successes"], task["success_rate"], task["invalid"]) == (3, 3, 1.0, 0)
    assert task["success_rate_ci95"] == [pytest.approx(0.4385, abs=1e-4), 1.0]
    assert task["seeds"] == [episode_seed(3, i) for i in range(3)] == [r["seed"] for r in task["records"]]
    assert task["mean_length"] == 3.0 and task["policy"]["name"] == "goal"
    assert task["videos"] == ["videos/fake_000.mp4", "videos/fake_001.mp4"]
    for video in task["videos"]:
        assert (tmp_path / video).read_bytes()[4:8] == b"ftyp"  # an MP4 container
    assert not (tmp_path / "videos" / "fake_002.mp4").exists()
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and 'src="videos/fake_000.mp4"' in html
    assert "http://" not in html and "https://" not in html  # opens offline
    assert not list(tmp_path.rglob("*.part*"))  # no temporary files left behind


def test_the_same_seed_gives_the_same_records(tmp_path, fake_tasks):
    first = evaluate(tmp_path / "a", seed=5, videos=0)["tasks"]["fake"]["records"]
    again = evaluate(tmp_path / "b", seed=5, videos=0)["tasks"]["fake"]["records"]
    other = evaluate(tmp_path / "c", seed=6, videos=0)["tasks"]["fake"]["records"]
    assert first == again and first != other


def test_invalid_episodes_are_failures_and_counted(tmp_path, fake_tasks):
    task = evaluate(tmp_path, policy="fake_task:make_exploding_policy", videos=0)["tasks"]["fake"]
    assert (task["successes"], task["invalid"], task["success_rate_ci95"][0]) == (0, 3, 0.0)


def test_closed_loop_replanning_queries_every_step(tmp_path, fake_tasks):
    task = evaluate(tmp_path, replan_steps=1, videos=0)["tasks"]["fake"]
    assert all(r["queries"] == r["length"] > 3 for r in task["records"])
    with pytest.raises(ConfigError, match="exceeds the policy's action horizon 4"):
        evaluate(tmp_path / "never", replan_steps=5)
    assert not (tmp_path / "never").exists()


def test_a_remote_policy_is_evaluated_like_a_local_one(tmp_path, fake_tasks):
    with PolicyServer(fake_task.GoalPolicy()) as server:
        remote = evaluate(tmp_path / "remote", policy=server.uri, seed=1, videos=0)["tasks"]["fake"]
    local = evaluate(tmp_path / "local", seed=1, videos=0)["tasks"]["fake"]
    assert remote["records"] == local["records"] and remote["policy"]["name"] == "goal"


def test_worker_processes_give_the_same_records_as_one_process(tmp_path, fake_tasks):
    one = evaluate(tmp_path / "one", tasks="fake,fake-2", seed=2, videos=1)
    two = evaluate(tmp_path / "two", tasks="fake,fake-2", seed=2, videos=1, workers=2)
    assert one["tasks"] == two["tasks"] and two["run"]["workers"] == 2
    assert (tmp_path / "two" / "videos" / "fake-2_000.mp4").stat().st_size > 0


def test_ray_runs_the_same_episodes(tmp_path, fake_tasks):
    ray = pytest.importorskip("ray")
    try:
        ray.init(
            num_cpus=1,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(Path(fake_task.__file__).parent)}},
        )
    except Exception as exc:  # no shared memory, no ports, ...
        pytest.skip(f"Ray cannot start here: {exc}")
    try:
        on_ray = evaluate(tmp_path / "ray", seed=4, episodes=2, videos=1, ray="auto")
    finally:
        ray.shutdown()
    local = evaluate(tmp_path / "local", seed=4, episodes=2, videos=1)
    assert on_ray["tasks"] == local["tasks"] and on_ray["versions"]["ray"] == ray.__version__
    assert (tmp_path / "ray" / "videos" / "fake_000.mp4").stat().st_size > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "pick-place,fly"], "mimicsim: error: unknown task 'fly'; valid tasks: pick-place, pour, unfold"),
        (
            ["--policy", "gpt"],
            "mimicsim: error: unknown policy 'gpt'; use 'expert', 'ws://host:port', 'zmq://host:port', "
            "'being-h0:PATH', 'lerobot:PATH' or 'package.module:factory'",
        ),
        (["--policy", "ws://127.0.0.1:9"], "mimicsim: error: cannot connect to the policy server at ws://127.0.0.1:9"),
        (
            ["--policy", "zmq://127.0.0.1:9", "--policy-config", "nope.json"],
            "mimicsim: error: nope.json: cannot read the policy config",
        ),
        (["--episodes", "0"], "mimicsim: error: --episodes must be at least 1, got 0"),
    ],
)
def test_bad_cli_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "mimicsim.cli", "eval", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message)
    assert not out.exists()


def test_a_camera_policy_gets_its_images_at_query_steps_on_a_real_task(tmp_path):
    task = task_eval.evaluate_tasks(
        "pick-place", "fake_task:make_hold_policy", episodes=1, replan_steps=8, videos=0, out=tmp_path, progress=False
    )["tasks"]["pick-place"]
    record = task["records"][0]
    assert not record["success"] and not record["invalid"]  # holding still does nothing, stably
    assert record["queries"] == -(-record["length"] // 8)  # one query per 8 steps, images fresh each time


@pytest.mark.slow
def test_ci_smoke_every_expert_on_its_real_task(tmp_path, capsys):
    """`mimicsim eval` on the three real tasks with their scripted experts, 2 episodes each, in two
    worker processes (the real tasks' multi-process path; about 50 s of CPU, mostly unfold's cloth)."""
    from mimicsim.cli import main

    tasks = ["pick-place", "pour", "unfold"]
    assert (
        main(
            [
                "eval",
                "--task",
                ",".join(tasks),
                "--policy",
                "expert",
                "--episodes",
                "2",
                "--seed",
                "0",
                "--videos",
                "1",
                "--workers",
                "2",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    info = json.loads((tmp_path / "eval_info.json").read_text())
    assert info["schema"] == "mimicsim.eval_info/1" and list(info["tasks"]) == tasks
    assert info["versions"]["mujoco"] and info["rendering_backend"] in ("egl", "osmesa", "glfw")
    for name, task in info["tasks"].items():
        low, high = task["success_rate_ci95"]
        assert task["episodes"] == 2 and 0 <= task["successes"] <= 2
        assert low <= task["success_rate"] <= high and 0.0 <= task["mean_score"] <= 1.0
        assert task["invalid"] == 0, f"{name}: the expert's simulation became unstable"
        assert task["policy"]["privileged"] and task["seeds"] == [episode_seed(0, 0), episode_seed(0, 1)]
        assert all(r["instruction"] and r["length"] > 0 for r in task["records"])
        assert (tmp_path / task["videos"][0]).read_bytes()[4:8] == b"ftyp"
    html = (tmp_path / "report.html").read_text()
    assert all(f"<h2>{name} " in html for name in tasks) and html.count("data:image/png;base64,") == 2
    assert "success" in capsys.readouterr().out
