"""The retargeting part of `make demo`: the built-in procedural clip (walk, turn, wave) onto every
robot, with side-by-side videos and a quality report."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from mimicsim.assets import load_robot, robot_names
from mimicsim.atomic import write_text_atomic
from mimicsim.eval.retarget_quality import BARS, format_table, with_quality
from mimicsim.retarget.collision import contact_query
from mimicsim.retarget.normalize import normalize
from mimicsim.retarget.procedural import demo_clip
from mimicsim.retarget.retargeter import RetargetConfig, retarget
from mimicsim.retarget.robot_motion import save
from mimicsim.retarget.video import render_side_by_side

REPORT_SCHEMA = "mimicsim.retarget_report/1"


def demo_retarget(out: Path, robots: tuple[str, ...] | None = None, video: bool = True) -> dict[str, Any]:
    """Retarget the demo clip onto each robot; write into `out`:
    `retarget_<robot>.npz`, `retarget_<robot>.mp4` (robot beside the source skeleton),
    `retarget_quality.json` and `retarget_quality.txt`. Returns the JSON report."""
    out.mkdir(parents=True, exist_ok=True)
    clip = demo_clip()
    config = RetargetConfig()
    report: dict[str, Any] = {"schema": REPORT_SCHEMA, "clip": clip.source.format, "frames": clip.num_frames,
                              "fps": clip.fps, "bars": {k: f"{op} {v}" for k, (op, v) in BARS.items()}, "robots": {}}
    rows = []
    for name in robots or tuple(robot_names()):
        spec = load_robot(name)
        contact_query(spec, config.ik.collision_margin)  # robot setup, like loading it: not timed
        start = time.perf_counter()
        motion = retarget(clip, spec, config)
        seconds = time.perf_counter() - start
        motion = with_quality(motion, spec)
        save(motion, out / f"retarget_{name}.npz")
        if video:
            render_side_by_side(motion, normalize(clip, contacts=False), spec, out / f"retarget_{name}.mp4")
        report["robots"][name] = {**motion.quality, "retarget_seconds": seconds,
                                  "frames_per_second": motion.num_frames / seconds}
        rows.append((name, motion.quality))
    table = format_table(rows)
    write_text_atomic(out / "retarget_quality.json", json.dumps(report, indent=2))
    write_text_atomic(out / "retarget_quality.txt", f"retargeting: {clip.source.format}, {clip.num_frames} frames "
                      f"at {clip.fps:g} fps\n{table}\n")
    print(table)
    return report
