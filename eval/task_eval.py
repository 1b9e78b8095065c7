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

import concurrent.futures as cf
import importlib
import multiprocessing
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

from mimicsim.envs.manipulation.chunking import ActionChunking
from mimicsim.envs.manipulation.registration import TASK_IDS, register_manipulation_envs
from mimicsim.errors import ConfigError, MimicsimError
from mimicsim.eval.episodes import EpisodeRecord, FrameRecorder, episode_seed, run_episode
from mimicsim.eval.report import build_eval_info, video_name, write_report
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
    """

    policy: str = "expert"
    replan_steps: int | None = None
    timeout: float = 30.0
    videos: int = 2


@dataclass(frozen=True)
class Job:
    task: str
    env_id: str
    index: int
    seed: int


@dataclass(frozen=True)
class Outcome:
    record: EpisodeRecord
    video: bytes | None


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


def make_policy(spec: str, task: str, *, timeout: float = 30.0) -> Policy:
    """The policy named by `spec` for `task` (see the module docstring for the forms of `spec`)."""
    if spec == "expert":
        from mimicsim.policies.manipulation.experts import make_expert

        return make_expert(task)
    if spec.startswith(("ws://", "wss://")):
        from mimicsim.policies.manipulation.remote import RemotePolicy

        return RemotePolicy(spec, timeout=timeout)
    if ":" in spec and not spec.startswith(":"):
        module, _, name = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"policy {spec!r}: cannot import {name!r} from {module!r} ({exc})") from exc
        return factory(task)
    raise ConfigError(f"unknown policy {spec!r}; use 'expert', 'ws://host:port' or 'package.module:factory'")


def make_env(env_id: str, meta: dict[str, Any], replan_steps: int, *, record: bool) -> gym.Env:
    """The task environment as the policy described by `meta` needs it: only its cameras at its
    image size, rendered only at query steps (every `replan_steps`), privileged state if asked."""
    kwargs: dict[str, Any] = {
        "cameras": tuple(meta["cameras"]),
        "render_every": replan_steps,
        "privileged": meta["privileged"],
    }
    if meta["image_size"] is not None:
        kwargs["image_size"] = tuple(meta["image_size"])
    if record:
        kwargs["render_mode"] = "rgb_array"
    register_manipulation_envs()
    return gym.make(env_id, **kwargs)


class Worker:
    """Runs episodes; keeps one environment and one policy per task between episodes."""

    def __init__(self, settings: EvalSettings):
        self.settings = settings
        self._cache: dict[str, tuple[FrameRecorder, ActionChunking, Policy, dict[str, Any]]] = {}

    def run(self, job: Job) -> Outcome:
        recorder, env, policy, meta = self._prepared(job)
        recorder.recording = job.index < self.settings.videos
        record = run_episode(env, policy, task=job.task, index=job.index, seed=job.seed, action_dim=meta["action_dim"])
        video = _encode_mp4(recorder.frames, recorder.metadata.get("render_fps", 20)) if recorder.recording else None
        recorder.frames = []
        return Outcome(record, video)

    def close(self) -> None:
        for recorder, _, policy, _ in self._cache.values():
            recorder.close()
            getattr(policy, "close", lambda: None)()
        self._cache.clear()

    def _prepared(self, job: Job) -> tuple[FrameRecorder, ActionChunking, Policy, dict[str, Any]]:
        task = job.task
        if task not in self._cache:
            policy = make_policy(self.settings.policy, task, timeout=self.settings.timeout)
            meta = check_metadata(policy.metadata())
            replan_steps = self.settings.replan_steps or meta["action_horizon"]
            recorder = FrameRecorder(make_env(job.env_id, meta, replan_steps, record=self.settings.videos > 0))
            env = ActionChunking(recorder, meta["action_horizon"], replan_steps)
            self._cache[task] = (recorder, env, policy, meta)
        return self._cache[task]


def _encode_mp4(frames: list, fps: float) -> bytes:
    from mimicsim.rendering import video_writer

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "episode.mp4"
        with video_writer(path, fps) as writer:
            for frame in frames:
                writer.append_data(frame)
        return path.read_bytes()


# ------------------------------------------------------------------------------------ executors

_PROCESS_WORKER: Worker | None = None


def _init_process(settings: EvalSettings) -> None:
    global _PROCESS_WORKER
    _PROCESS_WORKER = Worker(settings)


def _run_in_process(job: Job) -> Outcome:
    assert _PROCESS_WORKER is not None
    return _PROCESS_WORKER.run(job)


def _run_local(jobs: list[Job], settings: EvalSettings, workers: int) -> Iterator[Outcome]:
    if workers == 1:
        worker = Worker(settings)
        try:
            yield from (worker.run(job) for job in jobs)
        finally:
            worker.close()
        return
    # spawn, not fork: a forked child would inherit the parent's OpenGL and thread state.
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_init_process, initargs=(settings,)) as pool:
        futures = [pool.submit(_run_in_process, job) for job in jobs]
        try:
            for future in cf.as_completed(futures):
                yield future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _start_ray(address: str, workers: int) -> bool:
    """Connect to (or start) Ray unless this process already has; True when started here."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"--ray needs the ray package ({exc})") from exc
    if ray.is_initialized():
        return False
    try:
        if address == "local":
            ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except Exception as exc:  # ConnectionError, bad address, failed start: all fixable by the user
        raise MimicsimError(f"cannot start or reach Ray at {address!r}: {exc}") from exc
    return True


