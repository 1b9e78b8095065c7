"""Wall-clock time until a G1 tracker follows the procedural walk clip to success, on this machine.

The clip is the main demo's (`retarget.procedural.demo_clip`: stand, walk, turn 90 degrees while
walking, walk, stop and wave; about 10 s), retargeted onto G1 by `retarget`. Training uses
`mimicsim train-tracker`'s defaults except where the flags below say otherwise, evaluates the
deterministic policy every --eval-every steps (PHC's success rule) and stops at the first success.
Target: <= 30 min.

The run can be split into segments (--segment, for machines that limit job length): each
invocation then trains for at most that many minutes and exits; the same command again resumes
from the latest checkpoint (the clock in eval.csv continues across segments, counting training
time only; resuming restarts the simulation's random streams). When the run ends (success or
--minutes spent) the script writes the curve (success, tracked fraction of the clip and body
error against wall-clock time) as a PNG.

Run: .venv/bin/python benchmarks/train_tracker.py --out runs/bench_g1 [--minutes 30] [--segment 30]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
from pathlib import Path

from mimicsim.policies.tracking.checkpoint import read_checkpoint
from mimicsim.policies.tracking.training import TrainConfig, train_tracker


def walk_clip(folder: Path) -> Path:
    from mimicsim.retarget import robot_motion
    from mimicsim.retarget.human.procedural import demo_clip
    from mimicsim.retarget.retargeter import retarget

    path = folder / "walk_g1.npz"
    if not path.is_file():
        robot_motion.save(retarget(demo_clip(), "g1"), path)
    return path


def plot(eval_csv: Path, png: Path, minutes: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(eval_csv.open()))
    t = [float(r["wall_seconds"]) / 60 for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.step(t, [float(r["success_rate"]) for r in rows], where="post", label="success (PHC)", color="tab:green")
    ax.plot(t, [float(r["tracked_fraction"]) for r in rows], label="fraction of clip tracked", color="tab:blue")
    ax.set_xlabel("wall-clock training time (min)")
    ax.set_ylabel("success / fraction")
    ax.set_ylim(-0.05, 1.05)
    ax.axvline(minutes, color="grey", linestyle=":", label=f"{minutes:g} min target")
    twin = ax.twinx()
    twin.plot(t, [float(r["mean_body_error_m"]) for r in rows], color="tab:red", alpha=0.6, label="mean body error (m)")
    twin.set_ylabel("mean body error (m)")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=8)
    ax.set_title("G1 tracker on the procedural walk clip (2-core machine)")
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_g1"))
    parser.add_argument("--minutes", type=float, default=30.0, help="total training budget (wall clock)")
    parser.add_argument(
        "--segment",
        type=float,
        default=None,
        help="longest training per invocation (minutes; default: the whole budget)",
    )
    parser.add_argument("--eval-every", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    clip = walk_clip(args.out)
    latest = args.out / "run" / "checkpoints" / "latest.npz"
    resume = latest if latest.is_file() else None
    spent = read_checkpoint(latest).header["wall_seconds"] / 60 if resume else 0.0
    done = (args.out / "run" / "eval.csv").is_file() and any(
        float(r["success_rate"]) == 1.0 for r in csv.DictReader((args.out / "run" / "eval.csv").open())
    )
    if not done and spent < args.minutes:
        config = TrainConfig(steps=10**9, eval_every=args.eval_every, stop_on_success=1, seed=args.seed)
        segment = args.minutes if args.segment is None else args.segment
        config = dataclasses.replace(config, max_minutes=min(args.minutes, spent + segment))
        result = train_tracker([clip], args.out / "run", config, resume)
        spent, done = result.wall_seconds / 60, result.first_success_seconds is not None
    rows = list(csv.DictReader((args.out / "run" / "eval.csv").open()))
    first = next((r for r in rows if float(r["success_rate"]) == 1.0), None)
    if done or spent >= args.minutes:
        plot(args.out / "run" / "eval.csv", args.out / "success_vs_wallclock.png", args.minutes)
    last = rows[-1]
    print(f"{'clip':<14} {'minutes':>8} {'steps':>10} {'success':>8} {'tracked':>8} {'body err m':>10}")
    print(
        f"{'walk (G1)':<14} {float(last['wall_seconds']) / 60:>8.1f} {int(last['timesteps']):>10} "
        f"{float(last['success_rate']):>8.2f} {float(last['tracked_fraction']):>8.2f} "
        f"{float(last['mean_body_error_m']):>10.3f}"
    )
    if first is not None:
        print(
            f"first success after {float(first['wall_seconds']) / 60:.1f} min ({int(first['timesteps'])} steps); "
            f"target <= {args.minutes:g} min"
        )
    elif spent < args.minutes:
        print(f"not yet tracked after {spent:.1f} of {args.minutes:g} min: run the same command again to continue")
    else:
        print(f"not tracked to success within {args.minutes:g} min")


if __name__ == "__main__":
    main()
