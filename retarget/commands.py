"""CLI verbs of the optimisation retargeter: `retarget`, `retarget-batch`, `retarget-eval`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import tyro

from mimicsim.retarget.human.read_options import Options, ReadOptions
from mimicsim.retarget.retargeter import RetargetConfig, config_to_dict


def retarget(
    motion: Annotated[Path, tyro.conf.Positional],
    robot: str = "g1",
    out: Path | None = None,
    video: Path | None = None,
    read: Options = ReadOptions(),
    config: RetargetConfig = RetargetConfig(),
) -> None:
    """Retarget a human motion file onto a robot; write a RobotMotion npz with its quality report.

    Args:
        motion: Human motion file (.npy HumanML3D / 272 / joints, .bvh, .npz).
        robot: g1, h1 or h1_2.
        out: Output npz (default: <motion>_<robot>.npz in the current folder).
        video: Also write an MP4 of the robot beside the source skeleton.
        config: Retargeting settings.
    """
    from mimicsim.assets import load_robot
    from mimicsim.atomic import check_writable
    from mimicsim.retarget import retargeter
    from mimicsim.retarget.quality import format_table, with_quality
    from mimicsim.retarget.robot_motion import save

    out = out if out is not None else Path(f"{motion.stem}_{robot}.npz")
    for path in (out, video):
        if path is not None:
            check_writable(path)
    human = read.load(motion)  # a bad file fails before the robot is compiled
    if "warning" in human.source.details:
        print(f"WARNING {motion}: {human.source.details['warning']}")
    spec = load_robot(robot)
    result = with_quality(retargeter.retarget(human, spec, config), spec)
    save(result, out)
    print(format_table([(f"{motion.name} -> {spec.name}", result.quality)]))
    print(f"wrote {out} ({result.num_frames} frames at {result.fps:g} fps)")
    if video is not None:
        from mimicsim.retarget.human.normalize import normalize
        from mimicsim.retarget.video import render_side_by_side

        render_side_by_side(result, normalize(human, fps=config.fps, contacts=False), spec, video)
        print(f"wrote {video}")


def retarget_batch(
    directory: Annotated[Path, tyro.conf.Positional],
    robot: str = "g1",
    out: Path = Path("retargeted"),
    workers: int = 1,
    ray: str | None = None,
    retry_failed: bool = False,
    read: Options = ReadOptions(),
    config: RetargetConfig = RetargetConfig(),
) -> None:
    """Retarget every motion file under a folder; resumable (kill it, rerun it: each clip once).

    Args:
        directory: Folder searched recursively for .npy, .npz and .bvh motions.
        robot: g1, h1 or h1_2.
        out: Output folder: one npz per clip and manifest.sqlite.
        workers: Local worker processes (or CPUs of a local Ray cluster with --ray local).
        ray: Run on Ray: "auto" (running cluster), "ray://host:port", or "local" (start one here).
        retry_failed: Also retry clips that failed in an earlier run.
        config: Retargeting settings (must match an earlier run into the same folder, as must the
            read options, which apply to every file).
    """
    from mimicsim.retarget.batch import run_batch

    summary = run_batch(
        directory,
        out,
        robot,
        config_to_dict(config),
        workers=workers,
        ray_address=ray,
        retry_failed=retry_failed,
        read=read.to_dict(),
    )
    rate = summary.units / summary.seconds if summary.seconds > 0 else 0.0
    print(
        f"{summary.done} retargeted, {summary.failed} failed, {summary.skipped} already done "
        f"({summary.units} frames in {summary.seconds:.1f} s, {rate:.0f} frames/s); outputs in {out}"
    )
    if summary.failures:
        print(f"{len(summary.failures)} clips failed (in this or an earlier run; --retry-failed retries them):")
    for source, error in summary.failures:
        print(f"  {source}: {error}")


def retarget_eval(file: Annotated[Path, tyro.conf.Positional], json_out: bool = False) -> None:
    """Measure a retargeted motion: keypoint error, ground penetration, foot slide, self-collision,
    joint limit and speed violations, jerk.

    Args:
        file: RobotMotion npz.
        json_out: Print the full report as JSON instead of a table.
    """
    from mimicsim.retarget.quality import evaluate_file, format_table

    summary = evaluate_file(file)
    if json_out:
        print(json.dumps(summary, indent=2))
        return
    print(format_table([(file.name, summary)]))
    per_joint = summary.get("keypoint_error_by_joint_mm")
    if per_joint:
        print("keypoint error by joint (mm): " + ", ".join(f"{k} {v:.0f}" for k, v in per_joint.items()))
    for kind in ("ground", "self"):
        if summary[f"{kind}_penetration_deepest"]:
            print(
                f"deepest {kind} penetration: {summary[f'{kind}_penetration_max_mm']:.1f} mm, "
                f"{summary[f'{kind}_penetration_deepest']}"
            )
