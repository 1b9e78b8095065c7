"""What the two feature formats (HumanML3D 263-dim, MotionMillion/MotionStreamer 272-dim) share:
feature-matrix checks, de-normalisation with Mean/Std, and the "looks normalised" diagnosis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from mimicsim.errors import InputFileError
from mimicsim.npyio import read_npy
from mimicsim.retarget.human.formats.common import smpl_motion
from mimicsim.retarget.human.motion import HumanMotion


def feature_matrix(array: np.ndarray, dim: int, where: Path) -> np.ndarray:
    """(T, dim) from (T, dim) or (1, T, dim)."""
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2 or array.shape[1] != dim:
        raise InputFileError(where, f"expected {dim}-dim features of shape (T, {dim}), got {array.shape}")
    if array.shape[0] < 2:
        raise InputFileError(where, f"a motion needs at least 2 frames, this one has {array.shape[0]}")
    return array


def _stats(value: str | Path | np.ndarray, dim: int, name: str, where: Path) -> np.ndarray:
    array = read_npy(Path(value)) if isinstance(value, (str, Path)) else np.asarray(value, dtype=float)
    array = array.reshape(-1)
    if array.shape != (dim,):
        raise InputFileError(
            where,
            f"{name} has {array.size} values but the features have {dim} dimensions "
            "(use the statistics of the same representation)",
        )
    if not np.isfinite(array).all():
        raise InputFileError(where, f"{name} contains NaN or infinite values")
    return array


def denormalise(
    features: np.ndarray, mean: str | Path | np.ndarray | None, std: str | Path | np.ndarray | None, where: Path
) -> np.ndarray:
    """features * std + mean when both statistics are given (files or arrays)."""
    if (mean is None) != (std is None):
        raise InputFileError(where, "give both mean= and std= to de-normalise features, or neither")
    if mean is None or std is None:
        return features
    dim = features.shape[1]
    return features * _stats(std, dim, "std", where) + _stats(mean, dim, "mean", where)


def looks_normalised(features: np.ndarray, root_height: int) -> bool:
    """Raw features have a positive root height and mostly small per-dimension spread; normalised
    ones are zero-mean with spread ≈ 1, so their root height goes negative."""
    return bool((features[:, root_height] <= 0).any() or np.median(features.std(axis=0)) > 0.5)


def feature_motion(
    features: np.ndarray,
    recover: Callable[[np.ndarray], np.ndarray],
    root_height: int,
    path: Path,
    format: str,
    fps: float,
    *,
    normalised_by_user: bool,
    stats_hint: str,
) -> HumanMotion:
    """Recover joints (y-up) and build the motion; when the result is not a plausible body and the
    features look normalised, the error says so."""
    details = {"features": "de-normalised with the given mean/std" if normalised_by_user else "raw (not normalised)"}
    try:
        if not np.isfinite(features).all():
            bad = np.unique(np.nonzero(~np.isfinite(features))[0])
            raise InputFileError(path, f"NaN or infinite features in {bad.size} frames (first: frame {bad[0]})")
        joints = recover(features)
        if not np.isfinite(joints).all():
            bad = np.unique(np.nonzero(~np.isfinite(joints))[0])
            raise InputFileError(
                path,
                f"the features give no valid joints in {bad.size} frames (first: frame "
                f"{bad[0]}): degenerate rotations?",
            )
        return smpl_motion(joints, fps, path, format, up="y", trust_up=True, details=details)  # y-up by definition
    except InputFileError as exc:
        if normalised_by_user or not looks_normalised(features, root_height):
            raise
        raise InputFileError(
            path,
            f"{exc.problem}; these features look normalised (zero-mean, unit spread): "
            f"pass the generator's statistics, {stats_hint}",
        ) from None
