"""Side-by-side video of a retargeted robot and its source skeleton, rendered headless.

The skeleton is drawn beside the robot and travels with it (its pelvis is placed at the robot's
pelvis plus a sideways offset), so the two stay side by side even though the robot's strides are
scaled. Small markers on the robot show the keypoint targets it was solving for.
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
from scipy.ndimage import gaussian_filter1d
from tqdm import tqdm

from mimicsim.assets import RobotSpec
from mimicsim.rendering import make_renderer, video_writer
from mimicsim.retarget.human.motion import HumanMotion
from mimicsim.retarget.human.skeleton_view import add_skeleton, left_joints
from mimicsim.retarget.robot_motion import RobotMotion

TARGET_RGBA = np.array([1.0, 0.2, 0.1, 0.8], dtype=np.float32)


def render_side_by_side(
    robot_motion: RobotMotion,
    human: HumanMotion,
    spec: RobotSpec,
    out: str | Path,
    *,
    width: int = 800,
    height: int = 448,
    fps: float | None = None,
    gap: float = 0.9,
    show_targets: bool = True,
) -> Path:
    """Write an MP4: the robot, and `gap` metres to its left the source skeleton.

    Args:
        robot_motion: The retargeted motion.
        human: The source motion (after `normalize`, as the retargeter saw it; its frame rate may
            differ from the robot motion's, frames are matched by time).
        spec: The robot.
        out: MP4 path (written atomically).
        fps: Video frame rate (default: the motion's, at most 30).
        gap: Sideways distance between the robot's pelvis and the skeleton's (m).
        show_targets: Mark the keypoint targets on the robot.
    """
    model = spec.model
    data = mujoco.MjData(model)
    qpos = robot_motion.qpos()
    video_fps = float(fps if fps is not None else min(robot_motion.fps, 30.0))
    times = np.arange(int(np.floor(robot_motion.duration * video_fps + 1e-9)) + 1) / video_fps
    robot_frames = np.clip(np.rint(times * robot_motion.fps).astype(int), 0, robot_motion.num_frames - 1)
    human_frames = np.clip(np.rint(times * human.fps).astype(int), 0, human.num_frames - 1)
    human_pelvis = human.positions[:, human.joint_names.index("pelvis")]
    highlight = left_joints(human.joint_names)
    # The view turns with the robot's heading, smoothed over a second so that gait sway does not
    # shake it: always from the front, the skeleton on the robot's left.
    quat = robot_motion.root_quat_wxyz
    yaw = np.unwrap(
        np.arctan2(2 * (quat[:, 0] * quat[:, 3] + quat[:, 1] * quat[:, 2]), 1 - 2 * (quat[:, 2] ** 2 + quat[:, 3] ** 2))
    )
    yaw = gaussian_filter1d(yaw, robot_motion.fps, mode="nearest")
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_FREE
    camera.distance = 2.6 + gap
    camera.elevation = -12.0
    with make_renderer(model, width, height) as renderer, video_writer(out, video_fps) as writer:
        for r, h in tqdm(list(zip(robot_frames, human_frames, strict=True)), desc=f"render {spec.name}", leave=False):
            data.qpos[:] = qpos[r]
            mujoco.mj_kinematics(model, data)
            robot_pelvis = qpos[r, :3]
            side = gap * np.array([-np.sin(yaw[r]), np.cos(yaw[r]), 0.0])
            shift = np.array([*(robot_pelvis[:2] - human_pelvis[h, :2] + side[:2]), 0.0])
            camera.lookat[:] = [*(robot_pelvis[:2] + 0.5 * side[:2]), 0.55 * spec.standing_height]
            camera.azimuth = np.degrees(yaw[r]) + 160.0
            renderer.update_scene(data, camera)
            add_skeleton(renderer.scene, human.positions[h], human.parents, offset=tuple(shift), highlight=highlight)
            if show_targets and robot_motion.keypoint_targets is not None:
                _add_markers(renderer.scene, robot_motion.keypoint_targets[r])
            writer.append_data(renderer.render())
    return Path(out)


def _add_markers(scene: mujoco.MjvScene, points: np.ndarray, radius: float = 0.018) -> None:
    eye = np.eye(3).reshape(-1)
    for point in points:
        if scene.ngeom >= scene.maxgeom:
            return
        mujoco.mjv_initGeom(
            scene.geoms[scene.ngeom],
            mujoco.mjtGeom.mjGEOM_SPHERE,
            np.array([radius, 0.0, 0.0]),
            np.asarray(point, dtype=np.float64),
            eye,
            TARGET_RGBA,
        )
        scene.ngeom += 1
