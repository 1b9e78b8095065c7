"""CLI verbs about evaluation."""

from __future__ import annotations

from pathlib import Path


def evaluate(
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
) -> None:
    """Score a policy on manipulation tasks; writes eval_info.json, report.html and MP4s into OUT.

    Args:
        task: Comma-separated tasks: pick-place, pour, unfold.
        policy: "expert" (scripted experts), "ws://host:port" (a policy server) or "package.module:factory".
        episodes: Episodes per task.
        seed: Run seed; every episode's seed derives from it.
        out: Output folder.
        workers: Local worker processes.
        ray: Run on Ray: "auto" (existing cluster), "local" (start one) or a cluster address.
        replan_steps: Actions executed from each chunk before the policy is asked again; None: the whole chunk.
        videos: Episodes per task recorded as MP4.
        timeout: Seconds a remote policy may take per request.
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
    )
    for name, t in info["tasks"].items():
        low, high = t["success_rate_ci95"]
        print(
            f"{name:<11} success {t['successes']}/{t['episodes']} = {t['success_rate']:.2f} "
            f"[{low:.2f}, {high:.2f}]  mean score {t['mean_score']:.3f}  invalid {t['invalid']}"
        )
    print(f"wrote {Path(out) / 'eval_info.json'} and {Path(out) / 'report.html'}")
