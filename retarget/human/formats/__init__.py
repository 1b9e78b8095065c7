"""Readers (and writers) of human-motion file formats, each producing a `HumanMotion`.

`load_motion(path, format=None, **options)` picks the reader from the extension and, for .npy files,
the array's shape; pass `format=` when that is ambiguous or to opt in to MDM's pickled results.npy.

| format      | files                                        | options                         |
|-------------|----------------------------------------------|---------------------------------|
| humanml3d   | .npy (T, 263) HumanML3D features             | mean, std, fps (20)             |
| rep272      | .npy (T, 272) MotionMillion/MotionStreamer   | mean, std, fps (30)             |
| joints      | .npy (T, 22, 3), (1, T, 22, 3), (N, 22, 3, T)| fps (20), up, units, sample     |
| mdm         | MDM results.npy (pickled dict; opt-in)       | sample, fps (20), up            |
| bvh         | .bvh, any skeleton                           | up, units, mapping              |
| npz         | .npz in mimicsim's layout (see `npz`)        | up, units, mapping              |
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mimicsim.errors import ConfigError, InputFileError
from mimicsim.npyio import read_npy
from mimicsim.retarget.human.formats import bvh, humanml3d, joints, npz, rep272
from mimicsim.retarget.human.motion import HumanMotion

LOADERS: dict[str, Callable[..., HumanMotion]] = {
    "humanml3d": humanml3d.load_humanml3d,
    "rep272": rep272.load_rep272,
    "joints": joints.load_joints,
    "mdm": joints.load_mdm,
    "bvh": bvh.load_bvh,
    "npz": npz.load_npz,
}
FORMATS = tuple(LOADERS)
_FROM_ARRAY: dict[str, Callable[..., HumanMotion]] = {
    "humanml3d": humanml3d.from_features,
    "rep272": rep272.from_features,
    "joints": joints.from_array,
}
_STATS_DIMS = {humanml3d.DIM: "HumanML3D", rep272.DIM: "272-dim"}


def options_of(format: str) -> tuple[str, ...]:
    """The keyword options a format's loader accepts."""
    params = inspect.signature(LOADERS[format]).parameters.values()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _check_options(format: str, options: dict[str, object]) -> None:
    unknown = sorted(set(options) - set(options_of(format)))
    if unknown:
        raise ConfigError(
            f"option {', '.join(unknown)} does not apply to format {format!r} "
            f"(it accepts: {', '.join(options_of(format)) or 'no options'})"
        )


def _npy_format(path: Path) -> tuple[str, np.ndarray]:
    """The format of an .npy file from its array's shape, and the array (read once)."""
    array = read_npy(path)
    shape = array.shape
    last = shape[-1] if shape else None
    if len(shape) == 1 and last in _STATS_DIMS:
        raise InputFileError(
            path,
            f"a single vector of {last} values: these are {_STATS_DIMS[last]} normalisation "
            "statistics (Mean/Std), not a motion; pass them as mean=/std= with the features",
        )
    if len(shape) in (2, 3) and last in _STATS_DIMS and (len(shape) == 2 or shape[0] == 1):
        return ("humanml3d" if last == humanml3d.DIM else "rep272"), array
    if len(shape) in (3, 4):
        return "joints", array
    raise InputFileError(
        path,
        f"cannot tell the format of an array of shape {shape}: mimicsim reads (T, 263) "
        "HumanML3D features, (T, 272) features, and (T, 22, 3) / (1, T, 22, 3) joints; "
        "pass format= if it is one of these",
    )


def load_motion(path: str | Path, format: str | None = None, **options: object) -> HumanMotion:
    """Read a human motion file into a validated `HumanMotion` (z-up, metres, SMPL-22 joints).

    Args:
        path: The motion file.
        format: One of `FORMATS`; None picks it from the extension and (for .npy) the array shape.
        **options: Loader options (see the table in this module's docstring), e.g. mean=, std=, fps=,
            up=, units=, mapping=, sample=.

    Raises:
        InputFileError: the file is unreadable, malformed, or not a plausible human motion.
        ConfigError: unknown format or an option the format does not take.
    """
    path = Path(path)
    if format is not None and format not in LOADERS:
        raise ConfigError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    if not path.exists():
        raise InputFileError(path, "no such file")
    if path.is_dir():
        raise InputFileError(path, "is a directory, not a motion file")
    suffix = path.suffix.lower()
    if format is None:
        if suffix == ".bvh":
            format = "bvh"
        elif suffix == ".npz":
            format = "npz"
        elif suffix == ".npy":
            format, array = _npy_format(path)
            _check_options(format, options)
            return _FROM_ARRAY[format](array, path, **options)
        elif suffix in (".pkl", ".pickle", ".pt", ".pth"):
            raise InputFileError(
                path,
                f"{suffix} files are pickles, which mimicsim does not load (unpickling can "
                "execute code); save the joints or features with np.save or in the npz layout",
            )
        else:
            raise InputFileError(
                path,
                f"unknown file type {suffix or '(no extension)'!r}: mimicsim reads .npy "
                "(HumanML3D 263 / 272 features, joint arrays, MDM results), .bvh and .npz; "
                "pass format= if the extension is unusual",
            )
    _check_options(format, options)
    return LOADERS[format](path, **options)
