"""Optional temporal smoothing of a solved trajectory (Gaussian, zero phase).

A Gaussian is a positive kernel: every smoothed frame is a convex combination of solved frames, so
joint limits and the per-frame joint speed limit still hold afterwards. Contact pinning and
collision clearance are not guaranteed by it, which is why the benchmarks measure both settings.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from mimicsim.assets import RobotSpec


def smooth_qpos(spec: RobotSpec, qpos: np.ndarray, sigma_frames: float) -> np.ndarray:
    """(T, nq) trajectory smoothed along time; the root quaternion stays unit and sign-continuous."""
    if sigma_frames <= 0:
        return qpos.copy()
    out = gaussian_filter1d(qpos, sigma_frames, axis=0, mode="nearest")
    quat = qpos[:, 3:7].copy()
    flips = np.cumsum(np.concatenate([[0], np.sum(quat[1:] * quat[:-1], axis=1) < 0])) % 2 == 1
    quat[flips] *= -1  # q and -q are one rotation; average neighbours on the same side
    quat = gaussian_filter1d(quat, sigma_frames, axis=0, mode="nearest")
    out[:, 3:7] = quat / np.linalg.norm(quat, axis=1, keepdims=True)
    out[:, spec.qpos_adr] = np.clip(out[:, spec.qpos_adr], spec.lower, spec.upper)
    return out
