"""msgpack with raw numpy buffers: the framing every mimicsim socket speaks (the policy server, the
streaming retargeter).

Numpy arrays travel as raw buffers behind a dtype/shape header (msgpack extension type
`_NDARRAY_EXT`); only plain numeric and bool dtypes are accepted and the buffer length must match
the header, so decoding network input never runs code (no pickle anywhere).
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


def _decode_ext(code: int, payload: bytes) -> np.ndarray:
    if code != _NDARRAY_EXT:
        raise ValueError(f"unknown msgpack extension type {code}")
    dtype_str, shape, buffer = msgpack.unpackb(payload, raw=False)
    if not isinstance(dtype_str, str) or not isinstance(shape, list) or not isinstance(buffer, bytes):
        raise ValueError("malformed array header")
    dtype = np.dtype(dtype_str)
    if dtype.kind not in _ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"refusing array dtype {dtype_str!r} (only bool, int, uint, float)")
    if len(shape) > _MAX_NDIM or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError(f"malformed array shape {shape!r}")
    if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != len(buffer):
        raise ValueError(f"array buffer of {len(buffer)} bytes does not match dtype {dtype_str} and shape {shape}")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape).copy()


def pack(message: Any) -> bytes:
    """msgpack bytes for `message`; numpy arrays become raw buffers with a dtype/shape header."""
    return msgpack.packb(message, default=_encode_default, use_bin_type=True)


def unpack(data: bytes) -> Any:
    """Inverse of `pack`; raises ValueError (or a msgpack error) on anything malformed."""
    if not isinstance(data, bytes):
        raise ValueError("expected a binary frame, got text")
    return msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=_decode_ext)
