"""Retargeting quality bars on every clip in ../shared/motions and on the procedural clips, for
every robot; then the same clips with temporal smoothing, to measure what smoothing changes.

Run: .venv/bin/python benchmarks/retarget_quality.py [--robots g1,h1,h1_2] [--smoothing 0.05]

Bars: mean keypoint error < 40 mm; 0 frames with any body > 1 cm below the floor; foot slide
during contact < 5 mm/frame (mean); 0 frames with a robot pair overlapping more than 5 mm deeper
than it does standing; 0 joint-limit violations; 0 joint-speed violations; 0 joint jumps (a joint
above 3 pi rad/s while no source limb turns that fast). ">3pi" counts frame transitions with a
joint faster than 3 pi rad/s (GMR's wild-frame count); "src limb/s" is the source's fastest limb
turn (rad/s). Each motion is also replayed through plain MuJoCo with every self-collision on
(tests/mujoco_replay.py), independently of the evaluator, and the two are compared frame by frame.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from retarget_clips import all_clips

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from mujoco_replay import replay_self_penetration

from mimicsim.assets import load_robot, robot_names
from mimicsim.retarget.quality import SELF_TOLERANCE, evaluate, format_table
from mimicsim.retarget.retargeter import RetargetConfig, retarget

_AVERAGED = (
    "keypoint_error_mm",
    "foot_slide_mm_per_frame",
    "mean_jerk",
    "frames_over_3pi",
    "joint_jump_frames",
    "self_collision_frames",
    "ground_penetration_frames",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--robots", default=",".join(robot_names()))
    parser.add_argument(
        "--smoothing", type=float, default=0.05, help="sigma (s) of the smoothing comparison; 0 skips it"
    )
    args = parser.parse_args()
    clips = all_clips()
    settings = {"no smoothing": RetargetConfig()}
    if args.smoothing > 0:
        settings[f"smoothing {args.smoothing:g} s"] = RetargetConfig(smoothing=args.smoothing)
    summaries: dict[str, dict[str, list[dict]]] = {label: {} for label in settings}
    for robot in args.robots.split(","):
        spec = load_robot(robot)
        for label, config in settings.items():
            rows, replayed = [], []
            for name, motion in clips.items():
                out = retarget(motion, spec, config)
                summary, series = evaluate(out, spec)
                rows.append((f"{robot}:{name}", summary))
                if label == "no smoothing":
                    replay = replay_self_penetration(out, spec) > SELF_TOLERANCE
                    agrees = bool(np.array_equal(replay, series["self_penetration_m"] > SELF_TOLERANCE))
                    replayed.append((name, int(replay.sum()), agrees))
            summaries[label][robot] = [s for _, s in rows]
            if label == "no smoothing":
                print(format_table(rows))
                counts = ", ".join(f"{n}" for _, n, _ in replayed)
                agree = all(a for _, _, a in replayed)
                print(
                    f"plain MuJoCo replay, frames with self-contact > 5 mm beyond standing, per clip: {counts}; "
                    f"the evaluator agrees on every frame: {'yes' if agree else 'NO'}\n"
                )
    print("averages over all clips (bars passed = clips meeting every bar)")
    print(f"{'robot':<6} {'setting':<16} " + " ".join(f"{k[:18]:>18}" for k in _AVERAGED) + f" {'bars passed':>12}")
    for label, per_robot in summaries.items():
        for robot, rows in per_robot.items():
            means = [np.mean([r[k] for r in rows]) for k in _AVERAGED]
            passed = sum(all(r["passes"].values()) for r in rows)
            print(f"{robot:<6} {label:<16} " + " ".join(f"{m:>18.2f}" for m in means) + f" {passed:>6}/{len(rows)}")


if __name__ == "__main__":
    main()
