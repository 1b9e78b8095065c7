"""Evaluate a policy on manipulation tasks, in this process, in local worker processes or on Ray.

The unit of work is one episode: (task, index, seed). Each worker builds its environment and its
policy once per task and reuses them, and returns an `EpisodeRecord` (plus the MP4 bytes for the
first few episodes of each task, so workers on other machines need no shared filesystem). Nothing
is written until every episode has finished; `eval_info.json` is written last, so its presence
means the run completed.

A policy is named by a string:
- "expert": each task's scripted expert from `mimicsim.policies.manipulation.experts`;
- "ws://host:port" (or wss://): a model served by `mimicsim.policies.manipulation.remote.PolicyServer`;
- "package.module:factory": a local callable `factory(task) -> Policy`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from mimicsim.atomic import check_writable
from mimicsim.envs.manipulation.chunking import ActionChunking
from mimicsim.envs.manipulation.registration import TASK_IDS, register_manipulation_envs
from mimicsim.errors import ConfigError
from mimicsim.eval.episodes import EpisodeRecord, FrameRecorder, episode_seed, run_episode
from mimicsim.eval.report import EVAL_INFO, build_eval_info, video_name, write_report
from mimicsim.jobs import Item, Result, Work, run_job
from mimicsim.policies.manipulation.factory import make_policy
from mimicsim.policies.manipulation.gym_policy import env_kwargs
from mimicsim.policies.manipulation.protocol import Policy, check_metadata


@dataclass(frozen=True)
class EvalSettings:
    """What every worker needs to know to run an episode (picklable: sent to worker processes).

    Args:
        policy: Policy name: "expert", "ws://host:port" or "module:factory".
        replan_steps: Actions executed from each chunk before the policy is queried again
            (None: the whole chunk).
        timeout: Seconds a remote policy may take to answer one request.
        videos: Episodes per task (the first ones) recorded as MP4.
        policy_config: A VLA's `VlaConfig` JSON file (zmq, being-h0 and lerobot policies).
        api_token: Token sent to a zmq policy server (kept out of the run's records).
    """

    policy: str = "expert"
    replan_steps: int | None = None
    timeout: float = 30.0
    videos: int = 2
    policy_config: str | None = None
    api_token: str | None = field(default=None, repr=False)

    def make_policy(self, task: str) -> Policy:
        return make_policy(
            self.policy, task, timeout=self.timeout, policy_config=self.policy_config, api_token=self.api_token
        )


def parse_tasks(tasks: str | Sequence[str]) -> list[str]:
    """Task names from "a,b" or a sequence; `ConfigError` naming the valid ones on a bad name."""
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t.strip()]
    if not names:
        raise ConfigError(f"no task given; valid tasks: {', '.join(TASK_IDS)}")
    unknown = [t for t in names if t not in TASK_IDS]
    if unknown:
        raise ConfigError(f"unknown task {unknown[0]!r}; valid tasks: {', '.join(TASK_IDS)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"task list {','.join(names)!r} names a task twice")
    return names


def make_env(env_id: str, meta: dict[str, Any], replan_steps: int, *, record: bool) -> gym.Env:
    """The task environment as the policy described by `meta` needs it: only its cameras at its
    image size, rendered only at query steps (every `replan_steps`), privileged state if asked."""
    kwargs = env_kwargs(meta, replan_steps)
    if record:
        kwargs["render_mode"] = "rgb_array"
    register_manipulation_envs()
    return gym.make(env_id, **kwargs)


@dataclass
class EpisodeWork(Work):
    """Runs episodes; keeps one environment and one policy per task between episodes."""

    settings: EvalSettings
    # OpenGL contexts and policy connections must not cross a fork.
    start_method = "spawn"
    item_name = "episode"
    unit_name = "steps"
    _prepared: dict[str, tuple[FrameRecorder, ActionChunking, Policy, dict[str, Any]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def run(self, item: Item) -> Result:
        task, index = item.args["task"], item.args["index"]
        recorder, env, policy, meta = self._prepare(task, item.args["env_id"])
        recorder.recording = index < self.settings.videos
        record = run_episode(env, policy, task=task, index=index, seed=item.args["seed"], action_dim=meta["action_dim"])
        files = {}
        if recorder.recording:
            files[video_name(record)] = _encode_mp4(recorder.frames, recorder.metadata.get("render_fps", 20))
        recorder.frames = []
        return Result(item.key, True, units=record.length, data={"record": record.to_json()}, files=files)

    def close(self) -> None:
        for recorder, _, policy, _ in self._prepared.values():
            recorder.close()
            getattr(policy, "close", lambda: None)()
        self._prepared.clear()

    def _prepare(self, task: str, env_id: str) -> tuple[FrameRecorder, ActionChunking, Policy, dict[str, Any]]:
        if task not in self._prepared:
            policy = self.settings.make_policy(task)
            meta = check_metadata(policy.metadata())
            replan_steps = self.settings.replan_steps or meta["action_horizon"]
            recorder = FrameRecorder(make_env(env_id, meta, replan_steps, record=self.settings.videos > 0))
            env = ActionChunking(recorder, meta["action_horizon"], replan_steps)
            self._prepared[task] = (recorder, env, policy, meta)
        return self._prepared[task]


def _encode_mp4(frames: list, fps: float) -> bytes:
    from mimicsim.rendering import video_writer

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "episode.mp4"
        with video_writer(path, fps) as writer:
            for frame in frames:
                writer.append_data(frame)
        return path.read_bytes()


# ----------------------------------------------------------------------------------------- entry


def evaluate_tasks(
    tasks: str | Sequence[str],
    policy: str = "expert",
    episodes: int = 3,
    seed: int = 0,
    out: Path | str = Path("out/eval"),
    *,
    workers: int = 1,
    ray: str | None = None,
    replan_steps: int | None = None,
    videos: int = 2,
    timeout: float = 30.0,
    policy_config: str | Path | None = None,
    api_token: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate `policy` for `episodes` episodes on each task and write the report into `out`.

    Writes `out/eval_info.json`, `out/report.html` and `out/videos/<task>_<index>.mp4` (the first
    `videos` episodes of each task); returns the content of eval_info.json. Bad task or policy names
    raise `ConfigError` (a `MimicsimError`) before anything is written.

    Args:
        tasks: Task names ("pick-place,pour,unfold" or a list); see `TASK_IDS`.
        policy: "expert", "ws://host:port" or "package.module:factory".
        episodes: Episodes per task.
        seed: Run seed; episode i of every task uses `episode_seed(seed, i)`.
        out: Output folder.
        workers: Local worker processes (1: run in this process).
        ray: Run on Ray instead: "auto" (an existing cluster), "local" (start one with `workers`
            CPUs) or a cluster address.
        replan_steps: Actions executed from each chunk before re-querying (None: whole chunk).
        videos: Episodes per task recorded as MP4 (0 for none).
        timeout: Seconds a remote policy may take per request.
        policy_config: A VLA's `VlaConfig` JSON file (zmq, being-h0 and lerobot policies).
        api_token: Token for a zmq policy server (default: the MIMICSIM_API_KEY variable).
        progress: Show a progress bar.
    """
    names = parse_tasks(tasks)
    if episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {episodes}")
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if ray is not None and workers > 1 and ray != "local":
        raise ConfigError("give either --workers N (local processes) or --ray ADDRESS, not both")
    if replan_steps is not None and replan_steps < 1:
        raise ConfigError(f"--replan-steps must be at least 1, got {replan_steps}")
    out = check_writable(out, folder=True)
    settings = EvalSettings(
        policy=policy,
        replan_steps=replan_steps,
        timeout=timeout,
        videos=max(0, videos),
        policy_config=None if policy_config is None else str(policy_config),
        api_token=api_token,
    )
    metadata = {task: _policy_metadata(settings, task) for task in names}

    items = {
        f"{task}/{i:05d}": {"task": task, "env_id": TASK_IDS[task], "index": i, "seed": episode_seed(seed, i)}
        for task in names
        for i in range(episodes)
    }
    recorded = {key: value for key, value in asdict(settings).items() if key != "api_token"}
    job = {"policy": policy, "tasks": names, "episodes": episodes, "seed": seed, "settings": recorded}
    summary = run_job(
        out,
        job,
        items,
        EpisodeWork(settings),
        workers=workers,
        ray=ray,
        retry_failed=True,
        replace_other_job=True,
        restart=(out / EVAL_INFO).exists(),
        progress=progress,
        desc="eval",
    )
    run_settings = {
        "seed": seed,
        "episodes_per_task": episodes,
        "replan_steps": replan_steps,
        "workers": workers,
        "ray": ray,
        "wall_time_s": summary.seconds,
    }
    info = build_eval_info(
        [_episode_record(r) for r in summary.records],
        policy=policy,
        run=run_settings,
        videos=settings.videos,
        tasks={task: {"env_id": TASK_IDS[task], "policy": meta} for task, meta in metadata.items()},
    )
    write_report(out, info)
    return info


def _episode_record(record: dict[str, Any]) -> EpisodeRecord:
    """An episode's record from the manifest; an episode whose worker failed counts as invalid,
    with the failure as its reason."""
    if record["status"] == "done":
        return EpisodeRecord(**record["result"]["record"])
    args = record["args"]
    return EpisodeRecord(
        task=args["task"],
        index=args["index"],
        seed=args["seed"],
        success=False,
        score=0.0,
        length=0,
        queries=0,
        invalid=True,
        instruction="",
        reason=record["error"] or "the episode failed",
    )


def _policy_metadata(settings: EvalSettings, task: str) -> dict[str, Any]:
    """Validated metadata of the policy for `task`, checked before any episode or write: a bad
    name, an unreachable server or a policy that breaks the protocol fails here."""
    policy = settings.make_policy(task)
    try:
        meta = check_metadata(policy.metadata())
    finally:
        getattr(policy, "close", lambda: None)()
    if settings.replan_steps is not None and settings.replan_steps > meta["action_horizon"]:
        raise ConfigError(
            f"--replan-steps {settings.replan_steps} exceeds the policy's action horizon "
            f"{meta['action_horizon']} on task {task!r}"
        )
    return meta
