"""CLI verbs of the optimisation retargeter: `retarget`, `retarget-batch`, `retarget-stream`, `retarget-eval`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import tyro

from mimicsim.errors import ConfigError
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
        motion: Human motion file (.npy HumanML3D / 272 / joints, .bvh, .npz, AMASS / SMPL-family .npz).
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


def retarget_stream(
    listen: str = "127.0.0.1:8765",
    robot: str = "g1",
    out: Path | None = None,
    read: Options = ReadOptions(),
    config: RetargetConfig = RetargetConfig(),
) -> None:
    """Retarget live frames sent over a websocket (msgpack arrays, as the policy server); answer
    each with the robot's pose. Stop with Ctrl-C.

    Args:
        listen: HOST:PORT to listen on (loopback by default; 0.0.0.0 to accept other machines).
        robot: g1, h1 or h1_2.
        out: Write each finished session here as a RobotMotion npz with its quality report (then _2, _3...).
        config: Retargeting settings (smoothing and resampling are not available live).
        read: Body models (--body-models, --gender, --model-type) for clients that send SMPL-family
            parameters instead of joints; the other read options do not apply to a stream.
    """
    from mimicsim.atomic import check_writable
    from mimicsim.retarget.stream_server import StreamServer, parse_listen

    host, port = parse_listen(listen)
    if out is not None:
        check_writable(out)
    if config.smoothing > 0 or config.fps is not None:
        raise ConfigError(
            "--config.smoothing and --config.fps need the whole clip; a stream runs unsmoothed at its own rate"
        )
    try:
        server = StreamServer(
            robot,
            config,
            host,
            port,
            out=out,
            body_models=read.body_models,
            gender=read.gender,
            model_type=read.model_type,
        )
    except OSError as exc:
        raise ConfigError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    print(f"retargeting onto {server.spec.name} at {server.uri} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        for path in server.written:
            print(f"wrote {path}")


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
