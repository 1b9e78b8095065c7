"""The Inspire hand's kinematics as the hand retargeter needs them: its 21 keypoints (MediaPipe's
order) in the palm frame for any driver angles, with the linkage coupling applied exactly as the
model's joint equalities state it, and tables of fingertip positions over each driver's range.

The robot's keypoints: the wrist is the `mount` site (the flange face); a finger's MCP and PIP are
the origins of its proximal and intermediate links, its DIP the middle of the intermediate link, its
tip the far end of the intermediate link's collision geom; the thumb's CMC, MCP and IP are the
origins of its proximal, intermediate and distal links, its tip the far end of the distal geom.
Positions are expressed in the robot's palm frame (`keypoints.palm_frames` of the open hand, with
the wrist at the origin), the frame the human's keypoints are expressed in too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import mujoco
import numpy as np

from mimicsim.assets.franka_inspire import INSPIRE_DRIVER_JOINTS, inspire_hand_spec
from mimicsim.assets.hand_mapping import HAND_LOWER, HAND_UPPER, MUJOCO_HAND_ORDER
from mimicsim.retarget.hand.keypoints import N_KEYPOINTS, palm_frames

FINGER_NAMES = ("index", "middle", "ring", "pinky")
# Bodies whose origins are keypoints, by MediaPipe index; tips come from geoms (see module doc).
_KEYPOINT_BODIES = {
    1: "R_thumb_proximal",
    2: "R_thumb_intermediate",
    3: "R_thumb_distal",
    5: "R_index_proximal",
    6: "R_index_intermediate",
    9: "R_middle_proximal",
    10: "R_middle_intermediate",
    13: "R_ring_proximal",
    14: "R_ring_intermediate",
    17: "R_pinky_proximal",
    18: "R_pinky_intermediate",
}
CAPSULE_GROUPS = {
    "thumb": ("thumb_proximal", "thumb_intermediate", "thumb_distal"),
    **dict.fromkeys(FINGER_NAMES, ("proximal", "intermediate")),
}
"""The links whose collisions the retargeter avoids: the thumb's against each finger's."""
_TIP_BODIES = {
    4: "R_thumb_distal",
    8: "R_index_intermediate",
    12: "R_middle_intermediate",
    16: "R_ring_intermediate",
    20: "R_pinky_intermediate",
}


class InspireKinematics:
    """Forward kinematics of the authored Inspire right hand (palm fixed)."""

    def __init__(self) -> None:
        self.model = inspire_hand_spec().compile()
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._drivers = np.array([m.joint(name).qposadr[0] for name in INSPIRE_DRIVER_JOINTS])
        # Followers: qpos[follower] = polynomial of qpos[driver], as the model's equalities say.
        couplings = []
        for e in range(m.neq):
            if m.eq_type[e] == mujoco.mjtEq.mjEQ_JOINT:
                follower = m.jnt_qposadr[m.eq_obj1id[e]]
                driver = m.jnt_qposadr[m.eq_obj2id[e]]
                couplings.append((follower, driver, m.eq_data[e, :5].copy()))
        self._couplings = couplings
        self._bodies = {i: m.body(name).id for i, name in _KEYPOINT_BODIES.items()}
        self._tips = {i: (m.body(name).id, _tip_offset(m, name)) for i, name in _TIP_BODIES.items()}
        self._capsules = {
            group: [
                capsule
                for link in links
                for capsule in _link_capsules(m, f"R_{link}" if group == "thumb" else f"R_{group}_{link}")
            ]
            for group, links in CAPSULE_GROUPS.items()
        }
        mount = m.site("mount").id
        mujoco.mj_kinematics(m, self.data)
        world = self._world_keypoints(self.data.site_xpos[mount].copy())
        self.origin = world[0]
        self.rotation = palm_frames(world)
        """Palm frame of the open hand in the hand's base frame (columns x, y, z)."""

    def keypoints(self, drivers: np.ndarray) -> np.ndarray:
        """(N, 21, 3) keypoints in the palm frame for driver angles (N, 6) in MuJoCo order."""
        drivers = np.atleast_2d(np.asarray(drivers, dtype=np.float64))
        out = np.empty((drivers.shape[0], N_KEYPOINTS, 3))
        mount = self.model.site("mount").id
        for n, q in enumerate(drivers):
            self._set(q)
            mujoco.mj_kinematics(self.model, self.data)
            out[n] = self._world_keypoints(self.data.site_xpos[mount])
        return (out - self.origin) @ self.rotation

    def capsules(self, drivers: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Each finger's links as capsules for driver angles (N, 6): per group of `CAPSULE_GROUPS`,
        segment ends (N, L, 2, 3) in the palm frame, and radii (L,)."""
        drivers = np.atleast_2d(np.asarray(drivers, dtype=np.float64))
        ends = {name: np.empty((drivers.shape[0], len(caps), 2, 3)) for name, caps in self._capsules.items()}
        for n, q in enumerate(drivers):
            self._set(q)
            mujoco.mj_kinematics(self.model, self.data)
            for name, caps in self._capsules.items():
                for k, (body, local, _) in enumerate(caps):
                    ends[name][n, k] = self.data.xpos[body] + local @ self.data.xmat[body].reshape(3, 3).T
        radii = {name: np.array([radius for _, _, radius in caps]) for name, caps in self._capsules.items()}
        return {name: (e - self.origin) @ self.rotation for name, e in ends.items()}, radii

    def _set(self, drivers: np.ndarray) -> None:
        qpos = self.data.qpos
        qpos[:] = 0.0
        qpos[self._drivers] = drivers
        for follower, driver, coef in self._couplings:
            qpos[follower] = np.polyval(coef[::-1], qpos[driver])

    def _world_keypoints(self, wrist: np.ndarray) -> np.ndarray:
        d = self.data
        points = np.zeros((N_KEYPOINTS, 3))
        points[0] = wrist
        for i, body in self._bodies.items():
            points[i] = d.xpos[body]
        for i, (body, offset) in self._tips.items():
            points[i] = d.xpos[body] + d.xmat[body].reshape(3, 3) @ offset
        for dip in (7, 11, 15, 19):  # halfway along the intermediate link
            points[dip] = 0.5 * (points[dip - 1] + points[dip + 1])
        return points


def _link_capsules(model: mujoco.MjModel, body: str) -> list[tuple[int, np.ndarray, float]]:
    """A link's collision geom as capsules: (body id, segment ends (2, 3) in the body frame,
    radius) each. A box becomes two capsules of its smallest half size as radius, side by side
    along its longest side, spanning its width (one when it is about as wide as thick)."""
    g, rot, size = _collision_geom(model, body)
    b, centre = model.body(body).id, model.geom_pos[g]
    if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE:
        axis = rot[:, 2]
        return [(b, np.stack([centre - size[1] * axis, centre + size[1] * axis]), float(size[0]))]
    small, mid, long = np.argsort(size)
    radius = float(size[small])
    axis = rot[:, long] * max(size[long] - radius, 0.0)
    offset = rot[:, mid] * (size[mid] - radius)
    sides = (offset, -offset) if size[mid] - radius > 1e-3 else (np.zeros(3),)
    return [(b, np.stack([centre + side - axis, centre + side + axis]), radius) for side in sides]


def _collision_geom(model: mujoco.MjModel, body: str) -> tuple[int, np.ndarray, np.ndarray]:
    """A body's (first) collision geom: its id, its rotation in the body frame and its sizes."""
    b = model.body(body).id
    g = next(g for g in range(model.ngeom) if model.geom_bodyid[g] == b and model.geom_contype[g])
    flat = np.empty(9)
    mujoco.mju_quat2Mat(flat, model.geom_quat[g])
    return g, flat.reshape(3, 3), model.geom_size[g]


