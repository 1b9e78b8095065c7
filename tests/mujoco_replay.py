"""An independent check of the retargeting evaluator's self-collision count: replay a robot motion
through plain MuJoCo, every self-collision enabled, and read `data.contact` frame by frame."""

from __future__ import annotations

import copy

import mujoco
import numpy as np

from mimicsim.assets import RobotSpec
from mimicsim.retarget.robot_motion import RobotMotion


def replay_self_penetration(motion: RobotMotion, spec: RobotSpec) -> np.ndarray:
    """(T,) per frame, how much deeper than in the standing pose the deepest pair of robot geoms
    overlaps (m, 0 when none does). Every collision geom collides with every other (MuJoCo's
    parent-child filter stays, the model's exclude list is emptied)."""
    model = copy.copy(spec.model)
    colliding = (model.geom_contype != 0) | (model.geom_conaffinity != 0)
    model.geom_contype[colliding] = 1
    model.geom_conaffinity[colliding] = 1
    model.exclude_signature[:] = 0
    floor = model.geom("floor").id
    data = mujoco.MjData(model)

    def overlaps(qpos: np.ndarray) -> dict[tuple[int, int], float]:
        data.qpos[:] = qpos
        mujoco.mj_forward(model, data)
        out: dict[tuple[int, int], float] = {}
        for geom, dist in zip(data.contact.geom[: data.ncon], data.contact.dist[: data.ncon], strict=True):
            if floor not in geom:
                pair = (int(min(geom)), int(max(geom)))
                out[pair] = min(out.get(pair, 0.0), float(dist))
        return out

    standing = overlaps(spec.default_qpos)
    depth = np.zeros(motion.num_frames)
    for t, qpos in enumerate(motion.qpos()):
        for pair, dist in overlaps(qpos).items():
            depth[t] = max(depth[t], standing.get(pair, 0.0) - dist)
    return depth
