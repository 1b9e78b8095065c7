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

from tqdm import tqdm

from mimicsim.atomic import write_text_atomic
from mimicsim.errors import ConfigError, InputFileError
from mimicsim.retarget.batch import MANIFEST, BatchSummary, ClipResult, Manifest, failure, make_runner, output_names

REPORT = "refine_report.json"
_TRACKERS: dict[str, Any] = {}


def refine_clip(source: str, output: str, directory: str, out: str, policy: str) -> ClipResult:
    """Refine one clip; a clip that is not tracked, or cannot be read, is a failed `ClipResult`
    whose error says why (and where) and whose quality holds the refinement's numbers."""
    from mimicsim.policies.refine import refine_motion
    from mimicsim.policies.tracker_policy import load_tracker
    from mimicsim.retarget import robot_motion

    start = time.perf_counter()
    try:
        tracker = _TRACKERS.get(policy) or _TRACKERS.setdefault(policy, load_tracker(policy))
        refinement = refine_motion(robot_motion.load(Path(directory) / source), tracker, source)
        quality = refinement.motion.quality
        if refinement.success:
            robot_motion.save(refinement.motion, Path(out) / output)
            return ClipResult(source, True, refinement.motion.num_frames, time.perf_counter() - start, quality=quality)
        return ClipResult(source, False, refinement.motion.num_frames, time.perf_counter() - start,
                          error=refinement.describe(), quality=quality)
    except Exception as exc:  # a bad clip must not stop the batch: keep its reason and go on
        return failure(source, start, exc)


@dataclass(frozen=True)
class RefineBatchReport:
    summary: BatchSummary
    clips: list[dict[str, Any]]
    """Every clip of the folder: source, status (done/failed), error, the refinement's numbers."""
    report_path: Path


def refine_batch(directory: Path, policy: Path, out: Path, *, workers: int = 1, ray_address: str | None = None,
                 retry_failed: bool = False, progress: bool = True) -> RefineBatchReport:
    """Refine every `.npz` RobotMotion under `directory` with `policy` into `out`; see the module
    docstring. Writes `out/refine_report.json` with every clip's outcome."""
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if not directory.is_dir():
        raise InputFileError(directory, "not a folder of RobotMotion files")
    if not policy.is_file():
        raise InputFileError(policy, "no such policy file (give a checkpoint .npz or an exported .onnx)")
    directory, out, policy = directory.resolve(), out.resolve(), policy.resolve()
    sources = sorted(p for p in directory.rglob("*.npz") if not p.name.startswith(".") and out not in p.parents)
    out.mkdir(parents=True, exist_ok=True)
    for leftover in out.rglob(".*.part*"):  # half-written files of a killed run
        leftover.unlink(missing_ok=True)
    manifest = Manifest(out / MANIFEST)
    try:
        manifest.check_job({"task": "refine", "policy": str(policy), "source": str(directory)})
        manifest.add(output_names(sources, directory))
        skipped = manifest.count("done")
        jobs = manifest.todo(retry_failed)
        args = (str(directory), str(out), str(policy))
        run = make_runner(refine_clip, args, workers=workers, ray_address=ray_address,
                          preload=("mimicsim.policies.refine_batch", "mimicsim.policies.refine"))
        results = run(jobs)
        done = failed = frames = 0
        start = time.perf_counter()
        with tqdm(total=len(jobs), desc="refine", unit="clip", disable=not progress) as bar:
            for result in results:
                manifest.record(result)
                done += result.ok
                failed += not result.ok
                frames += result.frames
                bar.set_postfix(kept=done, rejected=failed)
                bar.update()
        summary = BatchSummary(done, failed, skipped, frames, time.perf_counter() - start, manifest.failures())
        rows = manifest.db.execute("SELECT source, output, status, error, quality FROM clips ORDER BY source").fetchall()
    finally:
        manifest.close()
    clips = [{"source": s, "output": o if status == "done" else None, "status": status, "error": e,
              **({"quality": json.loads(q)} if q else {})} for s, o, status, e, q in rows]
    report = {"schema": "mimicsim.refine_report/1", "policy": str(policy), "source": str(directory),
              "kept": sum(c["status"] == "done" for c in clips), "rejected": sum(c["status"] == "failed" for c in clips),
              "clips": clips}
    path = write_text_atomic(out / REPORT, json.dumps(report, indent=2))
    return RefineBatchReport(summary, clips, path)
