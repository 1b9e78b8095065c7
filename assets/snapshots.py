"""Pictures and clips of a robot in its standing pose."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import mujoco
import numpy as np
from tqdm import tqdm

from mimicsim.assets.robot_spec import RobotSpec
from mimicsim.rendering import make_renderer, tracking_camera, video_writer, write_png


def standing_camera(spec: RobotSpec, data: mujoco.MjData) -> mujoco.MjvCamera:
    return tracking_camera(spec.model, data, "pelvis", distance=1.9 * spec.standing_height, elevation=-12.0)


def render_standing(
    spec: RobotSpec, out: str | Path, *, width: int = 640, height: int = 640, quality: bool = False
) -> np.ndarray:
    data = spec.make_data()
    with make_renderer(spec.model, width, height, quality=quality) as renderer:
        renderer.update_scene(data, standing_camera(spec, data))
        image = renderer.render()
    write_png(out, image)
    return image


def hold_pose(
    spec: RobotSpec,
    seconds: float,
    *,
    video: str | Path | None = None,
    fps: int = 30,
    width: int = 480,
    height: int = 480,
) -> np.ndarray:
    """Simulate the robot holding its standing pose under PD; returns pelvis heights per video frame
    (or per control interval when no video is written). Renders only the frames that are kept."""
    model, data = spec.model, spec.make_data()
    steps_per_frame = max(1, round(1.0 / (fps * model.opt.timestep)))
    n_frames = round(seconds * fps)
    heights = np.empty(n_frames + 1)
    heights[0] = data.qpos[2]
    with ExitStack() as stack:
        renderer = writer = None
        if video is not None:
            renderer = stack.enter_context(make_renderer(model, width, height))
            writer = stack.enter_context(video_writer(video, fps))
            camera = standing_camera(spec, data)
        for frame in tqdm(range(n_frames), desc=f"{spec.name} hold pose", disable=video is None, leave=False):
            mujoco.mj_step(model, data, nstep=steps_per_frame)
            heights[frame + 1] = data.qpos[2]
            if renderer is not None and writer is not None:
                renderer.update_scene(data, camera)
                writer.append_data(renderer.render())
    return heights