def segment_distances(p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Distances (...) between segments p0-p1 and q0-q1 (arrays (..., 3)), by the clamped closest
    points of the two lines (Ericson, Real-Time Collision Detection, 5.1.9)."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a = np.einsum("...k,...k->...", d1, d1)
    e = np.einsum("...k,...k->...", d2, d2)
    f = np.einsum("...k,...k->...", d2, r)
    c = np.einsum("...k,...k->...", d1, r)
    b = np.einsum("...k,...k->...", d1, d2)
    denom = a * e - b * b
    s = np.where(denom > 1e-12, np.clip((b * f - c * e) / np.maximum(denom, 1e-12), 0.0, 1.0), 0.0)
    t = (b * s + f) / np.maximum(e, 1e-12)
    t_clipped = np.clip(t, 0.0, 1.0)
    s = np.where(t != t_clipped, np.clip((b * t_clipped - c) / np.maximum(a, 1e-12), 0.0, 1.0), s)
    closest = (p0 + s[..., None] * d1) - (q0 + t_clipped[..., None] * d2)
    return np.linalg.norm(closest, axis=-1)


def _tip_offset(model: mujoco.MjModel, body: str) -> np.ndarray:
    """The far end (from the body's origin) of the body's collision geom, in the body's frame:
    a capsule's cap or a box's face along its longest side."""
    g, rot, size = _collision_geom(model, body)
    if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE:
        axis, reach = rot[:, 2], size[1] + size[0]
    else:
        longest = int(np.argmax(size))
        axis, reach = rot[:, longest], size[longest]
    centre = model.geom_pos[g]
    ends = (centre + reach * axis, centre - reach * axis)
    return max(ends, key=lambda p: float(np.linalg.norm(p)))


@dataclass(frozen=True)
class FingerTables:
    """Tips over a grid of driver angles, in the palm frame.

    `finger_grid (G,)` radians for the four fingers (one range), `finger_tips (4, G, 3)` in
    `FINGER_NAMES` order; `yaw_grid (Y,)`, `pitch_grid (P,)` and `thumb_tips (Y, P, 3)` for the thumb;
    `open_keypoints (21, 3)` the open hand; `clearance (4, Y*P, C)` the distance (m) between the
    thumb's links and each finger's (capsules; negative when they overlap) for every thumb entry and
    `clearance_grid (C,)` finger angles."""

    finger_grid: np.ndarray
    finger_tips: np.ndarray
    yaw_grid: np.ndarray
    pitch_grid: np.ndarray
    thumb_tips: np.ndarray
    open_keypoints: np.ndarray
    clearance_grid: np.ndarray
    clearance: np.ndarray


CLEARANCE_STEPS = 64


@lru_cache(maxsize=4)
def finger_tables(finger_steps: int = 1024, thumb_steps: int = 64) -> FingerTables:
    """Tip tables at `finger_steps` angles per finger and `thumb_steps`² thumb (yaw, pitch) pairs.
    Every entry lies inside the joint ranges, so a choice from the tables respects them exactly."""
    kin = InspireKinematics()
    lower, upper = HAND_LOWER, HAND_UPPER
    finger = MUJOCO_HAND_ORDER.index("index")
    grid = np.linspace(lower[finger], upper[finger], finger_steps)
    drivers = np.zeros((finger_steps, 6))
    drivers[:, 2:] = grid[:, None]
    tips = kin.keypoints(drivers)[:, [8, 12, 16, 20]].transpose(1, 0, 2)
    yaw = np.linspace(lower[0], upper[0], thumb_steps)
    pitch = np.linspace(lower[1], upper[1], thumb_steps)
    pairs = np.stack(np.meshgrid(yaw, pitch, indexing="ij"), axis=-1).reshape(-1, 2)
    thumb_drivers = np.zeros((pairs.shape[0], 6))
    thumb_drivers[:, :2] = pairs
    thumb = kin.keypoints(thumb_drivers)[:, 4].reshape(thumb_steps, thumb_steps, 3)
    open_keypoints = kin.keypoints(np.zeros(6))[0]
    clearance_grid = np.linspace(lower[finger], upper[finger], CLEARANCE_STEPS)
    finger_drivers = np.zeros((CLEARANCE_STEPS, 6))
    finger_drivers[:, 2:] = clearance_grid[:, None]
    thumb_ends, radii = kin.capsules(thumb_drivers)
    finger_ends, _ = kin.capsules(finger_drivers)
    a = thumb_ends["thumb"][:, None, :, None]  # (E, 1, 3, 1, 2, 3)
    clearance = []
    for name in FINGER_NAMES:
        b = finger_ends[name][None, :, None, :]  # (1, C, 1, 2, 2, 3)
        gap = segment_distances(a[..., 0, :], a[..., 1, :], b[..., 0, :], b[..., 1, :])
        gap = gap - radii["thumb"][:, None] - radii[name][None, :]
        clearance.append(gap.min(axis=(-2, -1)))
    return FingerTables(grid, tips, yaw, pitch, thumb, open_keypoints, clearance_grid, np.stack(clearance))
