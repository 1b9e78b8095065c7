"""The main job on built-in data: `mimicsim demo` (what `make demo` runs).

A procedural human clip (walk, turn, wave) is retargeted onto every robot, the G1 result is made
physical by the shipped tracking policy, and the scripted experts are scored on the manipulation
tasks. Everything lands in one folder, with a short text summary at the end.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mimicsim.assets import load_robot, robot_names
from mimicsim.assets.snapshots import render_standing
from mimicsim.atomic import check_writable, write_text_atomic
from mimicsim.envs.manipulation.registration import TASK_IDS
from mimicsim.eval.task_eval import evaluate_tasks
from mimicsim.retarget.collision import tracked_contacts
from mimicsim.retarget.human.normalize import normalize
from mimicsim.retarget.human.procedural import demo_clip
from mimicsim.retarget.quality import BARS, format_table, with_quality
from mimicsim.retarget.retargeter import RetargetConfig, retarget
from mimicsim.retarget.robot_motion import load, save
from mimicsim.retarget.video import render_side_by_side

if TYPE_CHECKING:
    from mimicsim.policies.tracking.refine import Refinement

RETARGET_REPORT_SCHEMA = "mimicsim.retarget_report/1"


def demo(out: Path = Path("out")) -> None:
    """Run the main job on built-in data, writing pictures, videos and reports into `out`.

    Args:
        out: Output folder.
    """
    check_writable(out, folder=True)
    out.mkdir(parents=True, exist_ok=True)
    for name in robot_names():
        render_standing(load_robot(name), out / f"{name}_standing.png")
    retarget_demo_clip(out)
    print(refine_demo_clip(out / "retarget_g1.npz", out / "refine_g1.npz").describe())
    evaluate_tasks(list(TASK_IDS), "expert", episodes=3, seed=0, out=out / "eval", videos=1)
    print(f"demo outputs in {out.resolve()} (manipulation report: {out.resolve() / 'eval' / 'report.html'})")


def retarget_demo_clip(out: Path, robots: tuple[str, ...] | None = None, video: bool = True) -> dict[str, Any]:
    """Retarget the demo clip onto each robot; write into `out`: `retarget_<robot>.npz`,
    `retarget_<robot>.mp4` (robot beside the source skeleton), `retarget_quality.json` and
    `retarget_quality.txt`. Returns the JSON report."""
    clip = demo_clip()
    config = RetargetConfig()
    report: dict[str, Any] = {
        "schema": RETARGET_REPORT_SCHEMA,
        "clip": clip.source.format,
        "frames": clip.num_frames,
        "fps": clip.fps,
        "bars": {k: f"{op} {v}" for k, (op, v) in BARS.items()},
        "robots": {},
    }
    rows = []
    for name in robots or tuple(robot_names()):
        spec = load_robot(name)
        tracked_contacts(spec, config.ik.collision_margin)  # robot set-up, like loading it: not timed
        start = time.perf_counter()
        motion = retarget(clip, spec, config)
        seconds = time.perf_counter() - start
        motion = with_quality(motion, spec)
        save(motion, out / f"retarget_{name}.npz")
        if video:
            render_side_by_side(motion, normalize(clip, contacts=False), spec, out / f"retarget_{name}.mp4")
        report["robots"][name] = {
            **motion.quality,
            "retarget_seconds": seconds,
            "frames_per_second": motion.num_frames / seconds,
        }
        rows.append((name, motion.quality))
    table = format_table(rows)
    write_text_atomic(out / "retarget_quality.json", json.dumps(report, indent=2))
    write_text_atomic(
        out / "retarget_quality.txt",
        f"retargeting: {clip.source.format}, {clip.num_frames} frames at {clip.fps:g} fps\n{table}\n",
    )
    print(table)
    return report


def refine_demo_clip(kinematic_npz: Path, out: Path) -> Refinement:
    """Refine the demo clip's G1 retarget with the policy the repository ships
    (`pretrained_policy("g1")`); write the physical motion to `out` (.npz) and its video beside it
    (`out` with suffix .mp4; the kinematic reference is drawn as a blue ghost)."""
    from mimicsim.policies.tracking.load import load_tracker
    from mimicsim.policies.tracking.pretrained import pretrained_policy
    from mimicsim.policies.tracking.refine import refine_motion
    from mimicsim.policies.tracking.rollout_video import render_motion

    kinematic = load(kinematic_npz)
    refinement = refine_motion(kinematic, load_tracker(pretrained_policy(kinematic.robot)), str(kinematic_npz))
    save(refinement.motion, out)
    render_motion(refinement.motion, out.with_suffix(".mp4"), reference=kinematic)
    return refinement
