"""Evaluation reports: `eval_info.json` (the numbers) and `report.html` (the same, with plots and
videos, readable offline: plots are embedded PNGs, videos are relative links, nothing is fetched).

Invalid episodes (unstable simulation) count as failures in the success rate and are also counted
on their own, so an unstable task cannot look better than it is.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import platform
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mimicsim.atomic import write_text_atomic
from mimicsim.eval.episodes import EpisodeRecord
from mimicsim.eval.stats import mean_interval, wilson_interval

SCHEMA = "mimicsim.eval_info/1"
EVAL_INFO = "eval_info.json"


def task_summary(records: Sequence[EpisodeRecord]) -> dict[str, Any]:
    """Per-task numbers: success rate with its Wilson 95 % interval, score mean with its t
    interval, mean length and the invalid count."""
    successes = sum(r.success for r in records)
    low, high = wilson_interval(successes, len(records))
    score, score_low, score_high = mean_interval([r.score for r in records], bounds=(0.0, 1.0))
    return {
        "episodes": len(records),
        "successes": successes,
        "success_rate": successes / len(records),
        "success_rate_ci95": [low, high],
        "mean_score": score,
        "score_ci95": [score_low, score_high],
        "mean_length": float(np.mean([r.length for r in records])),
        "invalid": sum(r.invalid for r in records),
    }


def versions(extra: Sequence[str] = ()) -> dict[str, str]:
    """Versions of the software that produced a result."""
    import gymnasium
    import mujoco

    import mimicsim

    found = {
        "mimicsim": mimicsim.__version__,
        "mujoco": mujoco.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gymnasium": gymnasium.__version__,
        "platform": platform.platform(),
    }
    for name in extra:
        module = sys.modules.get(name)
        if module is not None:
            found[name] = getattr(module, "__version__", "unknown")
    return found


def video_name(record: EpisodeRecord) -> str:
    """Where an episode's MP4 goes, relative to the output folder."""
    return f"videos/{record.task}_{record.index:03d}.mp4"


def build_eval_info(
    records: Sequence[EpisodeRecord],
    *,
    policy: str,
    tasks: Mapping[str, dict[str, Any]],
    run: dict[str, Any],
    videos: int,
) -> dict[str, Any]:
    """The content of eval_info.json.

    Args:
        records: Every episode of the run, in any order.
        policy: The policy's name as given to the evaluator.
        tasks: Task name -> {"env_id": ..., "policy": the policy's metadata on that task}.
        run: Settings of the run (seed, episodes per task, workers, wall time, ...).
        videos: The first `videos` episodes of each task have an MP4 at `video_name(record)`.
    """
    from mimicsim.rendering import gl_backend

    per_task = {}
    for task, about in tasks.items():
        mine = sorted((r for r in records if r.task == task), key=lambda r: r.index)
        per_task[task] = {
            "env_id": about["env_id"],
            **task_summary(mine),
            "seeds": [r.seed for r in mine],
            "videos": [video_name(r) for r in mine if r.index < videos],
            "policy": about["policy"],
            "records": [r.to_json() for r in mine],
        }
    return {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "policy": policy,
        "run": run,
        "versions": versions(extra=("ray",) if run.get("ray") is not None else ()),
        "rendering_backend": gl_backend(),
        "tasks": per_task,
    }


def write_report(out: Path, info: dict[str, Any]) -> None:
    """Write `report.html` and, last, `eval_info.json` into `out`, each atomically."""
    write_text_atomic(out / "report.html", render_html(info))
    write_text_atomic(out / EVAL_INFO, json.dumps(_json_safe(info), indent=2, allow_nan=False) + "\n")


