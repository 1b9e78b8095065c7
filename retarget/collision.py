"""Which robot geoms must stay apart (limb against trunk, limb against limb, anything against the
floor), how close they are, and the QP rows that keep them apart during inverse kinematics.

The pair set is derived from the kinematic tree and the keypoint map, so a new robot needs no
table: each limb is the subtree that leaves the trunk towards a hip or shoulder keypoint, the trunk
is everything else. Pairs across groups count, except bodies a couple of joints apart and pairs
already touching in the standing pose (a hip link inside the pelvis shell is structure, not a
collision). Every collision geom counts against the floor.

MuJoCo's own collision pipeline does the work in C: a private copy of the model gets one
contype/conaffinity bit per group (so same-group pairs are never even tested) and a margin, so
that `mj_collision` reports every pair closer than the margin with its signed distance, normal and
witness point. The few structural pairs that share no group bit filter are dropped afterwards.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import mink
import mujoco
import numpy as np

from mimicsim.assets import RobotSpec

_LIMB_KEYPOINTS = {
    "left_arm": "left_shoulder",
    "right_arm": "right_shoulder",
    "left_leg": "left_hip",
    "right_leg": "right_hip",
}
_MIN_TREE_DISTANCE = 3
"""Bodies fewer joints apart than this along their ancestry never count as colliding."""
_REST_CLEARANCE = 0.01
"""Geom pairs closer than this (m) in the standing pose are structure, not collisions."""


def body_groups(spec: RobotSpec) -> dict[str, set[int]]:
    """Body ids of each limb (the subtree leaving the trunk towards its hip or shoulder keypoint)
    and of the trunk (all other bodies)."""
    model = spec.model

    def ancestry(body: int) -> list[int]:
        out = []
        while body > 0:
            out.append(body)
            body = int(model.body_parentid[body])
        return out

    pelvis = int(model.site_bodyid[model.site(spec.keypoint_sites["pelvis"]).id])
    torso = int(model.site_bodyid[model.site(spec.keypoint_sites.get("spine3", spec.keypoint_sites["pelvis"])).id])
    spine = set(ancestry(torso)) | {pelvis}
    groups: dict[str, set[int]] = {}
    for limb, joint in _LIMB_KEYPOINTS.items():
        if joint in spec.keypoint_sites:
            path = ancestry(int(model.site_bodyid[model.site(spec.keypoint_sites[joint]).id]))
            root = next(b for b in reversed(path) if b not in spine)
            groups[limb] = {b for b in range(1, model.nbody) if root in ancestry(b)}
    limbs = set().union(*groups.values()) if groups else set()
    return {"trunk": set(range(1, model.nbody)) - limbs, **groups}


def _is_collision_geom(model: mujoco.MjModel, g: int) -> bool:
    return bool(model.geom_contype[g] or model.geom_conaffinity[g]) and model.geom_bodyid[g] > 0


def _allowed_pairs(spec: RobotSpec, geoms: list[int], floor: int) -> np.ndarray:
    """(ngeom, ngeom) symmetric mask of the pairs that count (see the module docstring)."""
    model = spec.model
    group_of = np.full(model.nbody, -1)
    for index, bodies in enumerate(body_groups(spec).values()):
        group_of[list(bodies)] = index
    data = spec.make_data()
    fromto = np.zeros(6)
    allowed = np.zeros((model.ngeom, model.ngeom), dtype=bool)
    allowed[floor, geoms] = allowed[geoms, floor] = True
    for i, g1 in enumerate(geoms):
        for g2 in geoms[i + 1 :]:
            b1, b2 = model.geom_bodyid[g1], model.geom_bodyid[g2]
            if group_of[b1] == group_of[b2] or _tree_distance(model, b1, b2) < _MIN_TREE_DISTANCE:
                continue
            if mujoco.mj_geomDistance(model, data, g1, g2, _REST_CLEARANCE, fromto) < _REST_CLEARANCE:
                continue
            allowed[g1, g2] = allowed[g2, g1] = True
    return allowed


def _set_filter_bits(model: mujoco.MjModel, geoms: list[int], allowed: np.ndarray) -> None:
    """contype/conaffinity bits so that MuJoCo's collision filter admits only allowed pairs (and
    never runs its narrow phase on the rest): one bit per body that has collision geoms, each
    geom's affinity the bits of the bodies it may meet. With more than 31 such bodies, bodies
    share bits and `ContactQuery.query` drops the extra pairs."""
    bodies = sorted({int(model.geom_bodyid[g]) for g in geoms})
    bit_of = {b: 1 << (i % 31) for i, b in enumerate(bodies)}
    model.geom_contype[:] = 0
    model.geom_conaffinity[:] = 0
    for g in geoms:
        partners = {int(model.geom_bodyid[o]) for o in np.flatnonzero(allowed[g])}
        model.geom_contype[g] = bit_of[int(model.geom_bodyid[g])]
        model.geom_conaffinity[g] = np.bitwise_or.reduce([bit_of[b] for b in partners] or [0])
    # The broad phase filters bodies first, on the union of their geoms' bits.
    model.body_contype[:] = 0
    model.body_conaffinity[:] = 0
    np.bitwise_or.at(model.body_contype, model.geom_bodyid, model.geom_contype)
    np.bitwise_or.at(model.body_conaffinity, model.geom_bodyid, model.geom_conaffinity)


def _tree_distance(model: mujoco.MjModel, a: int, b: int) -> int:
    """Joints between two bodies when one is an ancestor of the other, else a large number."""
    for lo, hi in ((a, b), (b, a)):
        steps, body = 0, lo
        while body > 0:
            if body == hi:
                return steps
            steps += int(model.body_jntnum[body])
            body = int(model.body_parentid[body])
    return 1 << 20


@dataclass(frozen=True)
class Contacts:
    """Pairs closer than the query margin: geom ids, signed distance (m, negative = overlap), the
    unit normal from geom1 to geom2 and the midpoint between the witness points."""

    geom1: np.ndarray
    geom2: np.ndarray
    dist: np.ndarray
    normal: np.ndarray
    pos: np.ndarray

    def __len__(self) -> int:
        return int(self.dist.size)


_QUERIES: dict[tuple[int, float], tuple[mujoco.MjModel, ContactQuery]] = {}


def contact_query(spec: RobotSpec, margin: float) -> ContactQuery:
    """A `ContactQuery` for this robot model, built once per process (copying a mesh model and
    sorting its pairs costs ~50-100 ms, more than retargeting a short clip)."""
    key = (id(spec.model), margin)
    cached = _QUERIES.get(key)
    if cached is None or cached[0] is not spec.model:
        if len(_QUERIES) > 16:
            _QUERIES.clear()
        cached = _QUERIES[key] = (spec.model, ContactQuery(spec, margin))
    return cached[1]


class ContactQuery:
    """Finds robot pairs (self and floor) closer than `margin`. Use `self.model` (a kinematically
    identical copy of the robot's model) with the data you query."""

    def __init__(self, spec: RobotSpec, margin: float):
        self.model = model = copy.copy(spec.model)
        self.floor = model.geom("floor").id
        self.margin = margin
        geoms = [g for g in range(model.ngeom) if _is_collision_geom(model, g)]
        self.allowed = _allowed_pairs(spec, geoms, self.floor)
        _set_filter_bits(model, geoms + [self.floor], self.allowed)
        model.geom_margin[:] = margin
        model.body_margin[:] = margin  # the broad phase inflates body bounds by this
        model.geom_gap[:] = 0.0

    def query(self, data: mujoco.MjData) -> Contacts:
        """Run MuJoCo's collision pipeline on `data` (its kinematics must be current)."""
        mujoco.mj_collision(self.model, data)
        n = data.ncon
        con = data.contact
        geom = con.geom[:n]
        keep = self.allowed[geom[:, 0], geom[:, 1]]
        return Contacts(
            geom1=geom[keep, 0],
            geom2=geom[keep, 1],
            dist=con.dist[:n][keep].copy(),
            normal=con.frame[:n, :3][keep].copy(),
            pos=con.pos[:n][keep].copy(),
        )

    def is_floor(self, contacts: Contacts) -> np.ndarray:
        return (contacts.geom1 == self.floor) | (contacts.geom2 == self.floor)

    def describe(self, g1: int, g2: int) -> str:
        def label(g: int) -> str:
            return self.model.geom(g).name or self.model.body(self.model.geom_bodyid[g]).name

        return f"{label(g1)} / {label(g2)}"


class CollisionAvoidance(mink.Limit):
    """Keeps every queried pair at least `min_self` (robot-robot) or `min_floor` (robot-floor)
    apart. For each pair nearer than the query margin, the linearised distance after the step may
    shrink by at most `gain` times its slack:

        -n . (J2(p2) - J1(p1)) dq <= gain * (d - d_min)

    `dq` is the displacement of this solver step (not a velocity), so the bound is in metres; a
    pair already inside its slack must open up. Plugs into `mink.solve_ik` like any limit.
    """

    def __init__(self, query: ContactQuery, *, min_self: float, min_floor: float, gain: float = 0.85):
        self.query = query
        self.min_self = min_self
        self.min_floor = min_floor
        self.gain = gain
        nv = query.model.nv
        self._jac1 = np.zeros((3, nv))
        self._jac2 = np.zeros((3, nv))

    def compute_qp_inequalities(self, configuration: mink.Configuration, dt: float) -> mink.Constraint:
        del dt  # the bound is on the step itself
        G, h = self.rows(configuration.data)
        return mink.Constraint() if h.size == 0 else mink.Constraint(G=G, h=h)

    def rows(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        contacts = self.query.query(data)
        n = len(contacts)
        if n == 0:
            return np.zeros((0, self.query.model.nv)), np.zeros(0)
        d_min = np.where(self.query.is_floor(contacts), self.min_floor, self.min_self)
        half = 0.5 * contacts.dist[:, None] * contacts.normal
        geoms = np.concatenate([contacts.geom1, contacts.geom2])
        points = np.concatenate([contacts.pos - half, contacts.pos + half])
        sign = np.repeat([1.0, -1.0], n)[:, None]  # G = -n . (J2 - J1)
        rows = self._normal_jacobian(data, geoms, points, sign * np.concatenate([contacts.normal] * 2))
        return rows[:n] + rows[n:], self.gain * (contacts.dist - d_min)

    def _normal_jacobian(
        self, data: mujoco.MjData, geoms: np.ndarray, points: np.ndarray, normals: np.ndarray
    ) -> np.ndarray:
        """Rows n . J(p) for points p fixed to the geoms' bodies (zero for the world).

        One body Jacobian per distinct body, then v_p = v_b + w x (p - x_b) gives every point, so
        the cost hardly grows with the number of contacts (mesh pairs report several).
        """
        model = self.query.model
        bodies = model.geom_bodyid[geoms]
        unique, index = np.unique(bodies, return_inverse=True)
        jacp = np.zeros((unique.size, 3, model.nv))
        jacr = np.zeros((unique.size, 3, model.nv))
        for k, body in enumerate(unique):
            if body > 0:
                mujoco.mj_jacBody(model, data, jacp[k], jacr[k], body)
        r = points - data.xpos[bodies]
        lever = np.stack(
            [  # r x n, written out: np.cross costs more than the rest together
                r[:, 1] * normals[:, 2] - r[:, 2] * normals[:, 1],
                r[:, 2] * normals[:, 0] - r[:, 0] * normals[:, 2],
                r[:, 0] * normals[:, 1] - r[:, 1] * normals[:, 0],
            ],
            axis=1,
        )
        return np.einsum("ci,civ->cv", normals, jacp[index]) + np.einsum("ci,civ->cv", lever, jacr[index])
