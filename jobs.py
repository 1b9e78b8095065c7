"""The job engine: every batch job (`retarget-batch`, `refine-batch`, `eval`, data collection,
dataset building) runs through it.

A job applies one `Work` to many `Item`s. The work is a small picklable object holding the job's
settings; `setup()` builds what every item needs (robots, trackers, policies, collision queries)
once per worker, and `run(item)` does one item and returns a `Result`: JSON-able data for the
record, and the item's output files as bytes. Workers never write into the output folder: the
process that owns the folder writes each result's files atomically and then records the item as
done, so whatever happens to a worker, no output is half written and no item is recorded twice.

Runners: this process (`workers=1`), local worker processes (`workers=N`), or Ray actors (`ray=`
"local", "auto" or an address). A failing item becomes a failed `Result` with its reason and the
others go on; a worker that dies fails only the item it held and is replaced. Local workers die
with their parent (parent-death signal, and a watchdog thread as a fallback), ignore Ctrl-C and
leave it to the parent: the first Ctrl-C stops handing out items, lets the running ones finish and
records them, then raises `KeyboardInterrupt` (the CLI exits 130); a second one stops at once.

`run_job` adds the bookkeeping of a job kept in a folder: an exclusive lock on the folder, the
manifest (resume: items already done are skipped), the output files and a progress bar.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Literal

from mimicsim.atomic import atomic_path
from mimicsim.errors import ConfigError, MimicsimError
from mimicsim.manifest import MANIFEST, FolderLock, Manifest, remove_partial_files


@dataclass(frozen=True)
class Item:
    key: str
    """Unique within the job (e.g. a source path relative to the input folder)."""
    args: dict[str, Any]
    """JSON-able: what the work needs to do this item (stored in the manifest)."""


@dataclass(frozen=True)
class Result:
    key: str
    ok: bool
    error: str = ""
    """Why the item failed, in one line."""
    units: int = 0
    """Work done, e.g. frames (shown by the progress bar, summed in the summary)."""
    data: dict[str, Any] = field(default_factory=dict)
    """JSON-able outcome kept in the manifest (quality report, episode record...)."""
    files: dict[str, bytes] = field(default_factory=dict)
    """Output files by path relative to the job's folder, written by the engine."""
    seconds: float = 0.0
    """Wall-clock time of `run`, measured by the engine."""


class Work:
    """What a job does to one item. Subclasses hold the job's settings as picklable attributes and
    keep what `setup` builds in attributes too (one instance per worker)."""

    start_method: ClassVar[Literal["fork", "spawn"]] = "fork"
    """How local workers start. "fork": `setup` runs once in the parent and forked workers inherit
    what it built (compiled robots: seconds saved per worker). "spawn": fresh interpreters, each
    running `setup` itself, for work whose state must not cross a fork (OpenGL contexts, ONNX
    Runtime and torch thread pools, sockets)."""
    item_name: ClassVar[str] = "item"
    unit_name: ClassVar[str] = "units"

    def setup(self) -> None:
        """Build what every item needs. Called once per worker before its first item; must be
        idempotent (a forked worker calls it again on what it inherited)."""

    def run(self, item: Item) -> Result:
        raise NotImplementedError

    def close(self) -> None:
        """Release what `setup` built (policies, servers, renderers)."""


def describe(exc: BaseException) -> str:
    """One line for a failed item: a user-fixable error's message, else the exception and where
    it arose."""
    if isinstance(exc, MimicsimError):
        return str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}".replace("\n", " ")


def run_one(work: Work, item: Item) -> Result:
    """`work.run(item)`, timed; an exception becomes a failed `Result` (a bad item must not stop
    the job)."""
    start = time.perf_counter()
    try:
        result = work.run(item)
    except Exception as exc:
        result = Result(item.key, False, error=describe(exc))
    return replace(result, seconds=time.perf_counter() - start)


# --- runners -------------------------------------------------------------------------------------

Stop = Callable[[], bool]


def run_items(
    work: Work, items: Sequence[Item], *, workers: int = 1, ray: str | None = None, stop: Stop = lambda: False
) -> Generator[Result, None, None]:
    """Results of `work` on `items` as they finish (in any order). `stop()` true: hand out no
    more items and end once the running ones are done."""
    if not items:
        return
    if ray is not None:
        yield from _run_ray(work, items, ray, workers, stop)
    elif workers > 1 and len(items) > 1:
        yield from _run_processes(work, items, min(workers, len(items)), stop)
    else:
        yield from _run_inline(work, items, stop)


def _run_inline(work: Work, items: Sequence[Item], stop: Stop) -> Iterator[Result]:
    work.setup()
    try:
        for item in items:
            if stop():
                return
            yield run_one(work, item)
    finally:
        work.close()


