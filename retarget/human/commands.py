"""CLI verbs about human motion files: `mimicsim motion info FILE`, `mimicsim motion render FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import tyro

from mimicsim.retarget.human.normalize import floor_height, normalize
from mimicsim.retarget.human.read_options import Options, ReadOptions


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.0f} %"


def motion_info(file: Annotated[Path, tyro.conf.Positional], read: Options = ReadOptions()) -> None:
    """Describe a human motion file: format, frames, fps, duration, height, contacts and plausibility.

    Args:
        file: The motion file (.npy, .bvh, .npz; AMASS / SMPL-family parameters need --body-models).
    """
    from mimicsim.retarget.human.plausibility import human_plausibility  # CLI glue may reach up a layer

    motion = read.load(file)
    floor = floor_height(motion.positions, motion.joint_names)
    ready = normalize(motion)
    v = human_plausibility(ready)
    assert ready.contacts is not None  # normalize estimates them
    left, right = ready.contacts.mean(axis=0)
    details = "".join(f" · {k} {value}" for k, value in motion.source.details.items() if k != "warning")
    lifted = " (normalised to 0 below)" if abs(floor) >= 0.005 else ""
    metrics = (
        f"penetration {1000 * v.penetration:.0f} mm · lowest foot {100 * v.lowest_foot:.1f} cm · "
        f"airborne {v.airborne:.2f} s · skate ratio {v.skate_ratio:.2f} · "
        f"contact speed {v.contact_speed:.2f} m/s · jerk {v.jerk_mean:.0f} m/s³"
    )
    lines = [
        ("file", str(file)),
        ("format", motion.source.format + details),
        ("frames", f"{motion.num_frames} at {motion.fps:g} fps = {motion.duration:.2f} s"),
        ("height", f"{motion.height:.2f} m (standing, estimated from bone lengths)"),
        ("floor", f"lowest foot at {floor:+.3f} m in the file{lifted}"),
        ("contacts", f"left foot {_percent(left)} · right foot {_percent(right)} of frames"),
        ("metrics", metrics),
        ("plausible", "yes" if v.plausible else "no: " + "; ".join(v.failures)),
    ]
    if "warning" in motion.source.details:
        lines.append(("WARNING", motion.source.details["warning"]))
    for key, value in lines:
        print(f"{key:<10} {value}")


def motion_render(
    file: Annotated[Path, tyro.conf.Positional],
    out: Path = Path("motion.mp4"),
    read: Options = ReadOptions(),
    width: int = 640,
    height: int = 480,
    video_fps: float | None = None,
    raw: bool = False,
) -> None:
    """Render a human motion file headless to an MP4: the skeleton on a checker floor, camera following.

    Args:
        file: The motion file (.npy, .bvh, .npz).
        out: MP4 file to write.
        width: Video width in pixels.
        height: Video height in pixels.
        video_fps: Video frame rate (default: the motion's, at most 30).
        raw: Show the file as it is, without putting the feet on the floor.
    """
    from mimicsim.atomic import check_writable
    from mimicsim.rendering import check_image_size
    from mimicsim.retarget.human.skeleton_view import render_skeleton_video

    check_writable(out)
    check_image_size(width, height)
    motion = read.load(file)
    if not raw:
        motion = normalize(motion, contacts=False)
    render_skeleton_video(motion, out, width=width, height=height, fps=video_fps)
    print(f"wrote {out} ({motion.duration:.1f} s)")
