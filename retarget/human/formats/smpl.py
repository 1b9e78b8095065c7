"""SMPL, SMPL-H and SMPL-X parameter sequences (.npz): AMASS, video mocap, generators.

Accepted layouts (NumPy arrays, no pickled objects):

- **AMASS**: ``poses`` (T, 156) SMPL-H or (T, 165) SMPL-X axis-angle, ``trans`` (T, 3),
  ``betas`` (B,), ``gender``, ``mocap_framerate`` (SMPL-H) or ``mocap_frame_rate`` (SMPL-X),
  ``surface_model_type`` (SMPL-X). AMASS is z-up.
- **plain**: ``poses`` (T, 72 | 156 | 165) or (T, J, 3), ``trans`` (T, 3), ``betas`` (B,) or (T, B),
  ``fps``; optional ``gender``, ``model_type``, ``up``, and for SMPL-X ``expression`` (T, E).
- **split poses** (smplx's and video-mocap names): ``global_orient``/``root_orient`` (T, 3) with
  ``body_pose``/``pose_body`` (T, 63 | 69) instead of ``poses``, and ``transl`` for ``trans``.

The model type comes from the option, else the file (``model_type``, ``surface_model_type``), else
the pose width; gender from the option, else the file, else neutral. Only the root and the 21 body
joints move the 22 body joints, so a body-only pose (T, 66) is accepted with a model type. The up
axis is the file's (``up``) or detected (body models stand along +y, AMASS along +z).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mimicsim.errors import InputFileError
from mimicsim.npyio import read_npz
from mimicsim.retarget.human.formats.body_model import (
    BODY_POSE_WIDTH,
    GENDERS,
    MODEL_TYPES,
    NAMES,
    POSE_WIDTHS,
    load_body_model,
)
from mimicsim.retarget.human.formats.common import smpl_motion
from mimicsim.retarget.human.motion import HumanMotion

POSE_KEYS = ("poses", "global_orient", "root_orient")
"""Keys that mark an .npz as body-model parameters rather than joint positions."""
MIN_FPS, MAX_FPS = 1.0, 1000.0
"""Frame rates outside this range are a mistake (a frame count or a period read as a rate)."""
_FPS_KEYS = ("mocap_framerate", "mocap_frame_rate", "fps")
_ROOT_KEYS = ("global_orient", "root_orient")
_BODY_KEYS = ("body_pose", "pose_body")
_TRANS_KEYS = ("trans", "transl")


def _first(data: dict[str, np.ndarray], keys: tuple[str, ...]) -> str | None:
    return next((k for k in keys if k in data), None)


def _text(data: dict[str, np.ndarray], key: str) -> str | None:
    if key not in data:
        return None
    value = np.asarray(data[key]).reshape(-1)
    if value.size != 1:
        return None
    item = value[0]
    return (item.decode("latin1") if isinstance(item, bytes) else str(item)).strip().lower()


def _numeric(data: dict[str, np.ndarray], key: str, path: Path) -> np.ndarray:
    array = np.asarray(data[key])
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise InputFileError(path, f"'{key}' must be numeric, got {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        bad = np.unique(np.nonzero(~np.isfinite(array.reshape(array.shape[0], -1)))[0]) if array.ndim else [0]
        raise InputFileError(path, f"NaN or infinite values in '{key}' ({len(bad)} rows, first: {bad[0]})")
    return array


def _poses(data: dict[str, np.ndarray], path: Path) -> tuple[np.ndarray, str]:
    """(T, width) axis-angle poses and the layout they came in."""
    if "poses" in data:
        poses = _numeric(data, "poses", path)
        if poses.ndim == 3 and poses.shape[2] == 3:
            poses = poses.reshape(poses.shape[0], -1)
        if poses.ndim != 2:
            raise InputFileError(path, f"'poses' must be (T, 3 x joints) axis-angle, got shape {poses.shape}")
        return poses, "poses"
    root_key, body_key = _first(data, _ROOT_KEYS), _first(data, _BODY_KEYS)
    if "betas" in data and root_key is None and body_key is None:
        raise InputFileError(path, "a body shape without poses (AMASS keeps one per subject, shape.npz), not a motion")
    if root_key is None or body_key is None:
        raise InputFileError(
            path,
            f"no pose: body-model parameters need 'poses', or '{_ROOT_KEYS[0]}' and '{_BODY_KEYS[0]}' "
            f"(keys: {', '.join(sorted(data))})",
        )
    root, body = _numeric(data, root_key, path), _numeric(data, body_key, path)
    root, body = root.reshape(root.shape[0], -1), body.reshape(body.shape[0], -1)
    if root.shape[1] != 3 or body.shape[0] != root.shape[0]:
        raise InputFileError(
            path, f"'{root_key}' must be (T, 3) and '{body_key}' (T, 63 or 69), got {root.shape} and {body.shape}"
        )
    return np.concatenate([root, body], axis=1), f"{root_key} + {body_key}"


def _model_type(option: str | None, data: dict[str, np.ndarray], width: int, path: Path) -> str:
    chosen = option or _text(data, "model_type") or _text(data, "surface_model_type")
    if chosen is None:
        by_width = {w: t for t, w in POSE_WIDTHS.items()}
        if width not in by_width:
            raise InputFileError(
                path,
                f"{width} pose values per frame: expected 72 (SMPL), 156 (SMPL-H), 165 (SMPL-X), "
                f"or {BODY_POSE_WIDTH} (body only) with model_type=",
            )
        return by_width[width]
    chosen = chosen.replace("-", "").replace("+", "")
    if chosen not in MODEL_TYPES:
        raise InputFileError(path, f"model type {chosen!r} is not one of {', '.join(MODEL_TYPES)}")
    if width not in (POSE_WIDTHS[chosen], BODY_POSE_WIDTH):
        raise InputFileError(
            path,
            f"{width} pose values per frame do not fit {NAMES[chosen]} "
            f"(expected {POSE_WIDTHS[chosen]}, or {BODY_POSE_WIDTH} for the body only)",
        )
    return chosen


def _fps(option: float | None, data: dict[str, np.ndarray], path: Path) -> float:
    if option is not None:
        fps = float(option)
    else:
        key = _first(data, _FPS_KEYS)
        if key is None:
            raise InputFileError(
                path, f"no frame rate: add fps= to the file (or {', '.join(_FPS_KEYS[:2])}), or pass fps="
            )
        value = np.asarray(data[key]).reshape(-1)
        try:
            fps = float(value[0]) if value.size == 1 else float("nan")
        except (TypeError, ValueError):
            fps = float("nan")
    if not (np.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise InputFileError(path, f"frame rate {fps:g} is not a plausible mocap rate ({MIN_FPS:g}-{MAX_FPS:g} fps)")
    return fps


def load_smpl(
    path: str | Path,
    *,
    body_models: str | Path | None = None,
    gender: str | None = None,
    model_type: str | None = None,
    fps: float | None = None,
    up: str | None = None,
) -> HumanMotion:
    """A motion from body-model parameters (see the module docstring), joints by the user's model.

    Args:
        body_models: Folder with the user's model files (default: $MIMICSIM_BODY_MODELS).
        gender: neutral, male or female; overrides the file's.
        model_type: smpl, smplh or smplx; overrides the file's and the pose width's.
        fps: Frame rate; overrides the file's.
        up: The parameters' up axis ("y", "z", ... or "auto"); overrides the file's.
    """
    path = Path(path)
    data = read_npz(path)
    poses, layout = _poses(data, path)
    frames = poses.shape[0]
    model_type = _model_type(model_type, data, poses.shape[1], path)
    trans_key = _first(data, _TRANS_KEYS)
    if trans_key is None:
        raise InputFileError(path, "no root translation: body-model parameters need 'trans' (T, 3)")
    trans = _numeric(data, trans_key, path)
    if trans.shape != (frames, 3):
        raise InputFileError(path, f"'{trans_key}' must have shape ({frames}, 3) like the poses, got {trans.shape}")
    if "betas" not in data:
        raise InputFileError(path, "no 'betas': add the body shape (np.zeros(10) for the mean body)")
    betas = _numeric(data, "betas", path)
    betas = betas.reshape(1, -1) if betas.ndim == 1 else betas
    if betas.ndim != 2 or betas.shape[0] not in (1, frames) or betas.shape[1] == 0:
        raise InputFileError(path, f"'betas' must be (B,) or ({frames}, B), got {np.asarray(data['betas']).shape}")
    expression = None
    if "expression" in data and model_type == "smplx":
        expression = _numeric(data, "expression", path).reshape(-1, np.asarray(data["expression"]).shape[-1])
        if expression.shape[0] not in (1, frames):
            raise InputFileError(path, f"'expression' must be (E,) or ({frames}, E), got {expression.shape}")
    gender = gender or _text(data, "gender") or "neutral"
    if gender not in GENDERS:
        raise InputFileError(path, f"gender {gender!r} is not one of {', '.join(GENDERS)}")
    rate = _fps(fps, data, path)
    model = load_body_model(body_models, model_type, gender, path)
    positions = model.joints(poses, trans, model.rest_joints(betas, expression))
    chosen_up = up if up is not None else (_text(data, "up") or "auto")
    used = min(betas.shape[1], model.num_betas)
    details = {
        "model": f"{model.name} ({model.path})",
        "layout": "AMASS" if "mocap_framerate" in data or "mocap_frame_rate" in data else layout,
        "betas": f"{used} of {betas.shape[1]}" + (" per frame" if betas.shape[0] > 1 else ""),
    }
    return smpl_motion(positions, rate, path, "smpl", up=chosen_up, trust_up=up not in (None, "auto"), details=details)