def limit_threads() -> None:
    """One BLAS/OpenMP thread per worker: N workers on N cores must not each start N threads."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """End this worker when the process that started it dies, however it dies (SIGKILL included):
    the kernel's parent-death signal where there is one, and a watchdog thread that notices being
    re-parented."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="mimicsim-parent-watch", daemon=True).start()


def _worker_main(conn: Connection, work: Work, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C means
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    setup_error = ""
    try:
        work.setup()
    except Exception as exc:
        setup_error = describe(exc)
    try:
        while True:
            try:
                item = conn.recv()
            except EOFError:
                break
            if item is None:
                break
            if setup_error:
                conn.send(Result(item.key, False, error=f"worker set-up failed: {setup_error}"))
            else:
                conn.send(run_one(work, item))
    finally:
        with contextlib.suppress(Exception):
            work.close()


class _Worker:
    """One local worker process and our end of its pipe."""

    def __init__(self, context: Any, work: Work):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, work, os.getpid()), daemon=True)
        self.process.start()
        child.close()
        self.item: Item | None = None

    def give(self, item: Item) -> bool:
        try:
            self.conn.send(item)
        except (BrokenPipeError, OSError):
            return False
        self.item = item
        return True

    def take(self) -> Result | None:
        """The result of its item, or None if the worker died without one."""
        try:
            result = self.conn.recv() if self.conn.poll() else None
        except (EOFError, OSError):
            return None
        if result is not None:
            self.item = None
        return result

    def death(self) -> str:
        self.process.join(timeout=1.0)
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"worker process died (signal {signal.Signals(-code).name})"
        return f"worker process died (exit status {code})"

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.send(None)
        self.process.join(timeout=2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=2.0)
        self.conn.close()


def _run_processes(work: Work, items: Sequence[Item], count: int, stop: Stop) -> Iterator[Result]:
    limit_threads()
    context = multiprocessing.get_context(work.start_method)
    if work.start_method == "fork":
        work.setup()
    queue = deque(items)
    pool = [_Worker(context, work) for _ in range(count)]
    try:
        while True:
            for i in range(len(pool)):
                while pool[i].item is None and queue and not stop():
                    item = queue.popleft()
                    if not pool[i].give(item):  # it died while idle: replace it and hand the item over again
                        queue.appendleft(item)
                        pool[i].stop()
                        pool[i] = _Worker(context, work)
            busy = [w for w in pool if w.item is not None]
            if not busy:
                return
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for i, worker in enumerate(pool):
                if worker.item is not None and ready & {worker.conn, worker.process.sentinel}:
                    result = worker.take()
                    if result is None:  # it died on its item: that item fails, a new worker takes its place
                        result = Result(worker.item.key, False, error=worker.death())
                        worker.stop()
                        pool[i] = _Worker(context, work)
                    yield result
    finally:
        for worker in pool:
            worker.stop()
        if work.start_method == "fork":
            work.close()


class _RayWorker:
    """A Ray actor holding one set-up `Work`."""

    def __init__(self, work: Work):
        limit_threads()
        self.work = work
        self.setup_error = ""
        try:
            work.setup()
        except Exception as exc:
            self.setup_error = describe(exc)

    def run(self, item: Item) -> Result:
        if self.setup_error:
            return Result(item.key, False, error=f"worker set-up failed: {self.setup_error}")
        return run_one(self.work, item)


def _run_ray(work: Work, items: Sequence[Item], address: str, workers: int, stop: Stop) -> Iterator[Result]:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"--ray needs the ray package ({exc})") from None
    started_here = not ray.is_initialized()
    if started_here:
        limit_threads()
        try:
            if address == "local":
                ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except Exception as exc:  # bad address, unreachable cluster, failed start: the user can fix it
            raise ConfigError(f"cannot start or reach Ray at {address!r}: {exc}") from None
    actor_class: Any = ray.remote(num_cpus=1)(_RayWorker)
    count = min(len(items), max(1, int(ray.cluster_resources().get("CPU", 1))))
    actors: list[Any] = [actor_class.remote(work) for _ in range(count)]
    idle = deque(actors)
    queue = deque(items)
    running: dict[Any, tuple[Any, Item]] = {}
    try:
        while True:
            while idle and queue and not stop():
                actor, item = idle.popleft(), queue.popleft()
                running[actor.run.remote(item)] = (actor, item)
            if not running:
                return
            [ref], _ = ray.wait(list(running), num_returns=1)
            actor, item = running.pop(ref)
            try:
                result = ray.get(ref)
                idle.append(actor)
            except Exception as exc:  # the task or its actor died: fail this item, replace the actor
                result = Result(item.key, False, error=f"ray worker failed: {_first_line(exc)}")
                with contextlib.suppress(Exception):
                    ray.kill(actor)
                actors.append(actor_class.remote(work))
                idle.append(actors[-1])
            yield result
    finally:
        for actor in actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        if started_here:
            ray.shutdown()


