"""Retargeting speed: frames per second per robot on one core, all limits and collision avoidance
on, on the procedural clips and on every clip in ../shared/motions; the closing table puts CMU
01_01 at 30 fps (the clip and rate GMR is measured on) beside the all-clips figure.

Run: .venv/bin/python benchmarks/retarget_speed.py [--robots g1,h1,h1_2] [--repeats 2]

"wall" is elapsed time; "cpu" is this process's CPU time, which is what one core delivers when
other jobs share the machine. Each clip is retargeted once to warm up (the robot's collision
model is built once per process), then timed; the robot model is loaded outside the timing.
"""

from __future__ import annotations

import argparse
import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one core means one BLAS thread too

import time  # noqa: E402

from retarget_clips import CMU_30, all_clips  # noqa: E402

from mimicsim.assets import load_robot, robot_names  # noqa: E402
from mimicsim.retarget.retargeter import retarget  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--robots", default=",".join(robot_names()))
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per clip (the best is kept)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    clips = all_clips()
    print(f"{'robot':<6} {'clip':<48} {'frames':>6} {'src fps':>7} {'wall f/s':>9} {'cpu f/s':>8}")
    summary = []
    for robot in args.robots.split(","):
        spec = load_robot(robot)
        total_frames, total_wall, total_cpu = 0, 0.0, 0.0
        cmu = None
        for name, motion in clips.items():
            retarget(motion, spec)  # warm-up
            best_wall = best_cpu = float("inf")
            for _ in range(args.repeats):
                wall, cpu = time.perf_counter(), time.process_time()
                out = retarget(motion, spec)
                best_wall = min(best_wall, time.perf_counter() - wall)
                best_cpu = min(best_cpu, time.process_time() - cpu)
            total_frames += out.num_frames
            total_wall += best_wall
            total_cpu += best_cpu
            if name == CMU_30:
                cmu = (out.num_frames / best_wall, out.num_frames / best_cpu)
            print(
                f"{robot:<6} {name:<48} {out.num_frames:>6} {motion.fps:>7.0f} "
                f"{out.num_frames / best_wall:>9.0f} {out.num_frames / best_cpu:>8.0f}"
            )
        print(
            f"{robot:<6} {'ALL CLIPS':<48} {total_frames:>6} {'':>7} {total_frames / total_wall:>9.0f} "
            f"{total_frames / total_cpu:>8.0f}\n"
        )
        summary.append((robot, cmu, (total_frames / total_wall, total_frames / total_cpu)))
    print(f"{'robot':<6} {'CMU 01_01 @ 30 fps, wall / cpu f/s':>36} {'all clips, wall / cpu f/s':>28}")
    for robot, cmu, every in summary:
        first = f"{cmu[0]:.0f} / {cmu[1]:.0f}" if cmu else "- (no ../shared/motions)"
        print(f"{robot:<6} {first:>36} {f'{every[0]:.0f} / {every[1]:.0f}':>28}")


if __name__ == "__main__":
    main()