def _stop_ray() -> None:
    import ray

    ray.shutdown()


def _run_ray(jobs: list[Job], settings: EvalSettings) -> Iterator[Outcome]:
    """One actor per CPU of the cluster (at most one per job), each a `Worker`."""
    import ray
    from ray.util import ActorPool

    count = min(len(jobs), max(1, int(ray.cluster_resources().get("CPU", 1))))
    actors = [ray.remote(num_cpus=1)(Worker).remote(settings) for _ in range(count)]
    try:
        yield from ActorPool(actors).map_unordered(lambda actor, job: actor.run.remote(job), jobs)
    finally:
        for actor in actors:
            ray.kill(actor)


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
        progress: Show a progress bar.
    """
    from tqdm import tqdm

    names = parse_tasks(tasks)
    if episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {episodes}")
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if ray is not None and workers > 1 and ray != "local":
        raise ConfigError("give either --workers N (local processes) or --ray ADDRESS, not both")
    if replan_steps is not None and replan_steps < 1:
        raise ConfigError(f"--replan-steps must be at least 1, got {replan_steps}")
    settings = EvalSettings(policy=policy, replan_steps=replan_steps, timeout=timeout, videos=max(0, videos))
    metadata = {task: _policy_metadata(settings, task) for task in names}

    jobs = [Job(task, TASK_IDS[task], i, episode_seed(seed, i)) for task in names for i in range(episodes)]
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    ray_started_here = ray is not None and _start_ray(ray, workers)
    try:
        running = _run_ray(jobs, settings) if ray is not None else _run_local(jobs, settings, min(workers, len(jobs)))
        with tqdm(total=len(jobs), desc="eval", unit="episode", disable=not progress) as bar:
            for outcome in running:
                outcomes.append(outcome)
                bar.set_postfix_str(f"{outcome.record.task} #{outcome.record.index}")
                bar.update()
    finally:
        if ray_started_here:
            _stop_ray()
    wall_time = time.perf_counter() - started

    run_settings = {
        "seed": seed,
        "episodes_per_task": episodes,
        "replan_steps": replan_steps,
        "workers": workers,
        "ray": ray,
        "wall_time_s": wall_time,
    }
    info = build_eval_info(
        [o.record for o in outcomes],
        policy=policy,
        run=run_settings,
        videos=settings.videos,
        tasks={task: {"env_id": TASK_IDS[task], "policy": meta} for task, meta in metadata.items()},
    )
    write_report(Path(out), info, {video_name(o.record): o.video for o in outcomes if o.video is not None})
    return info


def _policy_metadata(settings: EvalSettings, task: str) -> dict[str, Any]:
    """Validated metadata of the policy for `task`, checked before any episode or write: a bad
    name, an unreachable server or a policy that breaks the protocol fails here."""
    policy = make_policy(settings.policy, task, timeout=settings.timeout)
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