def _first_line(exc: BaseException) -> str:
    """Ray's errors span many lines with terminal colours; the first line says what happened."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", f"{type(exc).__name__}: {exc}")
    return text.strip().splitlines()[0]


# --- a job kept in a folder ----------------------------------------------------------------------


@dataclass(frozen=True)
class JobSummary:
    done: int
    failed: int
    skipped: int
    """Items done by an earlier run."""
    units: int
    seconds: float
    failures: list[tuple[str, str]]
    """(key, error) of every failed item, in this run or an earlier one."""
    records: list[dict[str, Any]]
    """Every item of the job: key, args, status, attempts, error, result (see `Manifest.records`)."""


def output_names(sources: list[Path], directory: Path) -> dict[str, str]:
    """Relative source path -> relative npz path; sources differing only in extension keep it."""
    rel = [p.relative_to(directory) for p in sources]
    plain = [r.with_suffix(".npz") for r in rel]
    taken = {p: plain.count(p) for p in plain}
    return {
        str(r): str(p if taken[p] == 1 else r.with_name(f"{r.stem}_{r.suffix[1:]}.npz"))
        for r, p in zip(rel, plain, strict=True)
    }


def _write_files(out: Path, result: Result) -> Result:
    """Write a successful result's files into the job's folder, each atomically; the result, or
    a failed one saying why its files could not be written."""
    try:
        for name, content in result.files.items() if result.ok else ():
            relative = PurePosixPath(name)
            if relative.is_absolute() or ".." in relative.parts:
                raise ValueError(f"output file {name!r} is outside the job's folder")
            with atomic_path(out / relative) as tmp:
                tmp.write_bytes(content)
    except (OSError, ValueError) as exc:
        return replace(result, ok=False, error=f"cannot write its output: {exc}")
    return result


@contextlib.contextmanager
def _interrupt_drains() -> Iterator[Stop]:
    """While active, the first Ctrl-C (SIGINT) only asks the job to stop (the returned callable
    turns true); a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    requested: list[bool] = []

    def handler(signum: int, frame: object) -> None:
        if requested:
            raise KeyboardInterrupt
        requested.append(True)
        print("\nmimicsim: interrupted; finishing the items in progress (Ctrl-C again to stop now)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(requested)
    finally:
        signal.signal(signal.SIGINT, previous)


def run_job(
    out: Path,
    job: dict[str, Any],
    items: dict[str, dict[str, Any]],
    work: Work,
    *,
    workers: int = 1,
    ray: str | None = None,
    retry_failed: bool = False,
    replace_other_job: bool = False,
    restart: bool = False,
    progress: bool = True,
    desc: str = "job",
) -> JobSummary:
    """Run `work` on every item of a job kept in the folder `out`, resuming an earlier run.

    Args:
        out: The job's folder: its lock, `manifest.sqlite` and the items' output files.
        job: What identifies the job (JSON-able); a folder holding another job is refused.
        items: Item key -> JSON-able arguments.
        replace_other_job: Start over instead of refusing a folder that holds another job.
        restart: Start over even if the folder holds this job.
        retry_failed: Also redo items that failed in an earlier run.

    Raises:
        ConfigError: the folder is unwritable, in use by another run, or holds another job.
        KeyboardInterrupt: after Ctrl-C, once the finished items are recorded.
    """
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    with FolderLock(out):
        remove_partial_files(out)
        manifest = Manifest(out / MANIFEST)
        try:
            if restart:
                manifest.clear()
            manifest.claim(job, replace=replace_other_job)
            manifest.add(items)
            skipped = manifest.count("done")
            todo = [Item(key, args) for key, args in manifest.todo(retry_failed)]
            done = failed = units = 0
            start = time.perf_counter()
            with (
                _interrupt_drains() as stop,
                _progress(len(todo), desc, work.item_name, progress) as bar,
                contextlib.closing(run_items(work, todo, workers=workers, ray=ray, stop=stop)) as results,
            ):
                for finished in results:
                    result = _write_files(out, finished)
                    manifest.record(
                        result.key,
                        result.ok,
                        units=result.units,
                        seconds=result.seconds,
                        error=result.error,
                        result=result.data,
                    )
                    done += result.ok
                    failed += not result.ok
                    units += result.units
                    bar.set_postfix({"done": done, "failed": failed, work.unit_name: units})
                    bar.update()
                if stop():
                    raise KeyboardInterrupt
            seconds = time.perf_counter() - start
            records = manifest.records()
        finally:
            manifest.close()
    failures = [(r["key"], r["error"] or "") for r in records if r["status"] == "failed"]
    return JobSummary(done, failed, skipped, units, seconds, failures, records)


def _progress(total: int, desc: str, item_name: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=item_name, disable=not enabled)
