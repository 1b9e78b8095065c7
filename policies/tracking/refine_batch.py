"""`mimicsim refine-batch`: refine every RobotMotion file under a folder and keep only the clips a
tracking policy follows to success (H2O's filter, MotionLib's refinement), resumably.

The bookkeeping is `retarget.batch`'s: a `manifest.sqlite` in the output folder records every
clip as done (tracked: its physical motion is written under the output folder) or failed (with
the reason and the frame of failure, or the error that stopped it); rerunning skips finished
clips. Work runs in this process, in local worker processes or as Ray tasks.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mimicsim.atomic import write_text_atomic
from mimicsim.errors import InputFileError
from mimicsim.retarget.batch import MANIFEST, BatchSummary, ClipResult, Manifest, failure, process_folder

REPORT = "refine_report.json"
_TRACKERS: dict[str, Any] = {}


def refine_clip(source: str, output: str, directory: str, out: str, policy: str) -> ClipResult:
    """Refine one clip; a clip that is not tracked, or cannot be read, is a failed `ClipResult`
    whose error says why (and where) and whose quality holds the refinement's numbers."""
    from mimicsim.policies.tracking.refine import refine_motion
    from mimicsim.policies.tracking.tracker import load_tracker
    from mimicsim.retarget import robot_motion

    start = time.perf_counter()
    try:
        tracker = _TRACKERS.get(policy) or _TRACKERS.setdefault(policy, load_tracker(policy))
        refinement = refine_motion(robot_motion.load(Path(directory) / source), tracker, source)
        quality = refinement.motion.quality
        if refinement.success:
            robot_motion.save(refinement.motion, Path(out) / output)
            return ClipResult(source, True, refinement.motion.num_frames, time.perf_counter() - start, quality=quality)
        return ClipResult(
            source,
            False,
            refinement.motion.num_frames,
            time.perf_counter() - start,
            error=refinement.describe(),
            quality=quality,
        )
    except Exception as exc:  # a bad clip must not stop the batch: keep its reason and go on
        return failure(source, start, exc)


@dataclass(frozen=True)
class RefineBatchReport:
    summary: BatchSummary
    clips: list[dict[str, Any]]
    """Every clip of the folder: source, status (done/failed), error, the refinement's numbers."""
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
    sources = sorted(p for p in directory.rglob("*.npz") if not p.name.startswith(".") and out not in p.parents)
    summary = process_folder(
        sources,
        directory,
        out,
        {"task": "refine", "policy": str(policy), "source": str(directory)},
        refine_clip,
        (str(directory), str(out), str(policy)),
        workers=workers,
        ray_address=ray_address,
        retry_failed=retry_failed,
        progress=progress,
        desc="refine",
        preload=("mimicsim.policies.tracking.refine_batch", "mimicsim.policies.tracking.refine"),
    )
    manifest = Manifest(out / MANIFEST)
    try:
        clips = manifest.records()
    finally:
        manifest.close()
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
