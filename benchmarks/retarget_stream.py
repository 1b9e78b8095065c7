"""Streaming retargeting: per-frame latency on one core, and how far the streamed robot is from the
offline retarget of the same clip, on the procedural clips and every clip in ../shared/motions.

Run: .venv/bin/python benchmarks/retarget_stream.py [--robots g1,h1,h1_2] [--clips N]

Each clip is retargeted offline (`retarget`) and streamed frame by frame (`stream(...).push`), the
two alternating clip by clip so machine load hits both alike. Latency is per pushed frame, after
the first (the first frame calibrates and settles from the standing pose; its time is shown
apart), as wall-clock and as this process's CPU time (what one core delivers when other jobs share
the machine). "kp dist" is the distance between the streamed and the offline robot's keypoints
(mean and 95th percentile over frames and keypoints); "gnd>1cm" counts streamed frames with
ground penetration deeper than 1 cm; "kp err" is the streamed robot's error against its own
targets, as the quality report measures it. Bars: median <= 3 ms, p99 <= 10 ms (G1, one core,
idle machine; over all clips), and on every robot and clip kp dist mean <= 20 mm and gnd>1cm = 0
("bars" says which of the two a clip misses).
"""

from __future__ import annotations

import argparse
import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one core means one BLAS thread too

import time  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from retarget_clips import all_clips  # noqa: E402

from mimicsim.assets import RobotSpec, load_robot  # noqa: E402
from mimicsim.retarget.quality import evaluate  # noqa: E402
from mimicsim.retarget.retargeter import retarget  # noqa: E402
from mimicsim.retarget.robot_motion import RobotMotion  # noqa: E402
from mimicsim.retarget.stream import stream  # noqa: E402

BAR_DISTANCE_MM = 20.0


def keypoints(motion: RobotMotion, spec: RobotSpec, names: tuple[str, ...]) -> np.ndarray:
    """(T, K, 3) the robot's keypoint sites along the motion."""
    data = mujoco.MjData(spec.model)
    ids = [spec.model.site(spec.keypoint_sites[n]).id for n in names]
    out = np.empty((motion.num_frames, len(ids), 3))
    for t, q in enumerate(motion.qpos()):
        data.qpos[:] = q
        mujoco.mj_kinematics(spec.model, data)
        out[t] = data.site_xpos[ids]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--robots", default="g1,h1,h1_2")
    parser.add_argument("--clips", type=int, default=None, help="only the first N clips")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    clips = list(all_clips().items())[: args.clips]
    load_start = os.getloadavg()
    header = (
        f"{'robot':<6} {'clip':<44} {'frames':>6} {'fps':>4} {'offline ms/f':>12} {'med ms':>7} {'p99 ms':>7} "
        f"{'cpu med':>7} {'cpu p99':>7} {'first ms':>8} {'kp dist mm':>11} {'p95':>5} {'gnd>1cm':>7} {'kp err':>6} bars"
    )
    print(header)
    for robot in args.robots.split(","):
        spec = load_robot(robot)
        retarget(clips[0][1], spec)  # warm-up: the collision model is built once per process
        walls, cpus, offline_frames, offline_seconds = [], [], 0, 0.0
        distances: dict[str, float] = {}
        penetrating = 0
        for name, motion in clips:
            start = time.process_time()
            offline = retarget(motion, spec)
            seconds = time.process_time() - start
            offline_seconds += seconds
            offline_frames += offline.num_frames
            live = stream(spec, fps=motion.fps)
            wall, cpu = np.empty(motion.num_frames), np.empty(motion.num_frames)
            for t, frame in enumerate(motion.positions):
                w, c = time.perf_counter(), time.process_time()
                live.push(frame)
                wall[t], cpu[t] = time.perf_counter() - w, time.process_time() - c
            streamed = live.motion()
            summary, _ = evaluate(streamed, spec)
            distance = np.linalg.norm(
                keypoints(streamed, spec, offline.keypoint_names) - keypoints(offline, spec, offline.keypoint_names),
                axis=-1,
            )
            walls.append(wall[1:])
            cpus.append(cpu[1:])
            distances[name] = 1e3 * float(distance.mean())
            penetrating += summary["ground_penetration_frames"]
            missed = [
                bar
                for bar, ok in (
                    ("kp dist", distances[name] <= BAR_DISTANCE_MM),
                    ("gnd", not summary["ground_penetration_frames"]),
                )
                if not ok
            ]
            print(
                f"{robot:<6} {name[:44]:<44} {motion.num_frames:>6} {motion.fps:>4.0f} "
                f"{1e3 * seconds / offline.num_frames:>12.2f} "
                f"{1e3 * np.median(wall[1:]):>7.2f} {1e3 * np.percentile(wall[1:], 99):>7.2f} "
                f"{1e3 * np.median(cpu[1:]):>7.2f} {1e3 * np.percentile(cpu[1:], 99):>7.2f} {1e3 * wall[0]:>8.1f} "
                f"{1e3 * distance.mean():>11.1f} {1e3 * np.percentile(distance, 95):>5.0f} "
                f"{summary['ground_penetration_frames']:>7d} {summary['keypoint_error_mm']:>6.1f} "
                f"{'missed: ' + ', '.join(missed) if missed else 'ok'}"
            )
        wall, cpu = np.concatenate(walls), np.concatenate(cpus)
        print(
            f"{robot:<6} {'ALL CLIPS':<44} {wall.size:>6} {'':>4} {1e3 * offline_seconds / offline_frames:>12.2f} "
            f"{1e3 * np.median(wall):>7.2f} {1e3 * np.percentile(wall, 99):>7.2f} "
            f"{1e3 * np.median(cpu):>7.2f} {1e3 * np.percentile(cpu, 99):>7.2f}"
        )
        worst = max(distances, key=distances.__getitem__)
        print(
            f"{robot:<6} streamed vs offline keypoints: mean over clips {np.mean(list(distances.values())):.1f} mm, "
            f"worst clip {distances[worst]:.1f} mm ({worst}); streamed frames with ground penetration > 1 cm: "
            f"{penetrating}\n"
        )
    load_end = os.getloadavg()
    print(f"load average (1 min) at start {load_start[0]:.2f}, at end {load_end[0]:.2f}, on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
