"""CLI verbs of evaluation: `eval` (policies on manipulation tasks) and `eval-tracking` (tracking
policies on motion clips)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import tyro

from mimicsim.errors import ConfigError, InputFileError


def eval(
    task: str = "pick-place,pour,unfold",
    policy: str = "expert",
    episodes: int = 10,
    seed: int = 0,
    out: Path = Path("out/eval"),
    workers: int = 1,
    ray: str | None = None,
    replan_steps: int | None = None,
    videos: int = 2,
    timeout: float = 30.0,
    policy_config: Path | None = None,
    api_token: str | None = None,
) -> None:
    """Score a policy on manipulation tasks; writes eval_info.json, report.html and MP4s into OUT.

    Args:
        task: Comma-separated tasks: pick-place, pour, unfold.
        policy: "expert" (scripted experts), "ws://host:port" (a websocket policy server),
            "zmq://host:port" (a Being-H0 / GR00T-style server), "being-h0:PATH", "lerobot:PATH"
            or "package.module:factory".
        episodes: Episodes per task.
        seed: Run seed; every episode's seed derives from it.
        out: Output folder.
        workers: Local worker processes.
        ray: Run on Ray: "auto" (existing cluster), "local" (start one) or a cluster address.
        replan_steps: Actions executed from each chunk before the policy is asked again; None: the whole chunk.
        videos: Episodes per task recorded as MP4.
        timeout: Seconds a remote policy may take per request.
        policy_config: JSON file of a VLA's units, normalisation, control rate, camera and endpoint
            (fields of mimicsim.policies.manipulation.vla_config.VlaConfig).
        api_token: Token for a zmq policy server (default: the MIMICSIM_API_KEY variable).
    """
    from mimicsim.eval.task_eval import evaluate_tasks

    info = evaluate_tasks(
        task,
        policy,
        episodes,
        seed,
        out,
        workers=workers,
        ray=ray,
        replan_steps=replan_steps,
        videos=videos,
        timeout=timeout,
        policy_config=policy_config,
        api_token=api_token,
    )
    for name, t in info["tasks"].items():
        low, high = t["success_rate_ci95"]
        print(
            f"{name:<11} success {t['successes']}/{t['episodes']} = {t['success_rate']:.2f} "
            f"[{low:.2f}, {high:.2f}]  mean score {t['mean_score']:.3f}  invalid {t['invalid']}"
        )
    print(f"wrote {Path(out) / 'eval_info.json'} and {Path(out) / 'report.html'}")


REPORT_SCHEMA = "mimicsim.tracking_report/1"


def eval_tracking(
    motions: Annotated[tuple[Path, ...], tyro.conf.Positional],
    policy: Path,
    out: Path = Path("tracking_report.json"),
    save_physical: Path | None = None,
) -> None:
    """Track each kinematic RobotMotion with POLICY from its first frame; print a table (success per
    PHC, global and root-relative MPJPE, joint error, foot slide and ground penetration after physics)
    and write it as JSON.

    Args:
        motions: RobotMotion .npz files, or folders of them.
        policy: The tracking policy (.npz checkpoint or .onnx).
        out: JSON report.
        save_physical: Also write each simulated motion (physical RobotMotion) into this folder.
    """
    from mimicsim.atomic import check_writable, write_text_atomic
    from mimicsim.eval.tracking_metrics import format_table, summarize, tracking_metrics
    from mimicsim.policies.tracking.load import load_tracker
    from mimicsim.policies.tracking.refine import refine_motion
    from mimicsim.retarget import robot_motion

    check_writable(out)
    if save_physical is not None:
        check_writable(save_physical, folder=True)
    files = _expand(motions)
    tracker = load_tracker(policy)
    rows = []
    for path in files:
        reference = robot_motion.load(path)
        refinement = refine_motion(reference, tracker, str(path))
        if save_physical is not None:
            robot_motion.save(refinement.motion, save_physical / f"{path.stem}_physical.npz")
        rows.append(
            (
                path.name,
                {
                    **tracking_metrics(refinement.motion, reference),
                    "failure_frame": refinement.failure_frame,
                    "failure_time_s": refinement.failure_time,
                },
            )
        )
    summary = summarize(m for _, m in rows)
    report = {
        "schema": REPORT_SCHEMA,
        "policy": str(policy),
        "summary": summary,
        "clips": dict(rows),
    }
    write_text_atomic(out, json.dumps(report, indent=2))
    print(format_table(rows))
    print(
        f"success rate {summary['success_rate']:.2f} over {summary['clips']} clips; "
        f"MPJPE {summary['mpjpe_global_mm']:.1f} mm (root-relative {summary['mpjpe_root_mm']:.1f} mm); report: {out}"
    )


def _expand(items: tuple[Path, ...]) -> list[Path]:
    if not items:
        raise ConfigError("give RobotMotion files or folders to evaluate on")
    files: list[Path] = []
    for item in items:
        if item.is_dir():
            files += sorted(p for p in item.rglob("*.npz") if not p.name.startswith("."))
        elif item.is_file():
            files.append(item)
        else:
            raise InputFileError(item, "no such file or folder")
    if not files:
        raise ConfigError(f"no .npz RobotMotion files in {', '.join(map(str, items))}")
    return files
