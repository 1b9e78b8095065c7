"""`mimicsim retarget-batch`: retarget every motion file under a folder, resumably.

The output folder holds one npz per clip (written atomically: a killed job never leaves a file
that looks complete) and `manifest.sqlite`, the record of every clip's state. Only this process
writes the manifest; workers (local processes or Ray tasks) just retarget and write their npz.
Rerunning the same command after a kill skips clips marked done and redoes the rest, so every
clip is retargeted to exactly one output; clips that failed are reported with their reason and
retried only with `retry_failed`.
"""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mimicsim.errors import ConfigError, MimicsimError

MOTION_SUFFIXES = (".npy", ".npz", ".bvh")
MANIFEST = "manifest.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clips (
    source TEXT PRIMARY KEY,      -- path relative to the input folder
    output TEXT NOT NULL,         -- path relative to the output folder
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    frames INTEGER, seconds REAL, error TEXT, quality TEXT, updated REAL
);
"""


@dataclass(frozen=True)
class ClipResult:
    source: str
    ok: bool
    frames: int = 0
    seconds: float = 0.0
    error: str = ""
    quality: dict[str, Any] | None = None


@dataclass(frozen=True)
class BatchSummary:
    done: int
    failed: int
    skipped: int
    """Clips already done by an earlier run."""
    frames: int
    seconds: float
    failures: list[tuple[str, str]]


def discover(directory: Path) -> list[Path]:
    """Motion files under `directory` (recursive, sorted), by extension."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: not a folder of motion files")
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and p.suffix.lower() in MOTION_SUFFIXES and not p.name.startswith(".")
    )


def output_names(sources: list[Path], directory: Path) -> dict[str, str]:
    """Relative source path -> relative npz path; sources differing only in extension keep it."""
    rel = [p.relative_to(directory) for p in sources]
    plain = [r.with_suffix(".npz") for r in rel]
    taken = {p: plain.count(p) for p in plain}
    return {
        str(r): str(p if taken[p] == 1 else r.with_name(f"{r.stem}_{r.suffix[1:]}.npz")) for r, p in zip(rel, plain)
    }


class Manifest:
    """The SQLite record of a batch; every change is one committed transaction."""

    def __init__(self, path: Path):
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def check_job(self, job: dict[str, Any]) -> None:
        """The folder must belong to the same job (robot and settings); claim it if new."""
        text = json.dumps(job, sort_keys=True)
        row = self.db.execute("SELECT value FROM meta WHERE key = 'job'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('job', ?)", (text,))
        elif row[0] != text:
            theirs = json.loads(row[0])
            diff = sorted(k for k in set(job) | set(theirs) if job.get(k) != theirs.get(k))
            raise ConfigError(
                f"{self.path.parent} holds a batch run with different settings ({', '.join(diff)}); "
                "use another --out folder or the same settings"
            )

    def add(self, outputs: dict[str, str]) -> None:
        with self._transaction():
            self.db.executemany(
                "INSERT OR IGNORE INTO clips (source, output, status) VALUES (?, ?, 'pending')", list(outputs.items())
            )

    def todo(self, retry_failed: bool) -> list[tuple[str, str]]:
        states = ("pending", "failed") if retry_failed else ("pending",)
        marks = ",".join("?" * len(states))
        return self.db.execute(
            f"SELECT source, output FROM clips WHERE status IN ({marks}) ORDER BY source", states
        ).fetchall()

    def count(self, status: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM clips WHERE status = ?", (status,)).fetchone()[0])

    def record(self, result: ClipResult) -> None:
        with self._transaction():
            self.db.execute(
                "UPDATE clips SET status = ?, attempts = attempts + 1, frames = ?, seconds = ?, error = ?, "
                "quality = ?, updated = ? WHERE source = ?",
                (
                    "done" if result.ok else "failed",
                    result.frames,
                    result.seconds,
                    result.error or None,
                    json.dumps(result.quality) if result.quality is not None else None,
                    time.time(),
                    result.source,
                ),
            )

    def records(self) -> list[dict[str, Any]]:
        """Every clip: source, output (None unless done), status, error and quality (when recorded)."""
        rows = self.db.execute("SELECT source, output, status, error, quality FROM clips ORDER BY source").fetchall()
        return [
            {
                "source": s,
                "output": o if status == "done" else None,
                "status": status,
                "error": e,
                **({"quality": json.loads(q)} if q else {}),
            }
            for s, o, status, e, q in rows
        ]

    def failures(self) -> list[tuple[str, str]]:
        return self.db.execute("SELECT source, error FROM clips WHERE status = 'failed' ORDER BY source").fetchall()

    def _transaction(self) -> Any:
        db = self.db

        class _Tx:
            def __enter__(self) -> None:
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type: Any, *_: Any) -> None:
                db.execute("ROLLBACK" if exc_type else "COMMIT")

        return _Tx()


