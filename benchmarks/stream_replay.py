"""Replay a motion file frame by frame to a running `mimicsim retarget-stream` server, as live mocap
would send it, and print the round-trip latency and the session's quality report.

    .venv/bin/mimicsim retarget-stream --listen 127.0.0.1:8765 --robot g1 --out session.npz   # terminal 1
    .venv/bin/python benchmarks/stream_replay.py ../shared/motions/bvh/cmu_01_01.bvh --realtime  # terminal 2

Joint-position files (every format `mimicsim motion info` reads) are sent as (22, 3) joints, z-up
metres. With `--params`, an AMASS / SMPL-family .npz is sent as body-model parameters instead
(`poses`, `trans` per frame; `betas` and the model in the "start" message): the server then needs
`--body-models`. Without `--realtime` frames go as fast as the server answers.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mimicsim.npyio import read_npz
from mimicsim.retarget.human.formats import load_motion
from mimicsim.retarget.stream_server import StreamClient


def parameter_frames(path: Path, up: str) -> tuple[float, dict, list[dict]]:
    """(fps, start options, frames) of an AMASS-layout parameter file."""
    data = read_npz(path)
    fps = float(next(data[k] for k in ("mocap_framerate", "mocap_frame_rate", "fps") if k in data))
    poses = data["poses"].reshape(len(data["poses"]), -1)
    model_type = {72: "smpl", 156: "smplh", 165: "smplx"}[poses.shape[1]]
    options = {"model_type": model_type, "betas": np.asarray(data["betas"], dtype=np.float64).reshape(-1), "up": up}
    if "gender" in data:
        gender = np.asarray(data["gender"]).reshape(-1)[0]
        options["gender"] = (gender.decode() if isinstance(gender, bytes) else str(gender)).lower()
    return fps, options, [{"poses": p, "trans": t} for p, t in zip(poses, data["trans"], strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("motion", type=Path)
    parser.add_argument("--uri", default="ws://127.0.0.1:8765")
    parser.add_argument("--realtime", action="store_true", help="send at the file's frame rate")
    parser.add_argument("--params", action="store_true", help="send an AMASS-layout .npz as body-model parameters")
    parser.add_argument("--up", default="z", help="up axis of --params files (AMASS: z)")
    args = parser.parse_args()

    if args.params:
        fps, options, frames = parameter_frames(args.motion, args.up)
    else:
        motion = load_motion(args.motion)
        fps, options, frames = motion.fps, {"up": "z"}, list(motion.positions)
    round_trips, solves = [], []
    with StreamClient(args.uri) as client:
        print(f"{args.uri}: retargeting onto {client.hello['robot']}; sending {len(frames)} frames at {fps:g} fps")
        client.start(fps, **options)
        begin = time.perf_counter()
        for i, frame in enumerate(frames):
            if args.realtime:
                time.sleep(max(0.0, begin + i / fps - time.perf_counter()))
            sent = time.perf_counter()
            pose = client.push(frame)
            round_trips.append(time.perf_counter() - sent)
            solves.append(pose["solve_ms"])
        summary = client.end()
    trip, solve = 1e3 * np.array(round_trips[1:]), np.array(solves[1:])
    print(
        f"round trip ms: median {np.median(trip):.2f}, p99 {np.percentile(trip, 99):.2f}; "
        f"server solve ms: median {np.median(solve):.2f}, p99 {np.percentile(solve, 99):.2f} "
        f"(first frame {solves[0]:.1f} ms: calibration and settling)"
    )
    if summary and summary.get("quality"):
        q = summary["quality"]
        print(
            f"session: {summary['frames']} frames, keypoint error {q['keypoint_error_mm']:.1f} mm, "
            f"ground penetration frames {q['ground_penetration_frames']}, self-collision frames "
            f"{q['self_collision_frames']}" + (f"; written to {summary['path']}" if summary["path"] else "")
        )


if __name__ == "__main__":
    main()
