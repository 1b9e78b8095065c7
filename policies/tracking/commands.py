"""CLI verbs of motion tracking: `train-tracker`, `export-tracker`, `refine`, `refine-batch`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import tyro

from mimicsim.errors import ConfigError, InputFileError
from mimicsim.policies.tracking.training import TrainConfig


def train_tracker(
    motions: Annotated[tuple[Path, ...], tyro.conf.Positional],
    robot: str = "g1",
    out: Path = Path("runs/tracker"),
    resume: Path | None = None,
    onnx: bool = True,
    train: Annotated[TrainConfig, tyro.conf.arg(name="")] = TrainConfig(),
) -> None:
    """Train a PPO policy that makes ROBOT follow MOTIONS (RobotMotion .npz files) in MuJoCo.

    Writes into OUT: checkpoints/*.npz (every --checkpoint-every steps, at the end, latest.npz, and
    success_<step>.npz for every evaluation that tracked all clips to success),
    progress.csv and TensorBoard logs, eval.csv (success rate over wall-clock time), config.json and
    policy.onnx (+ policy.json). Ctrl-C stops training; --resume OUT/checkpoints/latest.npz goes on.

    Args:
        motions: RobotMotion files to track (several are sampled together).
        robot: g1, h1 or h1_2 (the motions must be for it).
        out: Run folder.
        resume: Checkpoint to continue from (same settings; --steps counts its steps too).
        onnx: Export the final policy to OUT/policy.onnx.
    """
    from mimicsim.assets import robot_config
    from mimicsim.atomic import check_writable
    from mimicsim.policies.tracking.onnx_export import export_onnx
    from mimicsim.policies.tracking.training import train_tracker as run_training

    if not motions:
        raise ConfigError("give at least one RobotMotion file to track (e.g. from `mimicsim retarget`)")
    for path in motions:
        if not path.is_file():
            raise InputFileError(path, "no such motion file")
    check_writable(out, folder=True)
    config = dataclasses.replace(train, env=dataclasses.replace(train.env, robot=robot_config(robot).name))
    result = run_training(list(motions), out, config, resume)
    print(
        f"trained {result.num_timesteps} steps in {result.wall_seconds / 60:.1f} min; success rate "
        f"{result.success_rate:.2f}; checkpoint {result.checkpoint}"
    )
    if onnx:
        print(f"policy: {export_onnx(result.checkpoint, out / 'policy.onnx')}")


def export_tracker(checkpoint: Annotated[Path, tyro.conf.Positional], out: Path | None = None) -> None:
    """Export a training checkpoint to ONNX with its metadata (and a .json beside it).

    Args:
        checkpoint: A checkpoint .npz written by train-tracker.
        out: The .onnx to write (default: beside the checkpoint).
    """
    from mimicsim.atomic import check_writable
    from mimicsim.policies.tracking.onnx_export import export_onnx

    out = check_writable(out or checkpoint.with_suffix(".onnx"))
    print(export_onnx(checkpoint, out))


def refine(motion: Annotated[Path, tyro.conf.Positional], policy: Path, out: Path | None = None) -> None:
    """Roll a tracking policy out on a kinematic RobotMotion and write the simulated motion (marked
    physical, with per-frame tracking errors and a success flag).

    Args:
        motion: The kinematic RobotMotion (.npz).
        policy: The tracking policy: a train-tracker checkpoint (.npz) or its ONNX export.
        out: Output .npz (default: MOTION_physical.npz beside the input).
    """
    from mimicsim.atomic import check_writable
    from mimicsim.policies.tracking.refine import refine_file

    out = check_writable(out or motion.with_name(f"{motion.stem}_physical.npz"))
    refinement = refine_file(motion, policy, out)
    print(f"{motion.name}: {refinement.describe()} -> {out}")


def refine_batch(
    directory: Annotated[Path, tyro.conf.Positional],
    policy: Path,
    out: Path = Path("refined"),
    workers: int = 1,
    ray: str | None = None,
    retry_failed: bool = False,
) -> None:
    """Refine every RobotMotion under DIRECTORY; keep (write to OUT) the clips the policy tracks to
    success and report the rest with the reason and frame of failure (OUT/refine_report.json).
    Resumable: rerun the same command to finish an interrupted batch.

    Args:
        directory: Folder of kinematic RobotMotion .npz files (searched recursively).
        policy: The tracking policy (.npz checkpoint or .onnx).
        out: Output folder (physical clips, manifest.sqlite, refine_report.json).
        workers: Local worker processes (with --ray: CPUs of a local cluster).
        ray: Run as Ray tasks: "auto", "ray://host:port", or "local" for a private cluster.
        retry_failed: Also redo clips that failed in an earlier run.
    """
    from mimicsim.policies.tracking.refine_batch import refine_batch as run

    report = run(directory, policy, out, workers=workers, ray_address=ray, retry_failed=retry_failed)
    s = report.summary
    print(
        f"kept {s.done}, rejected {s.failed}, already done {s.skipped} ({s.seconds:.1f} s); "
        f"report: {report.report_path}"
    )
    for source, error in s.failures:
        print(f"  {source}: {error}")