# --- the work on one clip (runs in a worker process or a Ray task) ------------------------------

_ROBOTS: dict[str, Any] = {}


def retarget_clip(
    source: str, output: str, directory: str, out: str, robot: str, config: dict[str, Any], read: dict[str, Any]
) -> ClipResult:
    """Load (with `ReadOptions` fields `read`), retarget, evaluate and save one clip; every error
    becomes a failed `ClipResult`."""
    from mimicsim.retarget.human.read_options import ReadOptions
    from mimicsim.retarget.quality import with_quality
    from mimicsim.retarget.retargeter import config_from_dict, retarget
    from mimicsim.retarget.robot_motion import save

    start = time.perf_counter()
    try:
        spec = _robot(robot)
        human = ReadOptions.from_dict(read).load(Path(directory) / source)
        motion = with_quality(retarget(human, spec, config_from_dict(config)), spec)
        save(motion, Path(out) / output)
        return ClipResult(source, True, motion.num_frames, time.perf_counter() - start, quality=motion.quality)
    except Exception as exc:  # a bad clip must not stop the batch: keep its reason and go on
        return failure(source, start, exc)


def _robot(name: str) -> Any:
    """The robot's `RobotSpec`, built once per process (compiling its meshes takes about a second)."""
    from mimicsim.assets import load_robot

    if name not in _ROBOTS:
        _ROBOTS[name] = load_robot(name)
    return _ROBOTS[name]


def failure(source: str, start: float, exc: Exception) -> ClipResult:
    """A failed `ClipResult`: a user-fixable error's message, else the exception and where it arose."""
    if isinstance(exc, MimicsimError):
        error = str(exc)
    else:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        error = f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"
    return ClipResult(source, False, seconds=time.perf_counter() - start, error=error)


