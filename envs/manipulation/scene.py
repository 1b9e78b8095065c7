"""The table scene shared by the manipulation tasks: the Franka + Inspire robot on a table, lighting,
a third-person camera and a wrist camera, and `CameraRig`, which renders them only when asked.

World frame: the table top is the plane z = 0 and the Panda's base stands on it at the origin,
facing +x. Tasks place their objects in the workspace in front of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

from mimicsim.assets.franka_inspire import HAND_BODY, franka_inspire_spec
from mimicsim.errors import ConfigError
from mimicsim.rendering import make_renderer

CAMERAS = ("third_person", "wrist")
DEFAULT_IMAGE_SIZE = (224, 224)  # (height, width), Being-H0's input size
TABLE_HALF_EXTENT = (0.45, 0.6, 0.02)
TABLE_CENTRE_X = 0.45
TABLE_FRICTION = (0.8, 0.005, 0.0001)
# Collision bits: SOLID things (robot, objects, table) collide with each other; BEADS (the pour
# task's particles) collide with each other and with whatever has BEADS in its conaffinity: the
# table, the hand, the containers' insides.
SOLID = 1
BEADS = 2


def look_at_xyaxes(eye: Sequence[float], target: Sequence[float], up: Sequence[float] = (0, 0, 1)) -> list[float]:
    """MJCF `xyaxes` of a camera at `eye` looking at `target` (a camera looks along its -z)."""
    forward = np.asarray(target, float) - np.asarray(eye, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    return [*right, *np.cross(right, forward)]


def table_scene_spec() -> mujoco.MjSpec:
    """Robot, table, floor, lights and the two cameras; tasks add their objects to it."""
    spec = franka_inspire_spec()
    spec.visual.headlight.ambient = [0.4, 0.4, 0.4]
    spec.visual.headlight.diffuse = [0.4, 0.4, 0.4]
    spec.visual.headlight.specular = [0.1, 0.1, 0.1]
    world = spec.worldbody
    world.add_geom(
        name="table",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=list(TABLE_HALF_EXTENT),
        pos=[TABLE_CENTRE_X, 0.0, -TABLE_HALF_EXTENT[2]],
        rgba=[0.55, 0.42, 0.3, 1.0],
        friction=list(TABLE_FRICTION),
        contype=SOLID,
        conaffinity=SOLID | BEADS,
    )
    world.add_geom(
        name="floor",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[3, 3, 0.1],
        pos=[0, 0, -0.75],
        rgba=[0.75, 0.76, 0.78, 1.0],
        contype=SOLID,
        conaffinity=SOLID | BEADS,
    )
    world.add_light(name="key", pos=[0.5, -0.5, 1.6], dir=[-0.1, 0.4, -1.0], diffuse=[0.6, 0.6, 0.6], castshadow=False)
    world.add_light(name="fill", pos=[0.2, 0.8, 1.2], dir=[0.2, -0.6, -1.0], diffuse=[0.3, 0.3, 0.3], castshadow=False)
    # Facing the robot across the table, slightly to its right: sees the workspace unblocked by the arm.
    eye = (1.15, -0.35, 0.65)
    world.add_camera(name="third_person", pos=list(eye), xyaxes=look_at_xyaxes(eye, (0.45, 0.0, 0.05)), fovy=50)
    # On the back of the wrist, looking past the palm along the fingers (hand frame: x = fingers,
    # +y = out of the palm).
    wrist_eye = (0.03, 0.07, 0.0)
    spec.body(HAND_BODY).add_camera(
        name="wrist",
        pos=list(wrist_eye),
        xyaxes=look_at_xyaxes(wrist_eye, (0.25, 0.05, 0.0), up=(0, 1, 0)),
        fovy=75,
    )
    return spec


class CameraRig:
    """Offscreen renderers for a model's cameras, created on first use and closed by `close()`.

    One renderer per image size; `render_count` counts rendered images (tests use it to prove
    that nothing is rendered between policy queries)."""

    def __init__(self, model: mujoco.MjModel) -> None:
        self._model = model
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self.render_count = 0

    def render(self, data: mujoco.MjData, camera: str, size: tuple[int, int]) -> np.ndarray:
        """uint8 (height, width, 3) image of `camera`."""
        if mujoco.mj_name2id(self._model, mujoco.mjtObj.mjOBJ_CAMERA, camera) < 0:
            raise ConfigError(f"unknown camera {camera!r}; this scene has {', '.join(CAMERAS)}")
        renderer = self._renderers.get(size)
        if renderer is None:
            renderer = self._renderers[size] = make_renderer(self._model, width=size[1], height=size[0])
        renderer.update_scene(data, camera=camera)
        self.render_count += 1
        return renderer.render()

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()
