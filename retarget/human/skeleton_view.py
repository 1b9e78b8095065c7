"""Drawing a skeleton (spheres at joints, capsules along bones) into a MuJoCo scene, and a headless
skeleton video with a following camera over a checker floor.

`add_skeleton` is the reusable piece: call it after `renderer.update_scene(...)` to draw a human
next to (or on top of) whatever the scene already shows, e.g. a retargeted robot, at any offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import mujoco
import numpy as np
from tqdm import tqdm

from mimicsim.errors import RenderingError
from mimicsim.rendering import make_renderer, video_writer
from mimicsim.retarget.human.motion import HumanMotion

BONE_RGBA = (0.85, 0.45, 0.2, 1.0)
LEFT_RGBA = (0.25, 0.55, 0.9, 1.0)
"""Joints on the person's left are drawn in this colour, so a mirrored skeleton is visible."""

_FLOOR_XML = """
<mujoco model="skeleton view">
  <visual><headlight ambient="0.45 0.45 0.45" diffuse="0.5 0.5 0.5"/><global offwidth="1920" offheight="1080"/></visual>
  <asset>
    <texture type="skybox" builtin="gradient" rgb1="0.62 0.72 0.84" rgb2="0.95 0.96 0.98" width="256" height="256"/>
    <texture name="checker" type="2d" builtin="checker" rgb1="0.82 0.84 0.86" rgb2="0.55 0.58 0.62"
             width="512" height="512"/>
    <material name="floor" texture="checker" texrepeat="1 1" texuniform="true"/>
  </asset>
  <worldbody>
    <light pos="0 0 6" dir="0 0 -1" directional="true"/>
    <geom name="floor" type="plane" size="60 60 0.1" material="floor"/>
    <body name="target" mocap="true"/>
  </worldbody>
</mujoco>
"""


def add_skeleton(
    scene: mujoco.MjvScene,
    positions: np.ndarray,
    parents: Sequence[int],
    offset: Sequence[float] = (0.0, 0.0, 0.0),
    rgba: Sequence[float] = BONE_RGBA,
    *,
    radius: float = 0.022,
    highlight: Sequence[int] = (),
    highlight_rgba: Sequence[float] = LEFT_RGBA,
) -> int:
    """Append one skeleton pose to `scene`: a sphere per joint and a capsule per bone.

    Args:
        scene: The scene to draw into (e.g. `renderer.scene` after `update_scene`).
        positions: (J, 3) joint positions, world frame.
        parents: Parent index per joint (-1 for roots).
        offset: Added to every position (to draw beside a robot).
        rgba: Bone and joint colour.
        radius: Joint sphere radius (m); bones are 70 % as thick.
        highlight: Joint indices drawn in `highlight_rgba` (e.g. the left side).

    Returns:
        The number of geoms added.

    Raises:
        RenderingError: the scene has no room left (make the scene with a larger `maxgeom`).
    """
    points = np.asarray(positions, dtype=np.float64) + np.asarray(offset, dtype=np.float64)
    bones = [(j, p) for j, p in enumerate(parents) if p >= 0]
    needed = len(points) + len(bones)
    if scene.ngeom + needed > scene.maxgeom:
        raise RenderingError(
            f"the scene holds {scene.maxgeom} geoms and has {scene.maxgeom - scene.ngeom} free; "
            f"a skeleton needs {needed}: create the renderer/scene with a larger max_geom"
        )
    colour = np.asarray(rgba, dtype=np.float32)
    marked = np.asarray(highlight_rgba, dtype=np.float32)
    highlighted = set(highlight)
    eye = np.eye(3).reshape(-1)
    for j, point in enumerate(points):
        geom = scene.geoms[scene.ngeom]
        mujoco.mjv_initGeom(
            geom,
            mujoco.mjtGeom.mjGEOM_SPHERE,
            np.array([radius, 0.0, 0.0]),
            point,
            eye,
            marked if j in highlighted else colour,
        )
        scene.ngeom += 1
    for j, p in bones:
        geom = scene.geoms[scene.ngeom]
        mujoco.mjv_initGeom(geom, mujoco.mjtGeom.mjGEOM_CAPSULE, np.zeros(3), np.zeros(3), eye, colour)
        mujoco.mjv_connector(geom, mujoco.mjtGeom.mjGEOM_CAPSULE, 0.7 * radius, points[p], points[j])
        scene.ngeom += 1
    return needed


def left_joints(joint_names: Sequence[str]) -> list[int]:
    return [j for j, name in enumerate(joint_names) if name.startswith("left")]


def render_skeleton_video(
    motion: HumanMotion,
    out: str | Path,
    *,
    width: int = 640,
    height: int = 480,
    fps: float | None = None,
    distance: float = 3.5,
) -> Path:
    """Render `motion` headless to an MP4: the skeleton on a checker floor, the camera following the
    pelvis. Frames are dropped or repeated to reach `fps` (default: the motion's, at most 30)."""
    model = mujoco.MjModel.from_xml_string(_FLOOR_XML)
    data = mujoco.MjData(model)
    video_fps = float(fps if fps is not None else min(motion.fps, 30.0))
    count = max(1, int(np.floor(motion.duration * video_fps + 1e-9)) + 1)
    frames = np.clip(np.rint(np.arange(count) / video_fps * motion.fps).astype(int), 0, motion.num_frames - 1)
    pelvis = motion.positions[:, motion.joint_names.index("pelvis") if "pelvis" in motion.joint_names else 0]
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    camera.trackbodyid = model.body("target").id
    camera.distance, camera.azimuth, camera.elevation = distance, 135.0, -18.0
    highlight = left_joints(motion.joint_names)
    with make_renderer(model, width, height) as renderer, video_writer(out, video_fps) as writer:
        renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = True  # a sky instead of black, ~5 ms a frame
        for frame in tqdm(frames, desc="render skeleton", leave=False):
            data.mocap_pos[0] = [pelvis[frame, 0], pelvis[frame, 1], 0.9]
            mujoco.mj_forward(model, data)
            renderer.update_scene(data, camera)
            add_skeleton(renderer.scene, motion.positions[frame], motion.parents, highlight=highlight)
            writer.append_data(renderer.render())
    return Path(out)
