"""The main job on built-in data: `mimicsim demo` (what `make demo` runs)."""

from __future__ import annotations

from pathlib import Path

from mimicsim.assets import load_robot, robot_names
from mimicsim.assets.snapshots import hold_pose, render_standing


def demo(out: Path = Path("out")) -> None:
    """Run the main job on built-in data, writing pictures, videos and reports into `out`.

    Args:
        out: Output folder.
    """
    out.mkdir(parents=True, exist_ok=True)
    for name in robot_names():
        spec = load_robot(name)
        render_standing(spec, out / f"{name}_standing.png")
        heights = hold_pose(spec, 3.0, video=out / f"{name}_hold_pose.mp4")
        print(f"{name}: standing.png, hold_pose.mp4 (pelvis {heights[0]:.3f} -> {heights[-1]:.3f} m after 3 s)")
    print(f"demo outputs in {out.resolve()}")
