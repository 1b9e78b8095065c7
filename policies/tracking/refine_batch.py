"""`mimicsim refine-batch`: refine every RobotMotion file under a folder and keep only the clips a
tracking policy follows to success (H2O's filter, MotionLib's refinement), resumably.

A job of the job engine (`mimicsim.jobs`): the manifest in the output folder records every clip as
done (tracked: its physical motion is written under the output folder) or failed (with the reason
and the frame of failure, or the error that stopped it); rerunning skips finished clips.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mimicsim.atomic import write_text_atomic
from mimicsim.errors import InputFileError
from mimicsim.jobs import Item, JobSummary, Result, Work, output_names, run_job
from mimicsim.policies.tracking.load import load_tracker

REPORT = "refine_report.json"


@dataclass
class RefineClip(Work):
    """Refine one clip. A clip that is not tracked is a failed result whose error says why and
    where, and whose data holds the refinement's numbers."""

    directory: str
    policy: str
    # ONNX Runtime and torch keep thread pools that do not survive a fork.
    start_method = "spawn"
    item_name = "clip"
    unit_name = "frames"
    _tracker: Any = field(default=None, repr=False, compare=False)

    def setup(self) -> None:
        if self._tracker is None:
            self._tracker = load_tracker(Path(self.policy))

    def run(self, item: Item) -> Result:
        from mimicsim.policies.tracking.refine import refine_motion
        from mimicsim.retarget import robot_motion

        source = item.args["source"]
        refinement = refine_motion(robot_motion.load(Path(self.directory) / source), self._tracker, source)
        motion = refinement.motion
        data = {"quality": motion.quality}
        if not refinement.success:
            return Result(item.key, False, error=refinement.describe(), units=motion.num_frames, data=data)
        buffer = io.BytesIO()
        robot_motion.write(motion, buffer)
        return Result(
            item.key, True, units=motion.num_frames, data=data, files={item.args["output"]: buffer.getvalue()}
        )


@dataclass(frozen=True)
class RefineBatchReport:
    summary: JobSummary
    clips: list[dict[str, Any]]
    """Every clip of the folder: source, output (None unless kept), status (done/failed), error, and
    the refinement's numbers."""
    report_path: Path


def refine_batch(
    directory: Path,
    policy: Path,
    out: Path,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    retry_failed: bool = False,
    progress: bool = True,
) -> RefineBatchReport:
    """Refine every `.npz` RobotMotion under `directory` with `policy` into `out`; see the module
    docstring. Writes `out/refine_report.json` with every clip's outcome."""
    if not directory.is_dir():
        raise InputFileError(directory, "not a folder of RobotMotion files")
    if not policy.is_file():
        raise InputFileError(policy, "no such policy file (give a checkpoint .npz or an exported .onnx)")
    directory, out, policy = directory.resolve(), out.resolve(), policy.resolve()
    load_tracker(policy)  # a damaged policy is one error now, not a failure on every clip
    sources = sorted(p for p in directory.rglob("*.npz") if not p.name.startswith(".") and out not in p.parents)
    items = {
        source: {"source": source, "output": output} for source, output in output_names(sources, directory).items()
    }
    summary = run_job(
        out,
        {"task": "refine", "policy": str(policy), "source": str(directory)},
        items,
        RefineClip(str(directory), str(policy)),
        workers=workers,
        ray=ray_address,
        retry_failed=retry_failed,
        progress=progress,
        desc="refine",
    )
    clips = [
        {
            "source": r["key"],
            "output": r["args"]["output"] if r["status"] == "done" else None,
            "status": r["status"],
            "error": r["error"],
            **r["result"],
        }
        for r in summary.records
    ]
    report = {
        "schema": "mimicsim.refine_report/1",
        "policy": str(policy),
        "source": str(directory),
        "kept": sum(c["status"] == "done" for c in clips),
        "rejected": sum(c["status"] == "failed" for c in clips),
        "clips": clips,
    }
    path = write_text_atomic(out / REPORT, json.dumps(report, indent=2))
    return RefineBatchReport(summary, clips, path)