def _json_safe(value: Any) -> Any:
    """NaN and infinities (e.g. the interval of a single episode) become null: strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------ HTML


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _success_plot(tasks: Mapping[str, dict[str, Any]]) -> str:
    from matplotlib.figure import Figure  # no pyplot: no global backend, works headless

    names = list(tasks)
    rates = np.array([tasks[t]["success_rate"] for t in names])
    bounds = np.array([tasks[t]["success_rate_ci95"] for t in names]).reshape(-1, 2)
    fig = Figure(figsize=(1.6 * len(names) + 2, 3.2))
    ax = fig.add_subplot()
    x = np.arange(len(names))
    ax.bar(x, rates, color="#4c72b0", width=0.6)
    ax.errorbar(x, rates, yerr=[rates - bounds[:, 0], bounds[:, 1] - rates], fmt="none", ecolor="black", capsize=6)
    for i, task in enumerate(names):
        ax.text(i, 1.02, f"{tasks[task]['successes']}/{tasks[task]['episodes']}", ha="center", va="bottom")
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("success rate")
    ax.set_title("Success rate with Wilson 95 % interval")
    return _png(fig)


def _score_plot(tasks: Mapping[str, dict[str, Any]]) -> str:
    from matplotlib.figure import Figure

    names = list(tasks)
    fig = Figure(figsize=(1.6 * len(names) + 2, 3.2))
    ax = fig.add_subplot()
    jitter = np.random.default_rng(0)  # fixed: the same report for the same results
    for i, task in enumerate(names):
        records = tasks[task]["records"]
        scores = np.array([r["score"] for r in records], dtype=float)
        ax.boxplot(scores[np.isfinite(scores)], positions=[i], widths=0.5, showfliers=False)
        offsets = i + jitter.uniform(-0.15, 0.15, len(records))
        colors = ["#2ca02c" if r["success"] else "#d62728" for r in records]
        ax.scatter(offsets, scores, c=colors, s=18, zorder=3)
    every = np.array([r["score"] for t in names for r in tasks[t]["records"]], dtype=float)
    if np.all((every >= 0) & (every <= 1)):  # the tasks' scores are fractions: show the whole scale
        ax.set_ylim(-0.05, 1.05)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("score")
    ax.set_title("Episode scores (green: success, red: failure)")
    return _png(fig)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _interval(bounds: Sequence[float | None], digits: int = 3) -> str:
    return f"[{_fmt(bounds[0], digits)}, {_fmt(bounds[1], digits)}]"


def render_html(info: dict[str, Any]) -> str:
    """A self-contained HTML page for `info` (eval_info.json's content)."""
    tasks = info["tasks"]
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(task)}</td><td>{t['episodes']}</td><td>{t['successes']}</td>"
        f"<td>{_fmt(t['success_rate'], 2)} {_interval(t['success_rate_ci95'], 2)}</td>"
        f"<td>{_fmt(t['mean_score'])} {_interval(t['score_ci95'])}</td>"
        f"<td>{_fmt(t['mean_length'], 1)}</td><td>{t['invalid']}</td></tr>"
        for task, t in tasks.items()
    )
    sections = []
    for task, t in tasks.items():
        videos = "".join(
            f'<figure><video src="{esc(v)}" controls muted loop width="320"></video>'
            f"<figcaption>{esc(v)}</figcaption></figure>"
            for v in t["videos"]
        )
        records = "".join(
            f"<tr><td>{r['index']}</td><td>{r['seed']}</td><td>{'yes' if r['success'] else 'no'}</td>"
            f"<td>{_fmt(r['score'])}</td><td>{r['length']}</td><td>{r['queries']}</td>"
            f"<td>{esc(r['reason']) if r['invalid'] else ''}</td><td>{esc(r['instruction'])}</td></tr>"
            for r in t["records"]
        )
        sections.append(
            f"<h2>{esc(task)} <small>({esc(t['env_id'])}, policy {esc(t['policy']['name'])} "
            f"{esc(t['policy']['version'])})</small></h2><div class='videos'>{videos}</div>"
            "<details><summary>episodes</summary><table><tr><th>#</th><th>seed</th><th>success</th>"
            "<th>score</th><th>length</th><th>queries</th><th>invalid</th><th>instruction</th></tr>"
            f"{records}</table></details>"
        )
    run = info["run"]
    meta = "".join(
        f"<li>{esc(k)}: {esc(str(v))}</li>"
        for k, v in {
            "policy": info["policy"],
            "created": info["created"],
            "rendering backend": info["rendering_backend"],
            **run,
            **info["versions"],
        }.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mimicsim evaluation: {esc(info["policy"])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }}
.videos {{ display: flex; flex-wrap: wrap; gap: 1em; }}
figure {{ margin: 0; }} small {{ color: #666; font-weight: normal; }}
</style></head><body>
<h1>mimicsim evaluation: {esc(info["policy"])}</h1>
<table><tr><th>task</th><th>episodes</th><th>successes</th><th>success rate [95 % CI]</th>
<th>mean score [95 % CI]</th><th>mean length (steps)</th><th>invalid</th></tr>{rows}</table>
<img alt="success rates" src="{_success_plot(tasks)}"> <img alt="score distributions" src="{_score_plot(tasks)}">
{"".join(sections)}
<h2>Run</h2><ul>{meta}</ul>
</body></html>
"""
