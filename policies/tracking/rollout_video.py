"""Video of a robot motion (typically a physical rollout), optionally with the reference it tracked
drawn as a translucent ghost, rendered headless."""

from __future__ import annotations

import copy
from pathlib import Path

import mujoco
import numpy as np
from scipy.ndimage import gaussian_filter1d
from tqdm import tqdm

from mimicsim.assets import load_robot
from mimicsim.rendering import make_renderer, video_writer
from mimicsim.retarget.robot_motion import RobotMotion

GHOST_RGBA = (0.3, 0.6, 1.0, 0.35)


def render_motion(
    motion: RobotMotion,
    out: str | Path,
    *,
    reference: RobotMotion | None = None,
    width: int = 640,
    height: int = 480,
    fps: float | None = None,
) -> Path:
    """Write an MP4 of `motion`; with `reference`, its pose at the same time is drawn as a ghost.
    The camera follows the pelvis from the side, smoothed over half a second."""
    spec = load_robot(motion.robot)
    model, data = spec.model, mujoco.MjData(spec.model)
    video_fps = float(fps if fps is not None else min(motion.fps, 30.0))
    times = np.arange(int(np.floor(motion.duration * video_fps + 1e-9)) + 1) / video_fps
    frames = np.clip(np.rint(times * motion.fps).astype(int), 0, motion.num_frames - 1)
    lookat = gaussian_filter1d(motion.root_pos, 0.5 * motion.fps, axis=0, mode="nearest")
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_FREE
    camera.distance, camera.azimuth, camera.elevation = 2.0 * spec.standing_height, 90.0, -10.0
    ghost = _ghost(model) if reference is not None else None
    ghost_data = mujoco.MjData(model)
    qpos, ref_qpos = motion.qpos(), None if reference is None else reference.qpos()
    options, perturb = mujoco.MjvOption(), mujoco.MjvPerturb()
    with make_renderer(model, width, height) as renderer, video_writer(out, video_fps) as writer:
        for t, frame in tqdm(
            list(zip(times, frames, strict=True)), desc=f"video {Path(out).name}", unit="frame", leave=False
        ):
            data.qpos[:] = qpos[frame]
            mujoco.mj_kinematics(model, data)
            camera.lookat[:] = lookat[frame]
            renderer.update_scene(data, camera)
            if ghost is not None and reference is not None and ref_qpos is not None:
                ref_frame = min(round(t * reference.fps), reference.num_frames - 1)
                ghost_data.qpos[:] = ref_qpos[ref_frame]
                mujoco.mj_kinematics(ghost, ghost_data)
                mujoco.mjv_addGeoms(ghost, ghost_data, options, perturb, mujoco.mjtCatBit.mjCAT_DYNAMIC, renderer.scene)
            writer.append_data(renderer.render())
    return Path(out)


def _ghost(model: mujoco.MjModel) -> mujoco.MjModel:
    ghost = copy.copy(model)
    ghost.geom_rgba[:] = GHOST_RGBA
    ghost.geom_matid[:] = -1  # materials would override the colour
    return ghost
