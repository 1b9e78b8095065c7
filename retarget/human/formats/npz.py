"""mimicsim's documented npz layout for human motions: convert anything else into this.

Keys (NumPy arrays; no pickled objects):

- ``positions`` (T, J, 3) float: joint positions, metres unless ``units`` says otherwise. Required.
- ``fps`` () float: frames per second. Required.
- ``joint_names`` (J,) str: required unless J is 22 (then the 22 SMPL joints in SMPL order are
  assumed). Other skeletons are mapped onto the SMPL body by name (SMPL, CMU or Mixamo names), or by
  a user mapping passed as ``mapping=``.
- ``up`` () str: the up axis of ``positions`` ("z", "y", "-y"...). Default "z" (mimicsim's frame).
- ``units`` () str or float: "m" (default), "cm", "mm", "cmu", "in", or metres per unit.
- ``contacts`` (T, 2) bool, optional: left and right foot contacts.
- ``schema`` () str, optional: "mimicsim.human_motion/1" in files mimicsim writes.

``save_npz`` writes this layout (z-up, metres, SMPL-22 names, plus ``parents`` and ``source`` JSON),
so ``load_motion(save_npz(motion, path))`` gives the motion back. Example for your own data::

    np.savez("clip.npz", positions=joints_yup, fps=30.0, up="y")
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mimicsim.atomic import atomic_path
from mimicsim.errors import InputFileError
from mimicsim.npyio import read_npz
from mimicsim.retarget.human.formats.common import parse_units, smpl_motion
from mimicsim.retarget.human.formats.mapping import Mapping, to_smpl22
from mimicsim.retarget.human.motion import HumanMotion
from mimicsim.retarget.human.skeleton import SMPL_JOINTS

SCHEMA = "mimicsim.human_motion/1"
_AMASS_KEYS = {"poses", "trans", "betas"}


def _scalar(data: dict[str, np.ndarray], key: str, where: Path) -> Any:
    value = data[key]
    if value.shape not in ((), (1,)):
        raise InputFileError(where, f"'{key}' must be a single value, got an array of shape {value.shape}")
    return value.reshape(()).item()


def load_npz(
    path: str | Path,
    *,
    up: str | None = None,
    units: str | float | None = None,
    mapping: Mapping | str | Path | None = None,
) -> HumanMotion:
    """A motion in mimicsim's npz layout (see the module docstring).

    Args:
        up: Override the file's up axis ("z" by default), or "auto" to detect it.
        units: Override the file's units ("m" by default).
        mapping: Joint mapping for skeletons with names that are not SMPL, CMU or Mixamo.
    """
    path = Path(path)
    data = read_npz(path)
    if "positions" not in data:
        if set(data) >= _AMASS_KEYS:
            raise InputFileError(
                path,
                "this is a body-model parameter file (poses, trans, betas), not joint positions: "
                "read it with format='smpl' (CLI: --format smpl) and your body models",
            )
        raise InputFileError(
            path,
            f"no 'positions' array (keys: {', '.join(sorted(data)) or 'none'}); "
            "mimicsim's npz layout needs positions (T, J, 3) and fps",
        )
    if "fps" not in data:
        raise InputFileError(path, "no 'fps' value: add fps=<frames per second> to the npz")
    positions = np.asarray(data["positions"])
    if not np.issubdtype(positions.dtype, np.number) or positions.ndim != 3 or positions.shape[2] != 3:
        raise InputFileError(
            path, f"'positions' must be a numeric (T, J, 3) array, got {positions.dtype} {positions.shape}"
        )
    try:
        fps = float(_scalar(data, "fps", path))
    except (TypeError, ValueError):
        raise InputFileError(path, f"'fps' must be a number, got {data['fps']!r}") from None
    file_up = str(_scalar(data, "up", path)) if "up" in data else "z"
    file_units = _scalar(data, "units", path) if "units" in data else "m"
    positions = positions.astype(float) * parse_units(units if units is not None else file_units)
    names = tuple(str(n) for n in data["joint_names"]) if "joint_names" in data else None
    details = {"layout": str(_scalar(data, "schema", path)) if "schema" in data else "npz positions + fps"}
    if names is None and positions.shape[1] != len(SMPL_JOINTS):
        raise InputFileError(
            path,
            f"{positions.shape[1]} joints but no 'joint_names': add joint_names (J,) "
            "so they can be mapped onto the SMPL body",
        )
    if names is not None:
        if len(names) != positions.shape[1]:
            raise InputFileError(path, f"{len(names)} joint_names for {positions.shape[1]} joints")
        positions, skeleton = to_smpl22(positions, names, path, mapping)
        details["skeleton"] = skeleton
    chosen_up = up if up is not None else file_up
    motion = smpl_motion(
        positions, fps, path, "npz", up=chosen_up, trust_up=up is not None and up != "auto", details=details
    )
    if "contacts" in data:
        contacts = np.asarray(data["contacts"])
        if contacts.shape != (motion.num_frames, 2):
            raise InputFileError(path, f"'contacts' must have shape ({motion.num_frames}, 2), got {contacts.shape}")
        motion = replace(motion, contacts=contacts.astype(bool))
    return motion


def save_npz(motion: HumanMotion, path: str | Path) -> Path:
    """Write `motion` in the documented layout (atomic)."""
    arrays: dict[str, np.ndarray] = {
        "schema": np.array(SCHEMA),
        "positions": motion.positions.astype(np.float64),
        "fps": np.array(motion.fps),
        "joint_names": np.array(motion.joint_names),
        "parents": np.array(motion.parents),
        "up": np.array("z"),
        "units": np.array("m"),
        "source": np.array(json.dumps(motion.source.to_dict())),
    }
    if motion.contacts is not None:
        arrays["contacts"] = motion.contacts.astype(bool)
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as its allow_pickle flag
    return Path(path)
