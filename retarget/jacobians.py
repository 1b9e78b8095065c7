"""Jacobian rows from MuJoCo's dof axes, compiled with numba for the solver's inner loop.

`mj_jac` builds, for each dof on the chain from a body to its tree's root, the angular column `a`
and the linear column `l + a x (p - c)` from the motion axes MuJoCo keeps in `data.cdof` (`[a, l]`
per dof, current after `mj_kinematics` and `mj_comPos`), `c` being the centre of mass of the
body's tree (`data.subtree_com` of its root). The same formula, as compiled loops over a (body,
dof) chain mask, gives every row a solver step needs without a Python call per point.
"""

from __future__ import annotations

import mujoco
import numpy as np
from numba import njit


def chain_mask(model: mujoco.MjModel) -> np.ndarray:
    """(nbody, nv): 1 where the dof moves the body (it lies on the body's chain to the world)."""
    chain = np.zeros((model.nbody, model.nv))
    for body in range(1, model.nbody):
        chain[body] = chain[model.body_parentid[body]]
        start = model.body_dofadr[body]
        chain[body, start : start + model.body_dofnum[body]] = 1.0
    return chain


@njit(cache=True)
def point_rows(cdof: np.ndarray, chain: np.ndarray, body: int, offset: np.ndarray, out: np.ndarray) -> None:
    """`out` (3, nv): d(point)/dq for a point fixed to `body` at `offset` (point minus the tree's
    centre of mass, world frame)."""
    rx, ry, rz = offset[0], offset[1], offset[2]
    for v in range(cdof.shape[0]):
        if chain[body, v] == 0.0:
            out[0, v] = out[1, v] = out[2, v] = 0.0
            continue
        ax, ay, az = cdof[v, 0], cdof[v, 1], cdof[v, 2]
        out[0, v] = cdof[v, 3] + ay * rz - az * ry
        out[1, v] = cdof[v, 4] + az * rx - ax * rz
        out[2, v] = cdof[v, 5] + ax * ry - ay * rx


@njit(cache=True)
def normal_row(
    cdof: np.ndarray, chain: np.ndarray, body: int, offset: np.ndarray, normal: np.ndarray, out: np.ndarray
) -> None:
    """`out` (nv,) += d(normal . point)/dq for a point fixed to `body` at `offset` (see `point_rows`)."""
    # n . (l + a x r) = n . l + a . (r x n)
    cx = offset[1] * normal[2] - offset[2] * normal[1]
    cy = offset[2] * normal[0] - offset[0] * normal[2]
    cz = offset[0] * normal[1] - offset[1] * normal[0]
    for v in range(cdof.shape[0]):
        if chain[body, v] != 0.0:
            out[v] += (
                normal[0] * cdof[v, 3]
                + normal[1] * cdof[v, 4]
                + normal[2] * cdof[v, 5]
                + cdof[v, 0] * cx
                + cdof[v, 1] * cy
                + cdof[v, 2] * cz
            )


@njit(cache=True)
def rotation_rows(cdof: np.ndarray, chain: np.ndarray, body: int, out: np.ndarray) -> None:
    """`out` (3, nv): the body's world-frame angular velocity per unit dq."""
    for v in range(cdof.shape[0]):
        mask = chain[body, v]
        out[0, v] = mask * cdof[v, 0]
        out[1, v] = mask * cdof[v, 1]
        out[2, v] = mask * cdof[v, 2]