def _limit_threads() -> None:
    """One BLAS thread per worker: N workers on N cores must not each start N threads."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


# --- runners -----------------------------------------------------------------------------------

Job = tuple[str, str]
Runner = Callable[[list[Job]], Iterator[ClipResult]]


Work = Callable[..., ClipResult]
"""A top-level (picklable) function `work(source, output, *work_args) -> ClipResult`."""


def make_runner(
    work: Work,
    work_args: tuple[Any, ...],
    *,
    workers: int = 1,
    ray_address: str | None = None,
    preload: tuple[str, ...] = (),
) -> Runner:
    """Run `work` over jobs in this process (workers=1), in local worker processes, or as Ray tasks.
    `preload`: modules imported in this process before the local workers fork from it."""
    if ray_address is not None:
        return _ray(work, work_args, ray_address, workers)
    if workers > 1:
        return _processes(work, work_args, workers, preload)
    return _inline(work, work_args)


def _inline(work: Work, work_args: tuple[Any, ...]) -> Runner:
    def run(jobs: list[Job]) -> Iterator[ClipResult]:
        for source, output in jobs:
            yield work(source, output, *work_args)

    return run


def _processes(work: Work, work_args: tuple[Any, ...], workers: int, preload: tuple[str, ...]) -> Runner:
    def run(jobs: list[Job]) -> Iterator[ClipResult]:
        _limit_threads()
        # Workers fork from this process and inherit what it imported and built (modules, compiled
        # robot models): a fresh interpreter per worker would spend seconds on MuJoCo, SciPy and
        # mesh compilation before its first clip, which on a short batch eats the second core's gain.
        for module in preload:
            importlib.import_module(module)
        context = get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pending = {pool.submit(work, s, o, *work_args): s for s, o in jobs}
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    source = pending.pop(future)
                    try:
                        yield future.result()
                    except Exception as exc:  # the worker process died (e.g. killed); others go on
                        yield ClipResult(source, False, error=f"worker process failed: {type(exc).__name__}: {exc}")

    return run


def _ray(work: Work, work_args: tuple[Any, ...], address: str, workers: int) -> Runner:
    def run(jobs: list[Job]) -> Iterator[ClipResult]:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError(f"--ray needs the ray package ({exc})") from None
        started_here = not ray.is_initialized()
        if started_here:
            _limit_threads()
            if address == "local":
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
        try:
            task = ray.remote(num_cpus=1)(work)
            pending = {task.remote(s, o, *work_args): s for s, o in jobs}
            while pending:
                finished, _ = ray.wait(list(pending), num_returns=1)
                for ref in finished:
                    source = pending.pop(ref)
                    try:
                        yield ray.get(ref)
                    except Exception as exc:  # a task or its worker died
                        yield ClipResult(source, False, error=f"ray task failed: {type(exc).__name__}: {exc}")
        finally:
            if started_here:
                ray.shutdown()

    return run


def process_folder(
    sources: list[Path],
    directory: Path,
    out: Path,
    job: dict[str, Any],
    work: Work,
    work_args: tuple[Any, ...],
    *,
    workers: int = 1,
    ray_address: str | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    desc: str = "batch",
    preload: tuple[str, ...] = (),
    warm: Callable[[], object] | None = None,
) -> BatchSummary:
    """The bookkeeping every folder job shares (`retarget-batch`, `refine-batch`): claim `out` for
    `job` in its manifest, run `work` (see `make_runner`) on each source not yet done, record each
    result as it arrives, and show progress.

    Args:
        sources: Files under `directory`; each clip's output is named by `output_names`.
        job: What identifies the job (JSON-able): rerunning into `out` with another job is refused.
        warm: Called once before local work starts, e.g. to build what the work shares, so that the
            inline run uses it and forked workers inherit it.
    """
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    out.mkdir(parents=True, exist_ok=True)
    for leftover in out.rglob(".*.part*"):  # half-written files of a killed run; never outputs
        leftover.unlink(missing_ok=True)
    manifest = Manifest(out / MANIFEST)
    try:
        manifest.check_job(job)
        manifest.add(output_names(sources, directory))
        skipped = manifest.count("done")
        jobs = manifest.todo(retry_failed)
        if jobs and warm is not None and ray_address is None:
            warm()
        runner = make_runner(work, work_args, workers=workers, ray_address=ray_address, preload=preload)
        done = failed = frames = 0
        start = time.perf_counter()
        with tqdm(total=len(jobs), desc=desc, unit="clip", disable=not progress) as bar:
            for result in runner(jobs):
                manifest.record(result)
                done += result.ok
                failed += not result.ok
                frames += result.frames
                bar.set_postfix(done=done, failed=failed, frames=frames)
                bar.update()
        return BatchSummary(done, failed, skipped, frames, time.perf_counter() - start, manifest.failures())
    finally:
        manifest.close()


def run_batch(
    directory: Path,
    out: Path,
    robot: str,
    config: dict[str, Any] | None = None,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    read: dict[str, Any] | None = None,
) -> BatchSummary:
    """Retarget every motion under `directory` into `out` (see the module docstring).

    Args:
        config: `RetargetConfig` fields as a dict (JSON-able; stored in the manifest).
        read: `ReadOptions` fields for every file, as a dict (`ReadOptions.to_dict`; stored too).
        workers: Local processes (1: this process). With Ray, the number of CPUs of a local cluster.
        ray_address: Run as Ray tasks: "auto" (a running cluster), "ray://host:port", or "local" to
            start a private local cluster.
    """
    from mimicsim.assets import robot_config

    robot = robot_config(robot).name  # validates the name before any work
    config = dict(config or {})
    read = dict(read or {})
    directory, out = directory.resolve(), out.resolve()
    return process_folder(
        discover(directory),
        directory,
        out,
        {"robot": robot, "config": config, "source": str(directory), "read": read},
        retarget_clip,
        (str(directory), str(out), robot, config, read),
        workers=workers,
        ray_address=ray_address,
        retry_failed=retry_failed,
        progress=progress,
        desc=f"retarget {robot}",
        warm=lambda: _robot(robot),
        preload=("mimicsim.retarget.retargeter", "mimicsim.retarget.quality", "mimicsim.retarget.human.read_options"),
    )
