"""`retarget-batch`: failure isolation, resuming after a hard kill, worker processes and Ray."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mimicsim.errors import ConfigError
from mimicsim.manifest import MANIFEST
from mimicsim.retarget.batch import run_batch
from mimicsim.retarget.human.formats.npz import save_npz
from mimicsim.retarget.human.procedural import Body, Jump, Stand, Turn, Walk, generate
from mimicsim.retarget.robot_motion import load

GOOD = ("a_walk.npz", "b_turn.npz", "c_jump.npz", "nested/d_walk.npz", "nested/e_tall.npz")
BAD = "broken.npy"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    motions = [
        generate([Stand(0.2), Walk(duration=0.8)], name="walk"),
        generate([Stand(0.2), Turn(45.0, duration=0.8)], name="turn"),
        generate([Jump(height=0.1, duration=1.6)], name="jump"),
        generate([Walk(duration=0.8, turn=30.0)], name="arc", fps=20.0),
        generate([Walk(duration=0.8)], body=Body(height=1.9), name="tall"),
    ]
    for name, motion in zip(GOOD, motions, strict=True):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        save_npz(motion, root / name)
    np.save(root / BAD, np.zeros((7, 5)))  # not a motion
    return root


def _rows(out: Path) -> dict[str, tuple[str, int, str | None]]:
    with sqlite3.connect(out / MANIFEST) as db:
        return {s: (st, a, e) for s, st, a, e in db.execute("SELECT key, status, attempts, error FROM items")}


def _check_outputs(out: Path) -> None:
    for name in GOOD:
        motion = load(out / Path(name).with_suffix(".npz"))
        assert motion.robot == "g1" and motion.quality["passes"]
    assert not list(out.rglob(".*part*")), "half-written files left behind"
    assert len(list(out.rglob("*.npz"))) == len(GOOD)


def test_a_bad_clip_is_reported_and_the_rest_go_on(clips, tmp_path):
    summary = run_batch(clips, tmp_path, "g1", progress=False)
    assert (summary.done, summary.failed, summary.skipped) == (len(GOOD), 1, 0)
    [(source, error)] = summary.failures
    assert source == BAD and "broken.npy" in error and "shape (7, 5)" in error
    _check_outputs(tmp_path)
    rows = _rows(tmp_path)
    assert {s for s, (st, _, _) in rows.items() if st == "done"} == set(GOOD)
    again = run_batch(clips, tmp_path, "g1", progress=False)  # nothing left to do; failures stay failed
    assert (again.done, again.failed, again.skipped) == (0, 0, len(GOOD))


def test_a_batch_killed_midway_finishes_on_rerun_with_each_clip_once(clips, tmp_path):
    # The child process dies with SIGKILL in the middle of writing its third output file.
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        import mimicsim.jobs as jobs
        from mimicsim.atomic import atomic_path
        from mimicsim.retarget.batch import run_batch

        written = []
        real_write = jobs._write_files
        def write(out, result):
            written.extend(result.files)
            if len(written) == 3:
                [name] = result.files
                with atomic_path(out / name) as tmp:
                    tmp.write_bytes(b"half a file")
                    os.kill(os.getpid(), signal.SIGKILL)
            return real_write(out, result)
        jobs._write_files = write
        run_batch(Path({str(clips)!r}), Path({str(tmp_path)!r}), "g1", progress=False)
    """)
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert child.returncode == -9, child.stderr
    before = _rows(tmp_path)
    assert sum(st == "done" for st, _, _ in before.values()) == 2
    assert list(tmp_path.rglob(".*part*")), "the kill left a half-written temporary file"

    summary = run_batch(clips, tmp_path, "g1", progress=False)
    assert (summary.done, summary.skipped) == (len(GOOD) - 2, 2)
    _check_outputs(tmp_path)
    after = _rows(tmp_path)
    assert all(attempts == 1 for status, attempts, _ in after.values() if status == "done"), after
    assert after[BAD][0] == "failed"


def test_rerunning_with_other_settings_into_the_same_folder_is_refused(clips, tmp_path):
    run_batch(clips / "nested", tmp_path, "g1", progress=False)
    with pytest.raises(ConfigError, match="different settings"):
        run_batch(clips / "nested", tmp_path, "h1", progress=False)


def test_two_worker_processes(clips, tmp_path):
    summary = run_batch(clips, tmp_path, "g1", workers=2, progress=False)
    assert (summary.done, summary.failed) == (len(GOOD), 1)
    _check_outputs(tmp_path)


def test_ray_local_cluster(clips, tmp_path):
    ray = pytest.importorskip("ray")
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    except Exception as exc:  # e.g. no /dev/shm or sockets in a sandbox
        pytest.skip(f"a local Ray cluster cannot start here: {exc}")
    try:
        summary = run_batch(clips, tmp_path, "g1", ray_address="auto", progress=False)
    finally:
        ray.shutdown()
    assert (summary.done, summary.failed) == (len(GOOD), 1)
    _check_outputs(tmp_path)
