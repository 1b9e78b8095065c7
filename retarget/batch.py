"""`mimicsim retarget-batch`: retarget every motion file under a folder, resumably.

A job of the job engine (`mimicsim.jobs`): one item per motion file, each becoming one RobotMotion
npz under the output folder, with its quality report in the manifest. Rerunning the same command
after a kill skips clips marked done and redoes the rest, so every clip is retargeted to exactly
one output; clips that failed are reported with their reason and retried only with `retry_failed`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mimicsim.errors import ConfigError
from mimicsim.jobs import Item, JobSummary, Result, Work, output_names, run_job

MOTION_SUFFIXES = (".npy", ".npz", ".bvh")


def discover(directory: Path) -> list[Path]:
    """Motion files under `directory` (recursive, sorted), by extension."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: not a folder of motion files")
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and p.suffix.lower() in MOTION_SUFFIXES and not p.name.startswith(".")
    )


@dataclass
class RetargetClip(Work):
    """Load, retarget and evaluate one clip; its npz and quality report are the result."""

    directory: str
    robot: str
    config: dict[str, Any]
    """`RetargetConfig` fields (JSON-able)."""
    read: dict[str, Any]
    """`ReadOptions` fields for every file (JSON-able, `ReadOptions.to_dict`)."""
    item_name = "clip"
    unit_name = "frames"
    _spec: Any = field(default=None, repr=False, compare=False)

    def setup(self) -> None:
        from mimicsim.assets import load_robot

        if self._spec is None:  # compiling a robot's meshes takes about a second
            self._spec = load_robot(self.robot)

    def run(self, item: Item) -> Result:
        from mimicsim.retarget.human.read_options import ReadOptions
        from mimicsim.retarget.quality import with_quality
        from mimicsim.retarget.retargeter import config_from_dict, retarget
        from mimicsim.retarget.robot_motion import write

        motion = ReadOptions.from_dict(self.read).load(Path(self.directory) / item.args["source"])
        robot_motion = with_quality(retarget(motion, self._spec, config_from_dict(self.config)), self._spec)
        buffer = io.BytesIO()
        write(robot_motion, buffer)
        return Result(
            item.key,
            True,
            units=robot_motion.num_frames,
            data={"quality": robot_motion.quality},
            files={item.args["output"]: buffer.getvalue()},
        )


def run_batch(
    directory: Path,
    out: Path,
    robot: str,
    config: dict[str, Any] | None = None,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    read: dict[str, Any] | None = None,
) -> JobSummary:
    """Retarget every motion under `directory` into `out` (see the module docstring).

    Args:
        config: `RetargetConfig` fields as a dict (JSON-able; stored in the manifest).
        read: `ReadOptions` fields for every file, as a dict (`ReadOptions.to_dict`; stored too).
        workers: Local processes (1: this process). With Ray, the number of CPUs of a local cluster.
        ray_address: Run as Ray actors: "auto" (a running cluster), "ray://host:port", or "local" to
            start a private local cluster.
    """
    from mimicsim.assets import robot_config

    robot = robot_config(robot).name  # validates the name before any work
    config = dict(config or {})
    read = dict(read or {})
    directory, out = directory.resolve(), out.resolve()
    items = {
        source: {"source": source, "output": output}
        for source, output in output_names(discover(directory), directory).items()
    }
    return run_job(
        out,
        {"robot": robot, "config": config, "source": str(directory), "read": read},
        items,
        RetargetClip(str(directory), robot, config, read),
        workers=workers,
        ray=ray_address,
        retry_failed=retry_failed,
        progress=progress,
        desc=f"retarget {robot}",
    )
