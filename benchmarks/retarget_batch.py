"""Batch scaling: `mimicsim retarget-batch` with 2 worker processes against 1, on the same clips.

Run: .venv/bin/python benchmarks/retarget_batch.py [--clips 48] [--seconds 15] [--robot g1]

Writes procedural clips (walks, turns, squats; `--seconds` long each) to a temporary folder, runs
the command as a user would (a fresh process: start-up, robot model, retarget, evaluate, save)
with --workers 1 and then --workers 2 into fresh output folders, and prints wall time, frames/s
and the speed-up, next to the speed-up a plain CPU-bound loop gets on the machine at the same
time (other jobs on a shared machine lower both). The command's start-up (imports and building
the robot model, about 1.3 s) is paid once with either setting, so small batches gain less: on 16
clips the speed-up is about 1.6x.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mimicsim.retarget.human.formats.npz import save_npz
from mimicsim.retarget.human.procedural import Body, Squat, Stand, Turn, Walk, generate


def write_clips(folder: Path, count: int, seconds: float) -> None:
    for i in range(count):
        walk = seconds / 3
        actions = [
            Stand(0.5),
            Walk(duration=walk, turn=30.0 * (i % 5 - 2)),
            Turn(45.0 + 10 * i),
            Squat(duration=2.4),
            Walk(duration=walk),
        ]
        motion = generate(actions, body=Body(height=1.55 + 0.025 * (i % 12)), name=f"clip{i}")
        save_npz(motion, folder / f"clip{i:02d}.npz")


def _spin(n: int) -> int:
    x = 0
    for i in range(n):
        x += i * i
    return x


def machine_parallelism(n: int = 10_000_000) -> float:
    """Speed-up of a pure CPU-bound loop in 2 processes over 1: what the machine can give right now
    (other jobs on a shared machine take cores away)."""
    with ProcessPoolExecutor(2) as pool:
        pool.submit(_spin, 10).result()
        start = time.perf_counter()
        _spin(n)
        _spin(n)
        serial = time.perf_counter() - start
        start = time.perf_counter()
        list(pool.map(_spin, [n, n]))
        return serial / (time.perf_counter() - start)


def run_cli(clips: Path, out: Path, robot: str, workers: int) -> tuple[float, int]:
    """Wall seconds of one `retarget-batch` command and the frames it retargeted."""
    command = [
        sys.executable,
        "-m",
        "mimicsim.cli",
        "retarget-batch",
        str(clips),
        "--robot",
        robot,
        "--out",
        str(out),
        "--workers",
        str(workers),
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    with sqlite3.connect(out / "manifest.sqlite") as db:
        done, frames = db.execute("SELECT COUNT(*), SUM(frames) FROM clips WHERE status = 'done'").fetchone()
    if done != len(list(clips.iterdir())):
        raise SystemExit(f"--workers {workers}: only {done} clips retargeted; see {out}/manifest.sqlite")
    return seconds, int(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the walking part of each clip")
    parser.add_argument("--robot", default="g1")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clips = Path(tmp) / "clips"
        clips.mkdir()
        write_clips(clips, args.clips, args.seconds)
        times = {}
        for workers in (1, 2):
            times[workers], frames = run_cli(clips, Path(tmp) / f"out{workers}", args.robot, workers)
            print(
                f"--workers {workers}: {args.clips} clips, {frames} frames in {times[workers]:.1f} s "
                f"({frames / times[workers]:.0f} frames/s, load average {os.getloadavg()[0]:.1f})"
            )
        print(
            f"speed-up 2 workers vs 1: {times[1] / times[2]:.2f}x "
            f"(a CPU-bound loop in 2 processes vs 1 on this machine now: {machine_parallelism():.2f}x)"
        )


if __name__ == "__main__":
    main()
