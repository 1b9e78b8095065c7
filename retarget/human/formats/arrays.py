"""Reading NumPy files without unpickling: `.npy` and `.npz` with `allow_pickle` refused.

Unpickling runs arbitrary code, so a pickled object is an error, with one documented exception:
MDM's `results.npy` (a pickled dict) is read by `read_mdm_dict` through an allow-list that admits
only NumPy array reconstruction, and only when the user asks for format "mdm".
"""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mimicsim.errors import InputFileError

_NPY_MAGIC = b"\x93NUMPY"
_PICKLE_REFUSED = (
    "it holds a pickled Python object, and mimicsim does not unpickle files (unpickling can execute "
    "arbitrary code). The one exception is MDM's results.npy dict: if this is one and you trust where "
    "it came from, load it with format='mdm' (CLI: --format mdm), which unpickles it with an allow-list "
    "of NumPy types. Otherwise save plain arrays (np.save without objects, or the documented npz layout)"
)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_bytes(path: Path) -> bytes:
    """The file's bytes; a missing, unreadable or empty file is an `InputFileError`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a directory, not a motion file") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    if not data:
        raise InputFileError(path, "the file is empty")
    return data


def _header(path: Path, data: bytes) -> tuple[tuple[int, ...], np.dtype, int, bool]:
    """Shape, dtype, data offset and Fortran order of an .npy file's bytes."""
    if not data.startswith(_NPY_MAGIC):
        if data[:1] == b"\x80":
            raise InputFileError(path, _PICKLE_REFUSED)
        raise InputFileError(path, "not a NumPy .npy file (its first bytes are not the .npy magic string)")
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(
            version
        )
        if read_header is None:
            raise InputFileError(path, f".npy format version {version} is not supported (1.0 and 2.0 are)")
        shape, fortran, dtype = read_header(f)
    except (ValueError, SyntaxError, EOFError) as exc:
        raise InputFileError(path, f"malformed .npy header ({exc})") from None
    return tuple(shape), dtype, f.tell(), fortran


def read_npy(path: Path) -> np.ndarray:
    """A numeric array from an .npy file; pickles, junk and truncation are `InputFileError`s."""
    data = read_bytes(path)
    shape, dtype, offset, fortran = _header(path, data)
    if dtype.hasobject:
        raise InputFileError(path, _PICKLE_REFUSED)
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - offset < expected:
        raise InputFileError(
            path,
            f"truncated: the header promises a {shape} {dtype} array "
            f"({expected} bytes) but only {len(data) - offset} bytes follow",
        )
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise InputFileError(path, f"the array has dtype {dtype}; real numbers are expected")
    flat = np.frombuffer(data, dtype=dtype, count=int(np.prod(shape)), offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C").astype(np.float64)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz archive, refusing pickled members."""
    data = read_bytes(path)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise InputFileError(path, _PICKLE_REFUSED) from None
        raise InputFileError(path, f"malformed .npz archive ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        raise InputFileError(path, f"not a readable .npz archive ({exc})") from None


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles containers of NumPy arrays and nothing else."""

    _ALLOWED = {
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if name == "_reconstruct":
            return np._core.multiarray._reconstruct
        if name == "scalar":
            return np._core.multiarray.scalar
        return getattr(np, name)


def read_mdm_dict(path: Path) -> dict[str, Any]:
    """MDM's results.npy: an .npy holding one pickled dict of arrays, lists and numbers."""
    data = read_bytes(path)
    shape, dtype, offset, _ = _header(path, data)
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
