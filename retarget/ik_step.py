"""The quadratic program of one solver step (see `ik`), assembled in compiled code.

A step needs a few dozen small-array operations (Jacobian rows of 17-21 points and 4 bodies,
rotation errors, the stance feet, one row per nearby pair, the bounds). As NumPy calls they cost
most of the solver's time in per-call overhead; compiled with numba they are loops that take a
few microseconds. The layout handed to daqp: `nv` simple bounds, then one inequality per contact,
then two equalities (x, y) per pinned foot that has arrived at its place.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mimicsim.retarget.jacobians import normal_row, point_rows, rotation_rows

FREE = 1e30
"""daqp's "no bound"."""
EQUALITY, SOFT = 5, 8
"""daqp constraint senses."""


@njit(cache=True)
def rotation_vector(rotation: np.ndarray) -> np.ndarray:
    """The rotation vector (axis times angle, at most pi) of a 3x3 rotation matrix."""
    trace = rotation[0, 0] + rotation[1, 1] + rotation[2, 2]
    # The largest of w, x, y, z (times 4) is the stable one to divide by.
    if trace > 0.0:
        s = 2.0 * math.sqrt(1.0 + trace)
        w, x = 0.25 * s, (rotation[2, 1] - rotation[1, 2]) / s
        y, z = (rotation[0, 2] - rotation[2, 0]) / s, (rotation[1, 0] - rotation[0, 1]) / s
    elif rotation[0, 0] > rotation[1, 1] and rotation[0, 0] > rotation[2, 2]:
        s = 2.0 * math.sqrt(max(1.0 + rotation[0, 0] - rotation[1, 1] - rotation[2, 2], 1e-300))
        w, x = (rotation[2, 1] - rotation[1, 2]) / s, 0.25 * s
        y, z = (rotation[0, 1] + rotation[1, 0]) / s, (rotation[0, 2] + rotation[2, 0]) / s
    elif rotation[1, 1] > rotation[2, 2]:
        s = 2.0 * math.sqrt(max(1.0 + rotation[1, 1] - rotation[0, 0] - rotation[2, 2], 1e-300))
        w, x = (rotation[0, 2] - rotation[2, 0]) / s, (rotation[0, 1] + rotation[1, 0]) / s
        y, z = 0.25 * s, (rotation[1, 2] + rotation[2, 1]) / s
    else:
        s = 2.0 * math.sqrt(max(1.0 + rotation[2, 2] - rotation[0, 0] - rotation[1, 1], 1e-300))
        w, x = (rotation[1, 0] - rotation[0, 1]) / s, (rotation[0, 2] + rotation[2, 0]) / s
        y, z = (rotation[1, 2] + rotation[2, 1]) / s, 0.25 * s
    if w < 0.0:  # the same rotation the short way round
        w, x, y, z = -w, -x, -y, -z
    sin_half = math.sqrt(x * x + y * y + z * z)
    out = np.zeros(3)
    if sin_half > 1e-12:
        scale = 2.0 * math.atan2(sin_half, w) / sin_half
        out[0], out[1], out[2] = x * scale, y * scale, z * scale
    return out


@njit(cache=True)
def _add_rows(H: np.ndarray, f: np.ndarray, J: np.ndarray, e: np.ndarray, w: np.ndarray) -> None:
    """H += J^T diag(w) J, f -= J^T (w e) for a few rows `J`."""
    nv = J.shape[1]
    for r in range(J.shape[0]):
        if w[r] == 0.0:
            continue
        for a in range(nv):
            ja = w[r] * J[r, a]
            if ja == 0.0:
                continue
            f[a] -= ja * e[r]
            for b in range(nv):
                H[a, b] += ja * J[r, b]


