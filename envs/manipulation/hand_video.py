"""Side-by-side video of a hand replay: the human's keypoints (left) and the simulated robot hand
(right), one frame per control step.

Both panels look from the same camera: the human's keypoints, in the palm frame, are placed on the
simulated palm's frame at that step and projected along the camera's view, so a finger that curls
on the left curls the same way on the right.
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
from tqdm import tqdm

from mimicsim.assets.franka_inspire import HAND_BODY
from mimicsim.envs.manipulation.hand_replay import HandReplayEnv, Replay
from mimicsim.rendering import make_renderer, video_writer
from mimicsim.retarget.hand.inspire import InspireKinematics
from mimicsim.retarget.hand.keypoints import BONES

FINGER_COLOURS = {"thumb": "#d95f02", "index": "#1b9e77", "middle": "#7570b3", "ring": "#e7298a", "pinky": "#66a61e"}
DISTANCE = 0.4
FOVY = 45.0  # MuJoCo's default for free cameras
PALM_CENTRE = np.array([0.13, 0.0, 0.0])  # in the hand's base frame, between the knuckles and the wrist


def render_hand_video(
    path: str | Path, human_keypoints: np.ndarray, fps: float, replay: Replay, size: tuple[int, int] = (360, 480)
) -> Path:
    """Write the MP4. `human_keypoints (T, 21, 3)` in the palm frame at `fps`; the video runs at the
    replay's rate, each step showing the human frame of the same instant."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height, width = size
    env = HandReplayEnv(replay.action[0], cameras=())
    model, data = env.model, env.data
    renderer = make_renderer(model, width=width, height=height)
    hand = model.body(HAND_BODY).id
    data.qpos[:] = replay.qpos[0]
    mujoco.mj_kinematics(model, data)
    azimuth, elevation = _facing_palm(data.xmat[hand].reshape(3, 3))
    camera = mujoco.MjvCamera()
    camera.distance, camera.azimuth, camera.elevation = DISTANCE, azimuth, elevation
    kinematics = InspireKinematics()
    palm_in_hand, wrist = kinematics.rotation, kinematics.origin
    right, up = _camera_axes(azimuth, elevation)
    figure = Figure(figsize=(width / 100, height / 100), dpi=100)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_facecolor("white")
    lines = [axes.plot([], [], lw=3, color=_bone_colour(bone))[0] for bone in BONES]
    dots = axes.plot([], [], "o", color="#333333", ms=4)[0]
    half = DISTANCE * np.tan(np.radians(FOVY) / 2)
    axes.set_xlim(-half * width / height, half * width / height)
    axes.set_ylim(-half, half)
    axes.set_aspect("equal")
    axes.axis("off")
    title = axes.text(0.02, 0.96, "human", transform=axes.transAxes, fontsize=12, va="top")
    try:
        with video_writer(path, replay.fps) as writer:
            for step, qpos in enumerate(tqdm(replay.qpos, desc="render hand video", leave=False)):
                data.qpos[:] = qpos
                mujoco.mj_forward(model, data)
                rotation = data.xmat[hand].reshape(3, 3)
                camera.lookat[:] = data.xpos[hand] + rotation @ PALM_CENTRE
                renderer.update_scene(data, camera=camera)
                robot = renderer.render()
                frame = min(round(step / replay.fps * fps), len(human_keypoints) - 1)
                # The human hand on the simulated palm: its wrist at the robot's, centred as the camera is.
                world = (human_keypoints[frame] @ palm_in_hand.T + wrist - PALM_CENTRE) @ rotation.T
                u, v = world @ right, world @ up
                for line, (a, b) in zip(lines, BONES, strict=True):
                    line.set_data([u[a], u[b]], [v[a], v[b]])
                dots.set_data(u, v)
                title.set_text(f"human  t = {frame / fps:5.2f} s")
                canvas.draw()
                human = np.asarray(canvas.buffer_rgba())[..., :3]
                writer.append_data(np.concatenate([human, robot], axis=1))
    finally:
        renderer.close()
        env.close()
    return Path(path)


def _facing_palm(rotation: np.ndarray) -> tuple[float, float]:
    """Azimuth and elevation (degrees) of a camera in front of the palm (the hand frame's +y),
    turned 30° towards the thumb and looking slightly down, so the thumb and fingers both show."""
    forward = -rotation[:, 1]
    azimuth = np.degrees(np.arctan2(forward[1], forward[0])) - 30.0
    elevation = np.clip(np.degrees(np.arcsin(np.clip(forward[2], -1, 1))), -60.0, 10.0) - 15.0
    return float(azimuth), float(elevation)


def _camera_axes(azimuth: float, elevation: float) -> tuple[np.ndarray, np.ndarray]:
    """Right and up unit vectors of a MuJoCo free camera at this azimuth and elevation (degrees)."""
    az, el = np.radians(azimuth), np.radians(elevation)
    forward = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    return right, np.cross(right, forward)


def _bone_colour(bone: tuple[int, int]) -> str:
    child = bone[1]
    return list(FINGER_COLOURS.values())[(child - 1) // 4]
