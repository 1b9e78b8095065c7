"""Speed of human-motion input: loading each real clip, normalising, generating and round-tripping the
procedural demo clip, and rendering a skeleton video.

Run: .venv/bin/python benchmarks/motion_io.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mimicsim.retarget.human import procedural
from mimicsim.retarget.human.formats import load_motion
from mimicsim.retarget.human.formats.bvh import write_bvh
from mimicsim.retarget.human.normalize import normalize

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "motions"
CLIPS = {
    "bvh/cmu_01_01.bvh": {},
    "bvh/motionmillion_case1_predict.bvh": {},
    "humanml3d_263/012314_new_joint_vecs.npy": {},
    "representation_272/000000_rep272.npy": {"fps": 60.0},
    "t2m_generated/apersonwalkingtotheside.npy": {},
}


def best_of(repeats: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    if SHARED.is_dir():
        for name, options in CLIPS.items():
            motion = load_motion(SHARED / name, **options)
            seconds = best_of(args.repeats, lambda name=name, options=options: load_motion(SHARED / name, **options))
            rows.append((f"load {name}", f"{seconds * 1000:.1f} ms", f"{motion.num_frames / seconds:,.0f} frames/s"))
        cmu = load_motion(SHARED / "bvh/cmu_01_01.bvh")
        seconds = best_of(args.repeats, lambda: normalize(cmu))
        rows.append(
            ("normalize + contacts, CMU 01_01", f"{seconds * 1000:.1f} ms", f"{cmu.num_frames / seconds:,.0f} frames/s")
        )
    else:
        rows.append(("real clips", "skipped", f"{SHARED} is absent"))
    demo = procedural.demo_clip()
    seconds = best_of(args.repeats, procedural.demo_clip)
    rows.append(
        (
            "procedural.demo_clip (10 s at 30 fps)",
            f"{seconds * 1000:.1f} ms",
            f"{demo.num_frames / seconds:,.0f} frames/s",
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.bvh"
        seconds = best_of(args.repeats, lambda: write_bvh(demo, path))
        rows.append(("write_bvh demo clip", f"{seconds * 1000:.1f} ms", f"{demo.num_frames / seconds:,.0f} frames/s"))
        from mimicsim.retarget.human.skeleton_view import render_skeleton_video

        short = normalize(procedural.generate([procedural.Walk(2.0)]), contacts=False)
        seconds = best_of(1, lambda: render_skeleton_video(short, Path(tmp) / "walk.mp4", width=640, height=480))
        frames = int(short.duration * 30) + 1
        rows.append(("render skeleton video 640x480", f"{seconds:.2f} s", f"{frames / seconds:.0f} frames/s"))
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'time':>10}  rate")
    for what, took, rate in rows:
        print(f"{what:<{width}}  {took:>10}  {rate}")


if __name__ == "__main__":
    main()
