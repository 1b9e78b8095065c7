"""Pour: pour the particles from a cup into a container.

A cup (open cylinder, 5 cm across and 10 cm tall) holding `N_PARTICLES` beads of 8 mm and a target
bowl are placed at random on the table, the cup to the right of the bowl. Success: at least 80 % of
the particles lie inside the bowl and none has been spilled beyond `SPILL_BOUND` of the bowl's centre
(or off the table). Score: the fraction inside the bowl.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from mimicsim.envs.manipulation.base import ManipulationEnv
from mimicsim.envs.manipulation.instructions import COLOURS, POUR_TEMPLATES, instruction, pick_colours
from mimicsim.envs.manipulation.metrics import pour_fraction, spilled_count
from mimicsim.envs.manipulation.scene import BEADS, SOLID

N_PARTICLES = 100
PARTICLE_RADIUS = 0.004
PARTICLE_MASS = 0.0003  # plastic beads: 30 g in all
# Frictionless beads would skate on forever; this drag (N s/m, a decay rate of 7/s: a bead sliding at
# 0.5 m/s stops within 7 cm, a falling one still reaches 1.4 m/s) stands for the friction and rolling
# losses that let a real pile come to rest, without a friction constraint per contact.
PARTICLE_DRAG = 0.002
CUP_RADIUS = 0.021  # inner; 5 cm across outside, the size the Inspire hand's power grasp holds
CUP_HEIGHT = 0.1
CUP_WALL = 0.004
CUP_BASE = 0.016  # thick, so a bead pressed in when the cup is jerked is pushed back up
BOWL_RADIUS = 0.085  # inner
BOWL_HEIGHT = 0.06
BOWL_WALL = 0.004
SUCCESS_FRACTION = 0.8
SPILL_BOUND = 0.2
CUP_X, CUP_Y = (0.45, 0.6), (-0.25, -0.05)
BOWL_X, BOWL_Y = (0.45, 0.6), (0.1, 0.25)
CONTENTS = ("beads", "marbles", "grains", "pellets")


def _open_cylinder(
    body: mujoco.MjsBody, prefix: str, radius: float, height: float, wall: float, walls: int, base_depth: float
) -> None:
    """An open cylinder of inner `radius`: a base disc whose top is `wall` above the body's origin and
    which reaches `base_depth` below it, and `walls` boxes around it."""
    half = (wall + base_depth) / 2
    body.add_geom(
        name=f"{prefix}_base",
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[radius + wall, half, 0],
        pos=[0, 0, wall - half],
    )
    for k in range(walls):
        angle = 2 * np.pi * k / walls
        r = radius + wall / 2
        body.add_geom(
            name=f"{prefix}_wall{k}",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[wall / 2, r * np.pi / walls + 0.001, height / 2],
            pos=[r * np.cos(angle), r * np.sin(angle), height / 2],
            quat=[np.cos(angle / 2), 0, 0, np.sin(angle / 2)],
        )


def particle_column(centre_xy: np.ndarray, floor: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` non-overlapping particle centres stacked in the cup, 19 to a layer (a centre, a ring
    of 6 and a ring of 12, each ring turned at random), for them to settle into at reset."""
    spacing = 2 * PARTICLE_RADIUS + 0.0005
    rings = [(0.0, 1), (spacing, 6), (2 * spacing, 12)]
    layer: list[tuple[float, float]] = []
    for radius, n in rings:
        turn = rng.uniform(0, 2 * np.pi)
        layer += [
            (radius * np.cos(turn + 2 * np.pi * k / n), radius * np.sin(turn + 2 * np.pi * k / n)) for k in range(n)
        ]
    offsets = np.array(layer)
    points = [
        (*(centre_xy + offsets[k % len(offsets)]), floor + PARTICLE_RADIUS + 0.0005 + spacing * (k // len(offsets)))
        for k in range(count)
    ]
    return np.array(points)


class PourEnv(ManipulationEnv):
    max_steps = 300
    settle_seconds = 0.5
    # 5 ms steps hold the beads (falling at most ~1.5 m/s they move 7 mm a step; the bowl's base is 2.4
    # cm thick and the cup's 1.6 cm, so none passes through) and the grasp; 2 ms steps cost 2.5x as much.
    physics_dt = 0.005

    def _build_task(self, spec: mujoco.MjSpec) -> None:
        # A hundred touching beads make ~450 contacts: frictionless (condim 1, and priority so that
        # their contacts with the cup stay frictionless too: one constraint row each). Newton with few
        # iterations: a warm-started pile converges in 2-3, and CG (cheaper per iteration) lets the
        # stiff grasp friction creep until the cup spins out of the hand.
        spec.option.solver = mujoco.mjtSolver.mjSOL_NEWTON
        spec.option.iterations = 30
        cup = spec.worldbody.add_body(name="cup", pos=[0.5, -0.15, 0.0])
        cup.add_freejoint(name="cup")
        _open_cylinder(cup, "cup", CUP_RADIUS, CUP_HEIGHT, CUP_WALL, walls=12, base_depth=CUP_BASE - CUP_WALL)
        for geom in cup.geoms:
            geom.density = 600.0  # a plastic cup of 40 g
            geom.contype, geom.conaffinity = 0, BEADS  # the beads only: the shell below is the outside
            geom.condim = 1  # smooth inside: the beads pour out freely
        # The cup's outside is one cylinder: fingers squeezing a dozen wall boxes at once make box-box
        # contacts that spin the light cup; a cylinder holds like the pick-place can. The beads
        # collide with the walls inside instead, never with the shell.
        bottom = -(CUP_BASE - CUP_WALL)
        cup.add_geom(
            name="cup_shell",
            type=mujoco.mjtGeom.mjGEOM_CYLINDER,
            size=[CUP_RADIUS + CUP_WALL, (CUP_HEIGHT - bottom) / 2, 0],
            pos=[0, 0, (CUP_HEIGHT + bottom) / 2],
            density=0.0,
            condim=4,
            friction=[1.0, 0.02, 0.0002],
            rgba=[0, 0, 0, 0],
            group=3,
        )
        bowl = spec.worldbody.add_body(name="bowl", pos=[0.5, 0.15, 0.0])
        _open_cylinder(bowl, "bowl", BOWL_RADIUS, BOWL_HEIGHT, BOWL_WALL, walls=20, base_depth=0.02)
        for geom in bowl.geoms:
            geom.conaffinity = SOLID | BEADS
        for i in range(N_PARTICLES):
            # Frictionless beads never spin: three slide joints (qpos = world position) instead of a
            # free joint halve the degrees of freedom the solver works on.
            body = spec.worldbody.add_body(name=f"particle{i}")
            for k, axis in enumerate(np.eye(3)):
                body.add_joint(
                    name=f"particle{i}_{'xyz'[k]}", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=axis, damping=PARTICLE_DRAG
                )
            body.add_geom(
                type=mujoco.mjtGeom.mjGEOM_SPHERE,
                size=[PARTICLE_RADIUS, 0, 0],
                mass=PARTICLE_MASS,
                rgba=[0.9, 0.9, 0.9, 1],
                condim=1,
                priority=1,
                contype=BEADS,
                conaffinity=BEADS,
                solref=[0.01, 1.0],
            )  # stiffer than the default 0.02: a pile stays in a moving cup

    def _reset_task(self, rng: np.random.Generator) -> str:
        model = self.model
        colours = pick_colours(rng, 2)
        cup_xy = rng.uniform((CUP_X[0], CUP_Y[0]), (CUP_X[1], CUP_Y[1]))
        self._bowl_xy = rng.uniform((BOWL_X[0], BOWL_Y[0]), (BOWL_X[1], BOWL_Y[1]))
        adr = model.joint("cup").qposadr[0]
        self.data.qpos[adr : adr + 7] = [*cup_xy, CUP_BASE - CUP_WALL, 1.0, 0.0, 0.0, 0.0]
        model.body_pos[model.body("bowl").id] = [*self._bowl_xy, 0.0]
        for name, colour in zip(("cup", "bowl"), colours, strict=True):
            for geom in np.flatnonzero(model.geom_bodyid == model.body(name).id):
                model.geom_rgba[geom] = COLOURS[colour]
        self._particle_adr = np.array(
            [model.jnt_qposadr[model.body_jntadr[model.body(f"particle{i}").id]] for i in range(N_PARTICLES)]
        )
        column = particle_column(cup_xy, CUP_WALL, N_PARTICLES, rng)
        self.data.qpos[self._particle_adr[:, None] + np.arange(3)] = column + [0.0, 0.0, CUP_BASE - CUP_WALL]
        return instruction(
            rng,
            POUR_TEMPLATES,
            contents=CONTENTS[int(rng.integers(len(CONTENTS)))],
            colour=colours[0],
            target_colour=colours[1],
            target="bowl",
        )

    def particles(self) -> np.ndarray:
        return self.data.qpos[self._particle_adr[:, None] + np.arange(3)].copy()

    def _privileged_shapes(self) -> dict[str, tuple[int, ...]]:
        return {
            "cup_pose_wxyz": (7,),
            "cup_size": (2,),
            "bowl_pos": (3,),
            "bowl_size": (2,),
            "particles": (N_PARTICLES, 3),
        }

    def _privileged(self) -> dict[str, np.ndarray]:
        adr = self.model.joint("cup").qposadr[0]
        return {
            "cup_pose_wxyz": self.data.qpos[adr : adr + 7].copy(),
            "cup_size": np.array([CUP_RADIUS + CUP_WALL, CUP_HEIGHT]),
            "bowl_pos": np.array([*self._bowl_xy, 0.0]),
            "bowl_size": np.array([BOWL_RADIUS, BOWL_HEIGHT]),
            "particles": self.particles(),
        }

    def _evaluate(self) -> tuple[bool, float, dict[str, Any]]:
        particles = self.particles()
        fraction = pour_fraction(particles, self._bowl_xy, BOWL_RADIUS, 0.0, BOWL_HEIGHT + 0.02)
        spilled = spilled_count(particles, self._bowl_xy, SPILL_BOUND, z_rest=PARTICLE_RADIUS + 0.002, z_floor=-0.01)
        return fraction >= SUCCESS_FRACTION and spilled == 0, fraction, {"spilled": spilled}
