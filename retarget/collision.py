"""Which robot geoms must stay apart, how close they are, how close they were standing, and the QP
rows that keep them apart during inverse kinematics.

The pairs are MuJoCo's own: every two collision geoms whose bodies are not parent and child (its
parent filter), and every collision geom against the floor. The model's `<exclude>` list is not
honoured: a simulator may skip a pair to stay stable, but an arm still must not pass through it.

Some pairs already touch in the standing pose (H1-2's wrist links overlap by 13 mm where one
shell wraps the other's hinge). Each pair is therefore judged against its standing distance `d0`:
the evaluator counts a pair closer than `min(0, d0) - tolerance` (deeper than it stands, by more
than the tolerance), and the solver keeps it at least `clearance` apart, or, when it stands nearer
than that, at least `min(0, d0)`: the same reference, with the solver's margin on the safe side.

Two queries find the pairs closer than a margin. `ContactQuery` runs MuJoCo's collision pipeline
on a private copy of the model whose geoms all collide: every pair at once, as a plain MuJoCo
replay sees them (the evaluator). `TrackedContacts` answers the solver, which asks many times per
frame of a robot that moves little between asks: it measures only the pairs that may be near.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import mujoco
import numpy as np
from numba import njit

from mimicsim.assets import RobotSpec

_LIMB_KEYPOINTS = {
    "left_arm": "left_shoulder",
    "right_arm": "right_shoulder",
    "left_leg": "left_hip",
    "right_leg": "right_hip",
}


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


def collision_geoms(model: mujoco.MjModel) -> np.ndarray:
    """The robot's collision geoms (the floor and visual-only geoms excluded)."""
    colliding = (model.geom_contype != 0) | (model.geom_conaffinity != 0)
    return np.flatnonzero(colliding & (model.geom_bodyid > 0))


