"""Jacobians of many points and bodies in a few matrix products.

`mj_jac` builds, for each dof on the chain from a body to its tree's root, the angular column `a`
and the linear column `l + a x (p - c)` from the motion axes MuJoCo keeps in `data.cdof` (`[a, l]`
per dof, current after `mj_kinematics` and `mj_comPos`), `c` being the centre of mass of the
body's tree. Written for many points at once, `a x r` for the three world axes is a product of
`r` with the Levi-Civita symbol, so every point a solver step needs (keypoints, soles, collision
witness points) costs a handful of array operations together instead of a Python call each.
"""

from __future__ import annotations

import mujoco
import numpy as np

_LEVI_CIVITA = np.zeros((3, 3, 3))
for _i, _j, _k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
    _LEVI_CIVITA[_i, _j, _k], _LEVI_CIVITA[_i, _k, _j] = 1.0, -1.0
_CROSS = _LEVI_CIVITA.transpose(2, 0, 1).reshape(3, 9)
"""r @ _CROSS, reshaped (3, 3), has rows r x e_x, r x e_y, r x e_z."""


class TreeJacobian:
    """Jacobians for one model (see the module docstring)."""

    def __init__(self, model: mujoco.MjModel):
        chain = np.zeros((model.nbody, model.nv))
        for body in range(1, model.nbody):
            chain[body] = chain[model.body_parentid[body]]
            start = model.body_dofadr[body]
            chain[body, start : start + model.body_dofnum[body]] = 1.0
        self.chain = chain
        """(nbody, nv): 1 where the dof moves the body."""
        self.root = model.body_rootid.copy()

    def points(self, data: mujoco.MjData, bodies: np.ndarray, points: np.ndarray) -> np.ndarray:
        """(n, 3, nv) translational Jacobians of world points fixed to `bodies` ((n,), (n, 3))."""
        r = points - data.subtree_com[self.root[bodies]]
        cdof = data.cdof
        # Row k of point i: (r_i x e_k) . a + e_k . l, i.e. -(e_k x r_i) . a + l_k.
        jac = (r @ _CROSS).reshape(-1, 3, 3) @ cdof[:, :3].T
        jac += cdof[:, 3:].T
        jac *= self.chain[bodies][:, None, :]
        return jac

    def rotations(self, data: mujoco.MjData, bodies: np.ndarray) -> np.ndarray:
        """(n, 3, nv) rotational Jacobians of `bodies` (world-frame angular velocity per unit dq)."""
        return data.cdof[:, :3].T * self.chain[bodies][:, None, :]
