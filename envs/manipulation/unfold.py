"""Unfold: spread a folded cloth flat on the table.

The cloth is a MuJoCo flex grid of `GRID` x `GRID` vertices `SPACING` apart (edges held by equality
constraints). Each episode folds it once, about in half (40-50 % of a random side laid over the rest:
the folded-over layer lies on top, rounded at the crease; coverage starts at 0.5-0.6), and places it
at a random position and yaw in front of the robot. Folded once, a cloth can be spread by dragging
the top layer's free edge back over the crease, the way a person flattens a folded towel. Success: coverage
>= 0.8; score: coverage, the covered top-down area over the flat cloth's (see `task_metrics`).
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from mimicsim.envs.manipulation.base import ManipulationEnv
from mimicsim.envs.manipulation.instructions import COLOURS, UNFOLD_TEMPLATES, instruction, pick_colours
from mimicsim.envs.manipulation.metrics import cloth_coverage

GRID = 15
SPACING = 0.02
RADIUS = 0.004  # vertex collision radius; the layer thickness
CLOTH_MASS = 0.1
SUCCESS_COVERAGE = 0.8
# An edge stretched this much (relative) means the solver has given up on the cloth: it is torn.
TORN_STRETCH = 0.5
FOLD_FRACTION = (0.4, 0.5)  # of the side length folded over: about in half, once
CENTRE_X, CENTRE_Y = (0.45, 0.55), (-0.12, 0.12)


def folded_grid(side: int, fraction: float, yaw: float, centre: np.ndarray) -> np.ndarray:
    """World positions (GRID*GRID, 3) of the cloth folded over `side` (0..3: the rows at +u, -u, +v,
    -v of the flat grid) by `fraction` of its length, along a semicircular crease of the layer's
    thickness, so every edge keeps its length."""
    u, v = np.meshgrid(np.arange(GRID) * SPACING, np.arange(GRID) * SPACING, indexing="ij")
    u, v = u.ravel() - u.max() / 2, v.ravel() - v.max() / 2
    coords = np.stack([u, v], axis=-1)
    axis, flipped = divmod(side, 2)
    sign = -1.0 if flipped else 1.0
    s = sign * coords[:, axis]  # distance towards the folded side
    half = (GRID - 1) * SPACING / 2
    crease = half - fraction * 2 * half
    r = RADIUS  # crease radius: the two layers lie 2r apart
    beyond = s - crease
    z = np.full(len(s), RADIUS)
    s_new = s.copy()
    on_arc = (beyond > 0) & (beyond < np.pi * r)
    angle = beyond[on_arc] / r
    s_new[on_arc] = crease + r * np.sin(angle)
    z[on_arc] = RADIUS + r * (1 - np.cos(angle))
    top = beyond >= np.pi * r
    s_new[top] = crease - (beyond[top] - np.pi * r)
    z[top] = RADIUS + 2 * r
    coords[:, axis] = sign * s_new
    cos, sin = np.cos(yaw), np.sin(yaw)
    x = centre[0] + cos * coords[:, 0] - sin * coords[:, 1]
    y = centre[1] + sin * coords[:, 0] + cos * coords[:, 1]
    return np.stack([x, y, z], axis=-1)


class UnfoldEnv(ManipulationEnv):
    max_steps = 300
    settle_seconds = 0.3
    # The cloth's edges are equality constraints and its layers rest on each other: both stay valid at
    # 5 ms steps (measured over expert episodes: no vertex below the table, every edge within 16 % of
    # its length, 99 % of them within 6 %), 2.5x cheaper than 2 ms steps.
    physics_dt = 0.005

    def _build_task(self, spec: mujoco.MjSpec) -> None:
        # ~1100 element-table contacts and ~450 between the layers. CG with bounded iterations is ~2x
        # faster than Newton here. The layers keep colliding (a folded cloth needs its top layer on
        # top), but frictionless (condim 1, one row per contact): the top layer slides over the bottom
        # one; the table contacts keep the table's friction (MuJoCo takes the larger condim).
        spec.option.solver = mujoco.mjtSolver.mjSOL_CG
        spec.option.iterations = 30
        # Nothing is grasped here, so MuJoCo's default pyramidal friction cone: with the elliptic cone
        # and impratio 10 the other tasks use to hold a grasp, fingertip friction on the gram-light
        # cloth vertices made the solver blow the cloth apart in ~1 of 6 presses.
        spec.option.cone = mujoco.mjtCone.mjCONE_PYRAMIDAL
        spec.option.impratio = 1.0
        cloth = spec.worldbody.make_flex(
            "cloth",
            type="grid",
            dim=2,
            count=[GRID, GRID, 1],
            spacing=[SPACING] * 3,
            radius=RADIUS,
            mass=CLOTH_MASS,
            equality=1,
            pos=[0.55, 0.0, RADIUS],
        )
        cloth.friction = [0.6, 0.005, 0.0001]
        cloth.condim = 1
        cloth.edgedamping = 0.01
        cloth.selfcollide = mujoco.mjtFlexSelf.mjFLEXSELF_AUTO
        # Edge constraints twice as stiff as MuJoCo's default (time constant 10 ms, two 5 ms steps):
        # pressed by a fingertip, the default let edges stretch by up to 80 %.
        for equality in spec.equalities:
            if equality.type == mujoco.mjtEq.mjEQ_FLEX:
                equality.solref = [2 * self.physics_dt, 1.0]

    def _reset_task(self, rng: np.random.Generator) -> str:
        model = self.model
        colour = pick_colours(rng, 1)[0]
        model.flex_rgba[0] = COLOURS[colour]
        centre = rng.uniform((CENTRE_X[0], CENTRE_Y[0]), (CENTRE_X[1], CENTRE_Y[1]))
        self.fold_side = int(rng.integers(4))
        target = folded_grid(self.fold_side, rng.uniform(*FOLD_FRACTION), rng.uniform(-np.pi / 4, np.pi / 4), centre)
        bodies = model.flex_vertbodyid[: GRID * GRID]
        self._vertex_qpos = model.jnt_qposadr[model.body_jntadr[bodies]]
        # Each vertex body slides on three joints from its compiled position.
        self.data.qpos[self._vertex_qpos[:, None] + np.arange(3)] = target - model.body_pos[bodies]
        return instruction(rng, UNFOLD_TEMPLATES, colour=colour)

    def vertices(self) -> np.ndarray:
        return self.data.flexvert_xpos[: GRID * GRID].copy()

    def _task_state_valid(self) -> bool:
        first, count = self.model.flex_edgeadr[0], self.model.flex_edgenum[0]
        edges = self.model.flex_edge[first : first + count]
        rest = self.model.flexedge_length0[first : first + count]
        vertices = self.data.flexvert_xpos
        length = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
        return bool(np.all(np.abs(length - rest) <= TORN_STRETCH * rest))

    def _privileged_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"cloth_vertices": (GRID * GRID, 3)}

    def _privileged(self) -> dict[str, np.ndarray]:
        return {"cloth_vertices": self.vertices()}

    def _evaluate(self) -> tuple[bool, float, dict[str, Any]]:
        coverage = cloth_coverage(self.vertices(), (GRID, GRID), SPACING)
        return coverage >= SUCCESS_COVERAGE, coverage, {"coverage": coverage}