def self_pairs(model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    """(geom1, geom2) of every robot pair MuJoCo's filter lets collide when all geoms may: bodies
    neither the same (welded together) nor parent and child."""
    geoms = collision_geoms(model)
    weld = model.body_weldid[model.geom_bodyid[geoms]]
    weld_parent = model.body_weldid[model.body_parentid[weld]]
    i, j = np.triu_indices(len(geoms), k=1)
    parent_child = (weld[i] == weld_parent[j]) | (weld[j] == weld_parent[i])
    keep = (weld[i] != weld[j]) & ~parent_child
    return geoms[i[keep]], geoms[j[keep]]


NEIGHBOURS = 2
"""Bodies at most this many joints apart along one chain are neighbours in the tree (a hip-roll
link and the pelvis, a wrist-pitch link and the elbow): they move against each other through
those joints alone."""


def tree_neighbours(model: mujoco.MjModel) -> np.ndarray:
    """(nbody, nbody) bool: one body is an ancestor of the other, at most `NEIGHBOURS` joints up."""
    out = np.zeros((model.nbody, model.nbody), dtype=bool)
    for body in range(1, model.nbody):
        joints, ancestor = 0, body
        while ancestor > 0 and joints <= NEIGHBOURS:
            joints += int(model.body_jntnum[ancestor])
            ancestor = int(model.body_parentid[ancestor])
            if ancestor > 0 and joints <= NEIGHBOURS:
                out[body, ancestor] = out[ancestor, body] = True
    return out


def all_pairs_model(model: mujoco.MjModel, *, self_collisions: bool = True) -> mujoco.MjModel:
    """A copy of `model` in which every collision geom meets the floor and (with
    `self_collisions`) every other collision geom, with only MuJoCo's own filter (`self_pairs`)
    left: the pair set retargeting is held to."""
    model = copy.copy(model)
    geoms = collision_geoms(model)
    floor = model.geom("floor").id
    model.geom_contype[:] = 0
    model.geom_conaffinity[:] = 0
    model.geom_contype[geoms] = 1 if self_collisions else 0
    model.geom_conaffinity[geoms] = 1
    model.geom_contype[floor] = model.geom_conaffinity[floor] = 1
    # The broad phase filters bodies first, on the union of their geoms' bits.
    model.body_contype[:] = 0
    model.body_conaffinity[:] = 0
    np.bitwise_or.at(model.body_contype, model.geom_bodyid, model.geom_contype)
    np.bitwise_or.at(model.body_conaffinity, model.geom_bodyid, model.geom_conaffinity)
    model.exclude_signature[:] = 0  # the world with itself: a pair that never collides
    return model


@dataclass(frozen=True)
class Contacts:
    """Pairs closer than the query margin: geom ids, signed distance (m, negative = overlap), the
    unit normal from geom1 to geom2, the midpoint between the witness points, and the pair's
    distance in the standing pose (+inf when it was beyond the margin, and for the floor)."""

    geom1: np.ndarray
    geom2: np.ndarray
    dist: np.ndarray
    normal: np.ndarray
    pos: np.ndarray
    rest: np.ndarray

    def __len__(self) -> int:
        return int(self.dist.size)


def contact_query(spec: RobotSpec, margin: float) -> ContactQuery:
    """The `ContactQuery` of this robot, built on first use and kept with it (`RobotSpec.derived`)."""
    key = (ContactQuery, margin)
    if key not in spec.derived:
        spec.derived[key] = ContactQuery(spec, margin)
    return spec.derived[key]


def tracked_contacts(spec: RobotSpec, margin: float) -> TrackedContacts:
    """The solver's `TrackedContacts` of this robot, set up on first use and kept with it."""
    key = (TrackedContacts, margin)
    if key not in spec.derived:
        spec.derived[key] = TrackedContacts(spec, margin)
    return spec.derived[key]


class ContactQuery:
    """Finds robot pairs (self and floor) closer than `margin` with MuJoCo's collision pipeline,
    every pair at once: the evaluator's query. Use `self.model` (a kinematically identical copy of
    the robot's model) or any other copy of it with the data you query."""

    def __init__(self, spec: RobotSpec, margin: float):
        self.model = model = all_pairs_model(spec.model)
        self.floor = model.geom("floor").id
        self.margin = margin
        model.geom_margin[:] = margin
        model.body_margin[:] = margin  # the broad phase inflates body bounds by this
        model.geom_gap[:] = 0.0
        self.rest = np.full((model.ngeom, model.ngeom), np.inf)
        """Standing distance of every pair closer than the margin when standing (m)."""
        data = mujoco.MjData(model)
        data.qpos[:] = spec.default_qpos
        mujoco.mj_kinematics(model, data)
        standing = self.query(data)
        self_pairs = ~self.is_floor(standing)
        # Several contacts of one pair (box faces, mesh patches): the deepest is the pair's distance.
        np.minimum.at(self.rest, (standing.geom1[self_pairs], standing.geom2[self_pairs]), standing.dist[self_pairs])
        self.rest = np.minimum(self.rest, self.rest.T)

    def query(self, data: mujoco.MjData) -> Contacts:
        """Run MuJoCo's collision pipeline on `data` (its kinematics must be current)."""
        mujoco.mj_collision(self.model, data)
        n = data.ncon
        con = data.contact
        geom = con.geom[:n]
        return Contacts(
            geom1=geom[:, 0].copy(),
            geom2=geom[:, 1].copy(),
            dist=con.dist[:n].copy(),
            normal=con.frame[:n, :3].copy(),
            pos=con.pos[:n].copy(),
            rest=self.rest[geom[:, 0], geom[:, 1]],
        )

    def is_floor(self, contacts: Contacts) -> np.ndarray:
        return (contacts.geom1 == self.floor) | (contacts.geom2 == self.floor)

    def describe(self, g1: int, g2: int) -> str:
        def label(g: int) -> str:
            return self.model.geom(g).name or self.model.body(self.model.geom_bodyid[g]).name

        return f"{label(g1)} / {label(g2)}"


_REUSE = 0.001
_REUSE_SHARE = 0.25
"""A separated self pair whose geoms moved less than `_REUSE` (m), or less than this share of its
distance, relative to each other since it was measured reuses the measurement, its distance
lowered by the motion: still a lower bound, never an overlap, and at most twice the motion below
the true distance (2 mm for a pair 4 mm apart)."""


@njit(cache=True)
def _moved(pos0: np.ndarray, mat0: np.ndarray, pos1: np.ndarray, mat1: np.ndarray, radius: float) -> float:
    """How far any point within `radius` of a frame can have gone from pose 0 to pose 1: centre
    travel plus radius times the rotation angle."""
    travel = math.sqrt((pos1[0] - pos0[0]) ** 2 + (pos1[1] - pos0[1]) ** 2 + (pos1[2] - pos0[2]) ** 2)
    trace = 0.0
    for i in range(3):
        for j in range(3):
            trace += mat0[i, j] * mat1[i, j]
    return travel + radius * math.acos(min(1.0, max(-1.0, 0.5 * (trace - 1.0))))


@njit(cache=True)
def _in_frame(frame_pos: np.ndarray, frame_mat: np.ndarray, pos: np.ndarray, mat: np.ndarray, out_pos, out_mat):
    """`out_pos`, `out_mat`: the pose (pos, mat) expressed in the frame (frame_pos, frame_mat)."""
    for i in range(3):
        out_pos[i] = 0.0
        for k in range(3):
            out_pos[i] += frame_mat[k, i] * (pos[k] - frame_pos[k])
        for j in range(3):
            out_mat[i, j] = 0.0
            for k in range(3):
                out_mat[i, j] += frame_mat[k, i] * mat[k, j]


@njit(cache=True)
def _advance(
    geoms: np.ndarray,
    geom_xpos: np.ndarray,
    geom_xmat: np.ndarray,
    root: int,
    body_xpos: np.ndarray,
    body_xmat: np.ndarray,
    rbound: np.ndarray,
    geom1: np.ndarray,
    geom2: np.ndarray,
    fixed: np.ndarray,
    moving: np.ndarray,
    bound: np.ndarray,
    measured: np.ndarray,
    relative_pos: np.ndarray,
    relative_mat: np.ndarray,
    local_pos: np.ndarray,
    local_mat: np.ndarray,
    margin: float,
    reuse: float,
    share: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`TrackedContacts`' bounds, tightened for the configuration in `geom_xpos`/`geom_xmat` (only
    `geoms` are in pairs); returns (pairs to measure, pairs to reuse, their lowered distances)."""
    moved = np.zeros(geom_xpos.shape[0])
    pos = np.empty(3)
    mat = np.empty((3, 3))
    root_mat = body_xmat[root].reshape((3, 3))
    for g in geoms:
        _in_frame(body_xpos[root], root_mat, geom_xpos[g], geom_xmat[g].reshape((3, 3)), pos, mat)
        moved[g] = _moved(local_pos[g], local_mat[g], pos, mat, rbound[g])
        local_pos[g] = pos
        local_mat[g] = mat
    pairs = geom1.shape[0]
    measure = np.empty(pairs, dtype=np.int64)
    reused = np.empty(pairs, dtype=np.int64)
    lowered = np.empty(pairs)
    n_measure = n_reuse = 0
    for k in range(pairs):
        bound[k] -= moved[geom1[k]] + moved[geom2[k]]
        if bound[k] >= margin:
            continue
        f, m = fixed[k], moving[k]
        gap = 0.0
        for i in range(3):
            gap += (geom_xpos[m, i] - geom_xpos[f, i]) ** 2
        spheres = math.sqrt(gap) - rbound[f] - rbound[m]
        _in_frame(geom_xpos[f], geom_xmat[f].reshape((3, 3)), geom_xpos[m], geom_xmat[m].reshape((3, 3)), pos, mat)
        drift = _moved(relative_pos[k], relative_mat[k], pos, mat, rbound[m])
        low = measured[k] - drift
        bound[k] = max(bound[k], spheres, low)
        if bound[k] >= margin:
            continue
        # Overlapping pairs are always measured: their normal can turn fast (a capsule inside a box).
        if low > 0.0 and drift <= max(reuse, share * low):
            reused[n_reuse] = k
            lowered[n_reuse] = low
            n_reuse += 1
        else:
            measure[n_measure] = k
            n_measure += 1
            relative_pos[k] = pos
            relative_mat[k] = mat
    return measure[:n_measure], reused[:n_reuse], lowered[:n_reuse]


@njit(cache=True)
def _collect(
    floor_geom: np.ndarray,
    floor_dist: np.ndarray,
    floor_frame: np.ndarray,
    floor_pos: np.ndarray,
    measure: np.ndarray,
    dist: np.ndarray,
    ends: np.ndarray,
    reused: np.ndarray,
    lowered: np.ndarray,
    geom1: np.ndarray,
    geom2: np.ndarray,
    geom_xpos: np.ndarray,
    geom_xmat: np.ndarray,
    rest: np.ndarray,
    margin: float,
    bound: np.ndarray,
    measured: np.ndarray,
    witness: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Records the new measurements (`measure`, `dist`, `ends`: mj_geomDistance's segments) and
    returns the contacts' columns: the floor's, the measured pairs' within the margin, and the
    reused pairs' (their witnesses carried along with their geoms)."""
    n_floor = floor_dist.shape[0]
    size = n_floor + measure.shape[0] + reused.shape[0]
    out_g1 = np.empty(size, dtype=np.int64)
    out_g2 = np.empty(size, dtype=np.int64)
    out_dist = np.empty(size)
    out_normal = np.empty((size, 3))
    out_pos = np.empty((size, 3))
    out_rest = np.full(size, np.inf)
    for c in range(n_floor):
        out_g1[c], out_g2[c], out_dist[c] = floor_geom[c, 0], floor_geom[c, 1], floor_dist[c]
        out_normal[c] = floor_frame[c, :3]
        out_pos[c] = floor_pos[c]
    n = n_floor
    normal = np.empty(3)
    for i in range(measure.shape[0]):
        k, d = measure[i], dist[i]
        bound[k] = d
        # At exactly zero distance there is no segment to give the normal: measure again next time
        # (float distances land there too rarely to matter for one step).
        if d == 0.0:
            measured[k] = -np.inf
            continue
        measured[k] = d
        a, b = geom1[k], geom2[k]
        mat_a, mat_b = geom_xmat[a].reshape((3, 3)), geom_xmat[b].reshape((3, 3))
        for j in range(3):
            normal[j] = (ends[i, 3 + j] - ends[i, j]) / d
        for j in range(3):
            witness[k, 0, j] = witness[k, 1, j] = witness[k, 2, j] = 0.0
            for r in range(3):
                witness[k, 0, j] += mat_a[r, j] * (ends[i, r] - geom_xpos[a, r])
                witness[k, 1, j] += mat_b[r, j] * (ends[i, 3 + r] - geom_xpos[b, r])
                witness[k, 2, j] += mat_a[r, j] * normal[r]
        if d < margin:
            out_g1[n], out_g2[n], out_dist[n], out_rest[n] = a, b, d, rest[k]
            out_normal[n] = normal
            for j in range(3):
                out_pos[n, j] = 0.5 * (ends[i, j] + ends[i, 3 + j])
            n += 1
    for i in range(reused.shape[0]):
        k = reused[i]
        a, b = geom1[k], geom2[k]
        mat_a, mat_b = geom_xmat[a].reshape((3, 3)), geom_xmat[b].reshape((3, 3))
        out_g1[n], out_g2[n], out_dist[n], out_rest[n] = a, b, lowered[i], rest[k]
        for j in range(3):
            p1 = geom_xpos[a, j]
            p2 = geom_xpos[b, j]
            nj = 0.0
            for r in range(3):
                p1 += mat_a[j, r] * witness[k, 0, r]
                p2 += mat_b[j, r] * witness[k, 1, r]
                nj += mat_a[j, r] * witness[k, 2, r]
            out_pos[n, j] = 0.5 * (p1 + p2)
            out_normal[n, j] = nj
        n += 1
    return out_g1[:n], out_g2[:n], out_dist[:n], out_normal[:n], out_pos[:n], out_rest[:n]


class TrackedContacts:
    """The same pairs closer than `margin` as `ContactQuery` finds, for a solver that asks many
    times, of a robot that moves a little between asks: floor pairs by MuJoCo's pipeline, self
    pairs one by one with MuJoCo's narrow phase (`mj_geomDistance`: each pair's deepest point), and
    only those that may be near.

    Every self pair keeps a lower bound on its distance, tightened three ways at each ask: its last
    bound less how far its geoms moved relative to the robot's root (centre travel plus bounding
    radius times rotation angle); the bounding spheres; and its last measured distance less how far
    one geom moved relative to the other since (a hand and its own wrist barely move apart). A pair
    whose bound stays beyond the margin is not measured; a separated one whose geoms moved little
    relative to each other since it was measured (`_REUSE_SHARE`) reuses that measurement, its
    witness points carried along and its distance lowered by the motion (so still a lower bound).
    The rest, the pairs really in play, are measured. The bookkeeping is compiled (numba).
    """

    def __init__(self, spec: RobotSpec, margin: float):
        self.model = model = all_pairs_model(spec.model, self_collisions=False)
        self.floor = model.geom("floor").id
        self.margin = margin
        model.geom_margin[:] = margin
        model.body_margin[:] = margin
        model.geom_gap[:] = 0.0
        geom1, geom2 = self_pairs(model)
        self.geom1, self.geom2 = geom1.astype(np.int64), geom2.astype(np.int64)
        self._pairs = list(zip(self.geom1.tolist(), self.geom2.tolist(), strict=True))
        self._geoms = np.unique(np.concatenate([self.geom1, self.geom2]))
        self.rbound = model.geom_rbound.copy()
        self.root = int(model.body_rootid[model.geom_bodyid[self.geom1[0]]]) if self.geom1.size else 1
        # The geom with the larger bounding sphere is the pair's fixed frame, the other one moves.
        swap = self.rbound[self.geom1] < self.rbound[self.geom2]
        self._fixed, self._moving = np.where(swap, self.geom2, self.geom1), np.where(swap, self.geom1, self.geom2)
        pairs = self.geom1.size
        self._bound = np.full(pairs, -np.inf)
        """A lower bound on each pair's distance in the configuration last asked about."""
        self._measured = np.full(pairs, -np.inf)
        """Each pair's distance when last measured (capped at the reach of a measurement)..."""
        self._relative_pos = np.zeros((pairs, 3))
        """...where its moving geom was then, in the frame of its fixed one..."""
        self._relative_mat = np.tile(np.eye(3), (pairs, 1, 1))
        self._witness = np.zeros((pairs, 3, 3))
        """...and its witness point on geom1 and on geom2 and its normal, each in its geom's frame
        (the normal in geom1's)."""
        self._local_pos = np.zeros((model.ngeom, 3))
        self._local_mat = np.tile(np.eye(3), (model.ngeom, 1, 1))
        none = np.zeros(0, dtype=np.int64)
        self.nothing = Contacts(none, none, np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0))
        """The answer when nothing is near (or collisions are off)."""
        data = mujoco.MjData(model)
        data.qpos[:] = spec.default_qpos
        mujoco.mj_kinematics(model, data)
        self.rest = np.full(pairs, np.inf)
        """Standing distance of each self pair closer than the margin when standing (m)."""
        standing = self.query(data)
        index = {pair: k for k, pair in enumerate(self._pairs)}
        for a, b, dist in zip(standing.geom1.tolist(), standing.geom2.tolist(), standing.dist.tolist(), strict=True):
            if (a, b) in index:
                self.rest[index[a, b]] = dist

    def query(self, data: mujoco.MjData) -> Contacts:
        """Pairs closer than the margin in `data` (kinematics current)."""
        model = self.model
        mujoco.mj_collision(model, data)  # the floor pairs
        n = data.ncon
        con = data.contact
        measure, reused, lowered = _advance(
            self._geoms,
            data.geom_xpos,
            data.geom_xmat,
            self.root,
            data.xpos,
            data.xmat,
            self.rbound,
            self.geom1,
            self.geom2,
            self._fixed,
            self._moving,
            self._bound,
            self._measured,
            self._relative_pos,
            self._relative_mat,
            self._local_pos,
            self._local_mat,
            self.margin,
            _REUSE,
            _REUSE_SHARE,
        )
        dist = np.empty(measure.size)
        ends = np.empty((measure.size, 6))
        reach, pairs = 2 * self.margin, self._pairs
        for i, k in enumerate(measure.tolist()):
            dist[i] = mujoco.mj_geomDistance(model, data, pairs[k][0], pairs[k][1], reach, ends[i])
        return Contacts(
            *_collect(
                con.geom[:n],
                con.dist[:n],
                con.frame[:n],
                con.pos[:n],
                measure,
                dist,
                ends,
                reused,
                lowered,
                self.geom1,
                self.geom2,
                data.geom_xpos,
                data.geom_xmat,
                self.rest,
                self.margin,
                self._bound,
                self._measured,
                self._witness,
            )
        )

    def is_floor(self, contacts: Contacts) -> np.ndarray:
        return (contacts.geom1 == self.floor) | (contacts.geom2 == self.floor)


