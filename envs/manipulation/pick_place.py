"""Pick-place: put the named object into the named container.

Two objects (each a can, box or bottle, in distinct colours) and two containers (a bowl and
a plate, in distinct colours) are placed at random on the table; the instruction names one object and
one container. The objects are sized for the Inspire hand's power grasp: 4-5 cm across (thumb and
fingers close round them) and 10-12 cm tall (a hand grasping them from the side keeps the Panda's
wrist above the table). Layouts keep the side from which the right hand reaches the target object and
the target container clear of the other items. Success: the object rests inside the container's
region and the hand has let go.
Score: 1 - distance / initial distance (object centre to container centre, horizontal), clipped to
[0, 1]; `info["distance"]` gives the distance in metres.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from mimicsim.envs.manipulation.base import ManipulationEnv
from mimicsim.envs.manipulation.instructions import COLOURS, PICK_PLACE_TEMPLATES, instruction, pick_colours
from mimicsim.envs.manipulation.metrics import pick_place_success, progress_score

# name -> (geom type, half sizes as MuJoCo `size`, half height, half width across)
SHAPES: dict[str, tuple[int, tuple[float, float, float], float, float]] = {
    "can": (mujoco.mjtGeom.mjGEOM_CYLINDER, (0.025, 0.05, 0.0), 0.05, 0.025),
    "box": (mujoco.mjtGeom.mjGEOM_BOX, (0.02, 0.02, 0.05), 0.05, 0.02),
    "bottle": (mujoco.mjtGeom.mjGEOM_CYLINDER, (0.022, 0.06, 0.0), 0.06, 0.022),
}
CONTAINERS = ("bowl", "plate")
CONTAINER_RADIUS = 0.09
BOWL_WALL_HEIGHT = 0.04
CONTAINER_BASE = 0.006  # half thickness of the base disc
SUCCESS_RADIUS = 0.07
N_OBJECTS = 2
OBJECT_MASS = 0.08
WORKSPACE_X = (0.42, 0.68)
WORKSPACE_Y = (-0.3, 0.3)
_MIN_GAP = {"object": 0.14, "container": 0.24, "mixed": 0.17}
# How far an item reaches into the hand's way; the plate is too low for the hand to touch.
_REACH_RADIUS = {"object": 0.025, "bowl": CONTAINER_RADIUS + 0.005, "plate": -np.inf}
# The right hand reaches an object (or the middle of a container) with its fingers pointing 45 degrees
# left of the line from the robot's base to the item, the palm facing the item. Hand and wrist then
# cover this rectangle around the item (metres, along the fingers and along the palm normal, which
# points at the item); layouts keep it free around the target object and the target container, so
# the hand never lands on another item.
_REACH_YAW = np.radians(45.0)
_REACH_BOX = ((-0.33, 0.09), (-0.14, 0.03))


class PickPlaceEnv(ManipulationEnv):
    max_steps = 300

    def _build_task(self, spec: mujoco.MjSpec) -> None:
        for i in range(N_OBJECTS):
            body = spec.worldbody.add_body(name=f"object{i}", pos=[0.5, 0.0, 0.1])
            body.add_freejoint(name=f"object{i}")
            body.explicitinertial = True
            body.mass = OBJECT_MASS
            body.ipos = [0.0, 0.0, 0.0]
            body.inertia = [1e-4, 1e-4, 3e-5]  # a 12 cm x 5 cm solid of OBJECT_MASS
            for shape, (gtype, size, _, _) in SHAPES.items():
                body.add_geom(
                    name=f"object{i}_{shape}",
                    type=gtype,
                    size=list(size),
                    condim=4,
                    friction=[1.0, 0.02, 0.0002],
                    density=0,
                )
        for name in CONTAINERS:
            body = spec.worldbody.add_body(name=name, pos=[0.5, 0.2, 0.0])
            body.add_geom(
                name=f"{name}_base",
                type=mujoco.mjtGeom.mjGEOM_CYLINDER,
                size=[CONTAINER_RADIUS, CONTAINER_BASE, 0],
                pos=[0, 0, CONTAINER_BASE],
            )
            if name == "bowl":
                n_walls = 16
                for k in range(n_walls):
                    angle = 2 * np.pi * k / n_walls
                    body.add_geom(
                        name=f"bowl_wall{k}",
                        type=mujoco.mjtGeom.mjGEOM_BOX,
                        size=[0.005, CONTAINER_RADIUS * np.pi / n_walls + 0.002, BOWL_WALL_HEIGHT / 2],
                        pos=[CONTAINER_RADIUS * np.cos(angle), CONTAINER_RADIUS * np.sin(angle), BOWL_WALL_HEIGHT / 2],
                        quat=[np.cos(angle / 2), 0, 0, np.sin(angle / 2)],
                    )
        self._shape_names = tuple(SHAPES)

    def _reset_task(self, rng: np.random.Generator) -> str:
        model = self.model
        colours = pick_colours(rng, N_OBJECTS + len(CONTAINERS))
        shapes = [self._shape_names[k] for k in rng.choice(len(SHAPES), size=N_OBJECTS, replace=False)]
        self.target_object = int(rng.integers(N_OBJECTS))
        self.target_container = int(rng.integers(len(CONTAINERS)))
        positions = _scatter(
            rng,
            ["object"] * N_OBJECTS + list(CONTAINERS),
            reached=(self.target_object, N_OBJECTS + self.target_container),
        )
        for i, shape in enumerate(shapes):
            for name in self._shape_names:
                geom = model.geom(f"object{i}_{name}").id
                active = name == shape
                model.geom_contype[geom] = model.geom_conaffinity[geom] = int(active)
                model.geom_rgba[geom] = COLOURS[colours[i]] if active else (0, 0, 0, 0)
            adr = model.joint(f"object{i}").qposadr[0]
            self.data.qpos[adr : adr + 3] = [*positions[i], SHAPES[shape][2] + 0.001]
            yaw = rng.uniform(-np.pi, np.pi)
            self.data.qpos[adr + 3 : adr + 7] = [np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]
        for k, name in enumerate(CONTAINERS):
            body = model.body(name).id
            model.body_pos[body] = [*positions[N_OBJECTS + k], 0.0]
            colour = COLOURS[colours[N_OBJECTS + k]]
            for geom in np.flatnonzero(model.geom_bodyid == body):
                model.geom_rgba[geom] = colour
        self.target_shape = shapes[self.target_object]
        self._object_geoms = np.array([model.geom(f"object{self.target_object}_{self.target_shape}").id])
        self._initial_distance: float | None = None
        return instruction(
            rng,
            PICK_PLACE_TEMPLATES,
            colour=colours[self.target_object],
            object=self.target_shape,
            target_colour=colours[N_OBJECTS + self.target_container],
            target=CONTAINERS[self.target_container],
        )

    def _object_pose(self) -> np.ndarray:
        adr = self.model.joint(f"object{self.target_object}").qposadr[0]
        return self.data.qpos[adr : adr + 7].copy()

    def _container_pos(self) -> np.ndarray:
        return self.data.xpos[self.model.body(CONTAINERS[self.target_container]).id].copy()

    def _privileged_shapes(self) -> dict[str, tuple[int, ...]]:
        return {
            "object_pose_wxyz": (7,),
            "object_half_size": (3,),
            "object_round": (1,),
            "container_pos": (3,),
            "container_radius": (1,),
            "container_floor": (1,),
        }

    def _privileged(self) -> dict[str, np.ndarray]:
        gtype, _, half_height, half_width = SHAPES[self.target_shape]
        return {
            "object_pose_wxyz": self._object_pose(),
            "object_half_size": np.array([half_width, half_width, half_height]),
            "object_round": np.array([float(gtype == mujoco.mjtGeom.mjGEOM_CYLINDER)]),
            "container_pos": self._container_pos(),
            "container_radius": np.array([CONTAINER_RADIUS]),
            "container_floor": np.array([2 * CONTAINER_BASE]),
        }

    def _evaluate(self) -> tuple[bool, float, dict[str, Any]]:
        obj = self._object_pose()[:3]
        target = self._container_pos()
        distance = float(np.linalg.norm(obj[:2] - target[:2]))
        if self._initial_distance is None:
            self._initial_distance = distance
        initial = self._initial_distance
        max_height = 2 * CONTAINER_BASE + SHAPES[self.target_shape][2] + 0.02
        released = not self.hand_touches(self._object_geoms)
        success = pick_place_success(obj, target, SUCCESS_RADIUS, max_height, released)
        return success, progress_score(distance, initial), {"distance": distance}


def _scatter(
    rng: np.random.Generator, kinds: list[str], reached: tuple[int, ...], attempts: int = 5000
) -> list[np.ndarray]:
    """Random table positions for the items ("object", "bowl" or "plate"), kept apart by gaps, with
    the hand's reach to each item in `reached` clear of the other items."""
    for _ in range(attempts):
        points = [rng.uniform((WORKSPACE_X[0], WORKSPACE_Y[0]), (WORKSPACE_X[1], WORKSPACE_Y[1])) for _ in kinds]
        groups = ["object" if kind == "object" else "container" for kind in kinds]
        apart = all(
            np.linalg.norm(points[a] - points[b]) >= _MIN_GAP[groups[a] if groups[a] == groups[b] else "mixed"]
            for a in range(len(kinds))
            for b in range(a)
        )
        if apart and all(
            _reach_clearance(points[r], points[o]) >= _REACH_RADIUS[kinds[o]]
            for r in reached
            for o in range(len(kinds))
            if o != r
        ):
            return points
    raise RuntimeError("could not scatter the pick-place items; the workspace is too small for the gaps")


def _reach_clearance(item: np.ndarray, other: np.ndarray) -> float:
    """Distance from `other` to the rectangle the hand covers when it reaches `item`."""
    yaw = np.arctan2(item[1], item[0]) + _REACH_YAW
    fingers, palm_normal = np.array([np.cos(yaw), np.sin(yaw)]), np.array([-np.sin(yaw), np.cos(yaw)])
    offset = other - item
    # The palm normal points from the hand at the item: the hand lies at negative offsets along it.
    local = np.array([np.dot(offset, fingers), np.dot(offset, palm_normal)])
    (u0, u1), (v0, v1) = _REACH_BOX
    outside = np.maximum(np.array([u0 - local[0], v0 - local[1]]), np.array([local[0] - u1, local[1] - v1]))
    return float(np.linalg.norm(np.maximum(outside, 0.0)))
