"""MDM's `results.npy`: a pickled dict, read through an allow-list that admits only NumPy array
reconstruction, and only when the user asks for format "mdm"."""

from __future__ import annotations

import importlib
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from mimicsim.errors import InputFileError
from mimicsim.npyio import npy_header, read_bytes


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles containers of NumPy arrays and nothing else."""

    _ALLOWED = frozenset(
        {
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if name in ("_reconstruct", "scalar"):  # numpy.core is numpy._core's deprecated alias
            return getattr(importlib.import_module("numpy._core.multiarray"), name)
        return getattr(np, name)


def read_mdm_dict(path: Path) -> dict[str, Any]:
    """MDM's results.npy: an .npy holding one pickled dict of arrays, lists and numbers."""
    data = read_bytes(path)
    shape, dtype, offset, _ = npy_header(path, data)
    if not dtype.hasobject or shape != ():
        raise InputFileError(
            path,
            f"not an MDM results.npy: expected one pickled dict, found a {shape} "
            f"{dtype} array (load plain joint arrays without format='mdm')",
        )
    try:
        obj = NumpyOnlyUnpickler(io.BytesIO(data[offset:])).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise InputFileError(path, f"cannot read the MDM dict ({exc})") from None
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, dict):
        raise InputFileError(path, f"not an MDM results.npy: the pickle holds {type(obj).__name__}, not a dict")
    return obj
