"""msgpack with raw numpy buffers: the framing every mimicsim socket speaks (the policy server, the
streaming retargeter), and the one openpi-style policy servers speak.

mimicsim's convention (`pack`/`unpack`): numpy arrays travel as raw buffers behind a dtype/shape
header (msgpack extension type `_NDARRAY_EXT`).

openpi's convention (`pack_msgpack_numpy`/`unpack_msgpack_numpy`, as `openpi_client.msgpack_numpy`
encodes): an array is a map with the bytes keys `__ndarray__` (true), `data` (the C-order buffer),
`dtype` (numpy's dtype string, e.g. "<f4") and `shape`; a numpy scalar is a map with
`__npgeneric__`, `data` (the Python value) and `dtype`.

Both decoders accept only plain numeric and bool dtypes and check that the buffer length matches the
header before building the array, so decoding network input never runs code (no pickle anywhere)
and never allocates more than the message holds.
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

_NDARRAY_EXT = 1
_ALLOWED_KINDS = "biuf"  # bool, signed and unsigned integers, floats: never objects, strings or voids
_MAX_NDIM = 32


def _encode_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _ALLOWED_KINDS:
            raise TypeError(f"cannot send a numpy array of dtype {obj.dtype} (only bool, int, uint, float)")
        header = [obj.dtype.str, list(obj.shape)]
        return msgpack.ExtType(_NDARRAY_EXT, msgpack.packb([*header, np.ascontiguousarray(obj).tobytes()]))
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot send an object of type {type(obj).__name__}")


def _safe_dtype(dtype_str: Any) -> np.dtype:
    if not isinstance(dtype_str, str):
        raise ValueError(f"malformed array dtype {dtype_str!r}")
    try:
        dtype = np.dtype(dtype_str)
    except Exception as exc:  # numpy's dtype parser raises TypeError, ValueError, even SyntaxError
        raise ValueError(f"refusing array dtype {dtype_str!r} ({type(exc).__name__})") from None
    if dtype.kind not in _ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"refusing array dtype {dtype_str!r} (only bool, int, uint, float)")
    return dtype


def _array(dtype_str: Any, shape: Any, buffer: Any) -> np.ndarray:
    """A writable copy of `buffer` as an array, after checking the header against the buffer."""
    dtype = _safe_dtype(dtype_str)
    if not isinstance(shape, list) or not isinstance(buffer, bytes):
        raise ValueError("malformed array header")
    if len(shape) > _MAX_NDIM or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError(f"malformed array shape {shape!r}")
    # Python ints: a product of huge dimensions cannot overflow into a small, matching number.
    size = dtype.itemsize
    for n in shape:
        size *= n
    if size != len(buffer):
        raise ValueError(f"array buffer of {len(buffer)} bytes does not match dtype {dtype_str} and shape {shape}")
    try:
        return np.frombuffer(buffer, dtype=dtype).reshape(shape).copy()
    except ValueError:  # an empty array whose other dimensions overflow numpy's size
        raise ValueError(f"malformed array shape {shape!r}") from None


def _decode_ext(code: int, payload: bytes) -> np.ndarray:
    if code != _NDARRAY_EXT:
        raise ValueError(f"unknown msgpack extension type {code}")
    header = msgpack.unpackb(payload, raw=False)
    if not isinstance(header, list) or len(header) != 3:
        raise ValueError("malformed array header")
    return _array(*header)


def _encode_msgpack_numpy(obj: Any) -> Any:
    if isinstance(obj, (np.ndarray, np.generic)) and obj.dtype.kind not in _ALLOWED_KINDS:
        raise TypeError(f"cannot send a numpy value of dtype {obj.dtype} (only bool, int, uint, float)")
    if isinstance(obj, np.ndarray):
        data = np.ascontiguousarray(obj).tobytes()
        return {b"__ndarray__": True, b"data": data, b"dtype": obj.dtype.str, b"shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    raise TypeError(f"cannot send an object of type {type(obj).__name__}")


def _decode_msgpack_numpy(obj: dict[Any, Any]) -> Any:
    if b"__ndarray__" in obj:
        if set(obj) != {b"__ndarray__", b"data", b"dtype", b"shape"}:
            raise ValueError("malformed msgpack-numpy array: expected keys __ndarray__, data, dtype, shape")
        return _array(obj[b"dtype"], obj[b"shape"], obj[b"data"])
    if b"__npgeneric__" in obj:
        if set(obj) != {b"__npgeneric__", b"data", b"dtype"} or not isinstance(obj[b"data"], (bool, int, float)):
            raise ValueError("malformed msgpack-numpy scalar: expected keys __npgeneric__, data (a number), dtype")
        try:
            with np.errstate(over="raise"):
                return _safe_dtype(obj[b"dtype"]).type(obj[b"data"])
        except (OverflowError, FloatingPointError) as exc:
            raise ValueError(f"malformed msgpack-numpy scalar: {exc}") from None
    return obj


def pack(message: Any) -> bytes:
    """msgpack bytes for `message`; numpy arrays become raw buffers with a dtype/shape header."""
    return msgpack.packb(message, default=_encode_default, use_bin_type=True)


def unpack(data: bytes) -> Any:
    """Inverse of `pack`; raises ValueError (or a msgpack error) on anything malformed."""
    return _unpack(data, ext_hook=_decode_ext)


def pack_msgpack_numpy(message: Any) -> bytes:
    """msgpack bytes for `message` in openpi's convention (see the module docstring)."""
    return msgpack.packb(message, default=_encode_msgpack_numpy, use_bin_type=True)


def unpack_msgpack_numpy(data: bytes) -> Any:
    """Inverse of `pack_msgpack_numpy`; raises ValueError (or a msgpack error) on anything malformed."""
    return _unpack(data, object_hook=_decode_msgpack_numpy)


def unpack_either(data: bytes) -> Any:
    """Decodes arrays in either convention: for a first message, before the peer's is known."""
    return _unpack(data, ext_hook=_decode_ext, object_hook=_decode_msgpack_numpy)


def _unpack(data: bytes, **hooks: Any) -> Any:
    if not isinstance(data, bytes):
        raise ValueError("expected a binary frame, got text")
    return msgpack.unpackb(data, raw=False, strict_map_key=True, **hooks)