@njit(cache=True)
def assemble(  # noqa: PLR0912, PLR0915 - one flat call keeps numba's dispatch cheap
    site_xpos: np.ndarray,
    xmat: np.ndarray,
    cdof: np.ndarray,
    com: np.ndarray,
    chain: np.ndarray,
    points: np.ndarray,
    point_bodies: np.ndarray,
    n_keypoints: int,
    bodies: np.ndarray,
    keypoint_targets: np.ndarray,
    orientation_targets: np.ndarray,
    sqrt_w: np.ndarray,
    diagonal: np.ndarray,
    pull_weight: np.ndarray,
    pull_target: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    dofs: np.ndarray,
    qadr: np.ndarray,
    qpos: np.ndarray,
    max_joint_step: float,
    max_root_step: float,
    stance_points: np.ndarray,
    stance_bodies: np.ndarray,
    stance_targets: np.ndarray,
    stance_up: np.ndarray,
    stance_weight: float,
    level_weight: float,
    arrived_distance: float,
    contact_body1: np.ndarray,
    contact_body2: np.ndarray,
    contact_dist: np.ndarray,
    contact_normal: np.ndarray,
    contact_pos: np.ndarray,
    contact_min: np.ndarray,
    gain: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(H, f, A, upper, lower, sense, H_slip, f_slip) of one step; `H_slip`, `f_slip` are what to
    add to the objective when the arrived feet's places become tasks instead of equalities.

    Points are keypoint sites (the first `n_keypoints`) and sole sites; `stance_points` index them
    and `stance_bodies` index `bodies`. Contacts give each pair's bodies, signed distance, normal
    (from body 1 to body 2), midpoint and the distance it must keep (`contact_min`)."""
    nv = cdof.shape[0]
    n_bodies = bodies.shape[0]
    rows = 3 * (n_keypoints + n_bodies)
    W = np.empty((rows, nv))
    we = np.empty(rows)
    block = np.empty((3, nv))
    for i in range(n_keypoints):
        site = points[i]
        point_rows(cdof, chain, point_bodies[i], site_xpos[site] - com, block)
        for k in range(3):
            r = 3 * i + k
            we[r] = sqrt_w[r] * (keypoint_targets[i, k] - site_xpos[site, k])
            for v in range(nv):
                W[r, v] = sqrt_w[r] * block[k, v]
    for j in range(n_bodies):
        body = bodies[j]
        error = rotation_vector(orientation_targets[j] @ xmat[body].reshape((3, 3)).T)
        rotation_rows(cdof, chain, body, block)
        for k in range(3):
            r = 3 * (n_keypoints + j) + k
            we[r] = sqrt_w[r] * error[k]
            for v in range(nv):
                W[r, v] = sqrt_w[r] * block[k, v]
    H = W.T @ W
    f = -(W.T @ we)
    for v in range(nv):
        H[v, v] += diagonal[v]
    for j in range(dofs.shape[0]):
        f[dofs[j]] -= pull_target[j] - pull_weight[j] * qpos[qadr[j]]

    # Pinned feet: sole height and level always in the objective; the place by an equality once
    # the foot has arrived (else as a heavy task).
    feet = stance_points.shape[0]
    foot_J = np.empty((feet, 5, nv))
    foot_e = np.empty((feet, 5))
    arrived = np.zeros(feet, dtype=np.bool_)
    H_slip = np.zeros((nv, nv))
    f_slip = np.zeros(nv)
    weights = np.empty(5)
    for s in range(feet):
        point = stance_points[s]
        site = points[point]
        body = bodies[stance_bodies[s]]
        point_rows(cdof, chain, point_bodies[point], site_xpos[site] - com, block)
        foot_J[s, :3] = block
        rotation_rows(cdof, chain, body, block)
        foot_J[s, 3:] = block[:2]
        up = xmat[body].reshape((3, 3)) @ stance_up[s]
        # up x z = axis * sin(angle) of the rotation that levels the sole; scaled to the angle.
        sin = math.hypot(up[0], up[1])
        scale = math.atan2(sin, up[2]) / max(sin, 1e-9)
        foot_e[s, :3] = stance_targets[s] - site_xpos[site]
        foot_e[s, 3], foot_e[s, 4] = up[1] * scale, -up[0] * scale
        arrived[s] = math.hypot(foot_e[s, 0], foot_e[s, 1]) < arrived_distance
        place = 0.0 if arrived[s] else stance_weight
        weights[0], weights[1], weights[2], weights[3], weights[4] = (
            place,
            place,
            stance_weight,
            level_weight,
            level_weight,
        )
        _add_rows(H, f, foot_J[s], foot_e[s], weights)
        if arrived[s]:
            weights[:] = 0.0
            weights[0] = weights[1] = stance_weight
            _add_rows(H_slip, f_slip, foot_J[s], foot_e[s], weights)

    contacts = contact_dist.shape[0]
    held = 2 * int(arrived.sum())
    size = nv + contacts + held
    A = np.zeros((contacts + held, nv))
    bu = np.empty(size)
    bl = np.empty(size)
    sense = np.zeros(size, dtype=np.int32)
    # Simple bounds: joint range and speed window of this frame, and a trust region that keeps
    # every step where the linearisation holds.
    for v in range(nv):
        bound = max_root_step if v < 6 else FREE
        bu[v], bl[v] = bound, -bound
    for j in range(dofs.shape[0]):
        q = qpos[qadr[j]]
        lo = max(lower[j] - q, -max_joint_step)
        bl[dofs[j]] = lo
        bu[dofs[j]] = max(min(upper[j] - q, max_joint_step), lo)
    # Contacts: -n . (J2(p2) - J1(p1)) dq <= gain (d - d_min), at the witness points.
    p = np.empty(3)
    for c in range(contacts):
        normal = contact_normal[c]
        half = 0.5 * contact_dist[c]
        for k in range(3):
            p[k] = contact_pos[c, k] - half * normal[k] - com[k]
        normal_row(cdof, chain, contact_body1[c], p, normal, A[c])
        for k in range(3):
            p[k] = contact_pos[c, k] + half * normal[k] - com[k]
        normal_row(cdof, chain, contact_body2[c], p, -normal, A[c])
        bu[nv + c] = gain * (contact_dist[c] - contact_min[c])
        bl[nv + c] = -FREE
    row = contacts
    for s in range(feet):
        if arrived[s]:
            for k in range(2):
                A[row] = foot_J[s, k]
                bu[nv + row] = bl[nv + row] = foot_e[s, k]
                sense[nv + row] = EQUALITY
                row += 1
    return H, f, A, bu, bl, sense, H_slip, f_slip
