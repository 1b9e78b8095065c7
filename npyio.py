"""Reading NumPy files from untrusted sources: `.npy` and `.npz` without unpickling, and without
allocating more memory than the file holds.

Unpickling runs arbitrary code, so a pickled object is an error (the one documented exception,
MDM's results.npy, is read through an allow-list in `retarget.human.formats.mdm`). Every array's
header is checked against the bytes that really follow before anything is allocated, so a header
claiming terabytes, or a shape whose product overflows, is refused at once.
"""

from __future__ import annotations

import hashlib
import io
import math
import typing
import zipfile
from collections.abc import Callable, Collection
from pathlib import Path
from typing import IO

import numpy as np

from mimicsim.errors import InputFileError

_NPY_MAGIC = b"\x93NUMPY"
MAX_NPZ_BYTES = 2 * 2**30
"""Largest total size of the arrays in an .npz mimicsim reads (a zip can promise far more than it holds)."""
PICKLE_REFUSED = (
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
        raise InputFileError(path, "is a directory, not a file") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    if not data:
        raise InputFileError(path, "the file is empty")
    return data


def _read_header(where: str | Path, stream: IO[bytes]) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """Shape, dtype, Fortran order and data size (bytes) from an .npy header."""
    magic = stream.read(len(_NPY_MAGIC))
    if magic != _NPY_MAGIC:
        if magic[:1] == b"\x80":
            raise InputFileError(where, PICKLE_REFUSED)
        raise InputFileError(where, "not a NumPy .npy file (its first bytes are not the .npy magic string)")
    try:
        version = tuple(stream.read(2))
        readers: dict[tuple[int, ...], Callable[[IO[bytes]], tuple]] = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }
        reader = readers.get(version)
        if reader is None:
            raise InputFileError(where, f".npy format version {version} is not supported (1.0 and 2.0 are)")
        shape, fortran, dtype = reader(stream)
    except (ValueError, SyntaxError, EOFError, TypeError) as exc:
        raise InputFileError(where, f"malformed .npy header ({exc})") from None
    if any(not isinstance(n, int) or n < 0 for n in shape):
        raise InputFileError(where, f"malformed .npy header (shape {shape})")
    size = math.prod(shape) * dtype.itemsize  # Python integers: no overflow
    return tuple(shape), dtype, fortran, size


def npy_header(path: Path, data: bytes) -> tuple[tuple[int, ...], np.dtype, int, bool]:
    """Shape, dtype, data offset and Fortran order of an .npy file's bytes; a header promising more
    data than follows is refused."""
    stream = io.BytesIO(data)
    shape, dtype, fortran, size = _read_header(path, stream)
    offset = stream.tell()
    if not dtype.hasobject and len(data) - offset < size:
        raise InputFileError(
            path,
            f"truncated: the header promises a {shape} {dtype} array ({size} bytes) but only "
            f"{len(data) - offset} bytes follow",
        )
    return shape, dtype, offset, fortran


def read_npy(path: Path) -> np.ndarray:
    """A real-valued array (as float64) from an .npy file; pickles, junk and truncation are
    `InputFileError`s."""
    data = read_bytes(path)
    shape, dtype, offset, fortran = npy_header(path, data)
    if dtype.hasobject:
        raise InputFileError(path, PICKLE_REFUSED)
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise InputFileError(path, f"the array has dtype {dtype}; real numbers are expected")
    flat = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C").astype(np.float64)


def read_npz(path: Path, keys: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """Every array of an .npz archive (or only those named in `keys`: the others, which may hold
    anything, are not read), each checked before it is read: no pickles, no array larger than its
    member of the archive, at most `MAX_NPZ_BYTES` in all."""
    data = read_bytes(path)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [
            m
            for m in archive.infolist()
            if not m.is_dir() and (keys is None or m.filename.removesuffix(".npy") in keys)
        ]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise InputFileError(path, f"not an .npz archive ({exc})") from None
    declared = sum(m.file_size for m in members)
    if declared > MAX_NPZ_BYTES:
        raise InputFileError(
            path,
            f"the archive unpacks to {declared / 2**30:.1f} GiB, more than the "
            f"{MAX_NPZ_BYTES / 2**30:.0f} GiB mimicsim reads",
        )
    arrays = {}
    for member in members:
        where = f"{path} [{member.filename}]"
        try:
            with archive.open(member) as stream:
                shape, dtype, fortran, size = _read_header(where, stream)
                if dtype.hasobject:
                    raise InputFileError(path, PICKLE_REFUSED)
                if size > member.file_size:
                    raise InputFileError(
                        where, f"truncated: the header promises {size} bytes, the member holds {member.file_size}"
                    )
                body = bytearray(size)  # filled in place: the array owns it, writable, no second copy
                got = typing.cast(io.BufferedIOBase, stream).readinto(body)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise InputFileError(path, f"a damaged .npz archive ({exc})") from None
        if got < size:
            raise InputFileError(where, f"truncated: {got} of {size} bytes")
        flat = np.frombuffer(body, dtype=dtype) if dtype.itemsize else np.zeros(math.prod(shape), dtype)
        arrays[member.filename.removesuffix(".npy")] = flat.reshape(shape, order="F" if fortran else "C")
    return arrays
