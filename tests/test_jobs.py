"""The job engine: the same results from every runner, failure isolation, resuming, the folder
lock, Ctrl-C and workers that die with their parent."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from job_works import Draw, SpawnedDraw

from mimicsim.errors import ConfigError, InputFileError
from mimicsim.jobs import run_job
from mimicsim.manifest import MANIFEST, FolderLock

ITEMS = {f"item{i:02d}": {"seed": i} for i in range(6)}
TESTS = Path(__file__).resolve().parent


def _values(summary) -> dict[str, float]:
    return {r["key"]: r["result"]["value"] for r in summary.records if r["status"] == "done"}


def _run(out: Path, work=None, items=ITEMS, **kwargs):
    return run_job(out, {"job": "draw"}, items, work or Draw(), progress=False, **kwargs)


def test_inline_processes_and_ray_give_identical_results(tmp_path):
    inline = _run(tmp_path / "inline")
    forked = _run(tmp_path / "forked", workers=2)
    spawned = _run(tmp_path / "spawned", SpawnedDraw(), workers=2)
    ray = pytest.importorskip("ray")
    try:  # Ray's workers import the test's work from the tests folder
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(TESTS)}},
        )
    except Exception as exc:  # no shared memory, no ports, ...
        pytest.skip(f"Ray cannot start here: {exc}")
    try:
        on_ray = _run(tmp_path / "ray", ray="auto")
    finally:
        ray.shutdown()
    assert len(_values(inline)) == len(ITEMS)
    for other in (forked, spawned, on_ray):
        assert _values(other) == _values(inline)
        assert (other.done, other.failed, other.units) == (len(ITEMS), 0, len(ITEMS))
    for name in ("forked", "spawned", "ray"):
        for key in ITEMS:
            assert (tmp_path / name / f"{key}.txt").read_bytes() == (tmp_path / "inline" / f"{key}.txt").read_bytes()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_item_is_recorded_with_its_reason_and_the_rest_go_on(tmp_path, workers):
    summary = _run(tmp_path, items={**ITEMS, "bad": {"seed": 0}}, workers=workers)
    assert (summary.done, summary.failed) == (len(ITEMS), 1)
    [(key, error)] = summary.failures
    assert key == "bad" and error.startswith("ValueError: this item is bad (at job_works.py:")
    assert not (tmp_path / "bad.txt").exists()


def test_a_worker_that_dies_fails_only_its_item_and_is_replaced(tmp_path):
    summary = _run(tmp_path, items={**ITEMS, "crash": {"seed": 0}}, workers=2)
    assert (summary.done, summary.failed) == (len(ITEMS), 1)
    assert summary.failures == [("crash", "worker process died (signal SIGKILL)")]


def test_a_rerun_does_only_what_is_left_and_retries_failures_on_request(tmp_path):
    first = _run(tmp_path, items={**ITEMS, "bad": {"seed": 0}})
    again = _run(tmp_path, items={**ITEMS, "bad": {"seed": 0}, "new": {"seed": 9}})
    assert (again.done, again.failed, again.skipped) == (1, 0, len(ITEMS))
    retried = _run(tmp_path, items={**ITEMS, "bad": {"seed": 0}, "new": {"seed": 9}}, retry_failed=True)
    assert (retried.done, retried.failed, retried.skipped) == (0, 1, len(ITEMS) + 1)
    attempts = {r["key"]: r["attempts"] for r in retried.records}
    assert attempts["bad"] == 2 and all(attempts[k] == 1 for k in ITEMS)
    assert _values(first) == {k: v for k, v in _values(retried).items() if k in ITEMS}


def test_another_job_in_the_folder_is_refused_or_replaced(tmp_path):
    _run(tmp_path)
    with pytest.raises(ConfigError, match="different settings"):
        run_job(tmp_path, {"job": "other"}, ITEMS, Draw(), progress=False)
    replaced = run_job(tmp_path, {"job": "other"}, ITEMS, Draw(), progress=False, replace_other_job=True)
    assert (replaced.done, replaced.skipped) == (len(ITEMS), 0)


def test_a_second_run_on_a_folder_in_use_is_refused(tmp_path):
    with (
        FolderLock(tmp_path),
        pytest.raises(ConfigError, match=rf"in use by another mimicsim run \(pid {os.getpid()}\)"),
    ):
        _run(tmp_path)
    assert _run(tmp_path).done == len(ITEMS)  # released


def test_a_corrupt_manifest_is_one_clear_error(tmp_path):
    (tmp_path / MANIFEST).write_bytes(b"this is not a database" * 100)
    with pytest.raises(InputFileError, match=r"not a mimicsim manifest .* delete it to start the job over"):
        _run(tmp_path)


def test_an_unwritable_output_folder_is_refused_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot write to the output folder"):
        _run(blocker / "out")


def _start_job(tmp_path: Path, workers: int, seconds: float) -> subprocess.Popen:
    pids = tmp_path / "pids"
    pids.mkdir()
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        from pathlib import Path
        from job_works import Draw
        from mimicsim.jobs import run_job
        items = {{f"item{{i:02d}}": {{"seed": i}} for i in range(8)}}
        try:
            run_job(Path({str(tmp_path / "out")!r}), {{"job": "draw"}}, items,
                    Draw(seconds={seconds}, pid_folder={str(pids)!r}), workers={workers}, progress=False)
        except KeyboardInterrupt:
            sys.exit(130)
    """)
    return subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has exited
        return stat.read().split(") ")[-1][0] != "Z"


def test_workers_die_with_their_parent(tmp_path):
    parent = _start_job(tmp_path, workers=2, seconds=30.0)

    def workers() -> list[int]:  # with fork, the parent runs the set-up too before the workers do
        return [int(p.name) for p in (tmp_path / "pids").iterdir() if int(p.name) != parent.pid]

    _wait_for(lambda: len(workers()) == 2)
    pids = workers()
    parent.kill()
    parent.wait()
    _wait_for(lambda: not any(_alive(pid) for pid in pids), timeout=5.0)


def _rows(out: Path) -> dict[str, str]:
    with sqlite3.connect(out / MANIFEST) as db:
        try:
            return dict(db.execute("SELECT key, status FROM items"))
        except sqlite3.OperationalError:  # the job is still creating its tables
            return {}


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_records_the_finished_items_and_exits_130(tmp_path, workers):
    parent = _start_job(tmp_path, workers=workers, seconds=0.4)
    out = tmp_path / "out"
    _wait_for(lambda: (out / MANIFEST).exists() and "done" in _rows(out).values())
    parent.send_signal(signal.SIGINT)
    assert parent.wait(timeout=30) == 130, parent.stderr.read()
    rows = _rows(out)
    done = sorted(k for k, status in rows.items() if status == "done")
    assert done and len(done) < len(rows) and set(rows.values()) == {"done", "pending"}
    assert sorted(p.stem for p in out.glob("*.txt")) == done  # every finished item is recorded, and only those