class CollisionAvoidance:
    """Keeps every queried pair at least `d_min` apart (see there). For each pair nearer than the query margin, the
    linearised distance after the step may shrink by at most `gain` times its slack:

        -n . (J2(p2) - J1(p1)) dq <= gain * (d - d_min)

    `dq` is the displacement of this solver step (not a velocity), so the bound is in metres; a
    pair already inside its slack must open up.
    """

    def __init__(self, query: TrackedContacts, *, min_self: float, min_floor: float, gain: float = 0.85):
        self.query = query
        self._neighbours = tree_neighbours(query.model)
        self.min_self = min_self
        self.min_floor = min_floor
        self.gain = gain

    def d_min(self, contacts: Contacts, body1: np.ndarray, body2: np.ndarray) -> np.ndarray:
        """The distance each contact's pair (of bodies `body1`, `body2`) is held to: `min_floor`
        against the floor; `min_self` for a robot pair at least that far apart when standing,
        else as close as it stands but never overlapping more (a shoulder link 3.5 mm from H1's
        torso when standing may touch it, not sink into it). Neighbours in the tree (`NEIGHBOURS`)
        may touch: their clearance would only take range away from the joints between them (a
        deep squat folds G1's hip-roll links against its pelvis)."""
        rest = contacts.rest
        clearance = np.where(self._neighbours[body1, body2], 0.0, self.min_self)
        self_min = np.where(rest >= clearance, clearance, np.minimum(rest, 0.0))
        return np.where(self.query.is_floor(contacts), self.min_floor, self_min)

    def witnesses(self, contacts: Contacts) -> tuple[np.ndarray, np.ndarray]:
        """Bodies and world positions of the witness points: geom1's of every contact, then geom2's."""
        half = 0.5 * contacts.dist[:, None] * contacts.normal
        bodies = self.query.model.geom_bodyid[np.concatenate([contacts.geom1, contacts.geom2])]
        return bodies, np.concatenate([contacts.pos - half, contacts.pos + half])
