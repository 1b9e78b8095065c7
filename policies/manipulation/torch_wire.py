"""The Being-H0 / GR00T wire format: one `torch.save`'d Python object per ZeroMQ message.

The released servers and clients decode messages with `torch.load(weights_only=False)`, which
unpickles (and so may run) whatever the peer sends. Here decoding goes through torch's weights-only
unpickler with exactly one extension: NumPy arrays and scalars of plain numeric and bool dtypes (what
a peer on NumPy 1.x or 2.x pickles them as). Anything else in a message — a class, a function, an
object array — is refused before it is built, so a malicious peer cannot run code in this process.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np

# NumPy moved `numpy.core` to `numpy._core` in 2.0; a peer pickles under its own NumPy's names.
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
_ALLOWED_KINDS = "biuf"  # bool, signed and unsigned integers, floats: never objects, strings or voids
# Dtypes with a torch twin (native byte order only).
_TENSOR_DTYPES = frozenset(np.dtype(code) for code in ("?", "i1", "i2", "i4", "i8", "u1", "f2", "f4", "f8"))
_RAW_BYTES = 4096  # arrays at least this large travel as tensor storage (images), smaller ones as pickles


def _numpy_globals() -> list[Any]:
    multiarray = np._core.multiarray  # type: ignore[attr-defined]
    # `numpy.asarray` rebuilds the arrays `encode` sends as tensors (its arguments are themselves
    # built by the restricted unpickler, so it only ever converts tensors, numbers and lists).
    allowed: list[Any] = [np.ndarray, np.dtype, np.asarray]
    for module in _NUMPY_MODULES:
        allowed += [(multiarray._reconstruct, f"{module}._reconstruct"), (multiarray.scalar, f"{module}.scalar")]
    # Pickles of dtypes name their class (numpy.dtypes.Float32DType, ...) under NumPy >= 1.25.
    allowed += [type(np.dtype(code)) for code in "?bBhHiIlLqQefdg"]
    return allowed


class _ArrayFromTensor:
    """Pickles a large array as `numpy.asarray(<tensor>)`: the peer still unpickles an ndarray, but
    its bytes travel as a raw storage record of torch's file, where pickle protocol 2 (torch's)
    would turn them into a latin-1 string, transcoded both ways (~5 ms each for a 448 x 448 image)."""

    def __init__(self, array: np.ndarray):
        import torch

        self.tensor = torch.from_numpy(np.ascontiguousarray(array))

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return np.asarray, (self.tensor,)


def _tensor_backed(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.nbytes >= _RAW_BYTES and value.dtype in _TENSOR_DTYPES:
        return _ArrayFromTensor(value)
    if isinstance(value, dict):
        return {key: _tensor_backed(item) for key, item in value.items()}
    return value


def encode(message: Any) -> bytes:
    """`message` as the bytes `torch.save` writes (what the Being-H0 / GR00T peers read)."""
    import torch

    buffer = io.BytesIO()
    torch.save(_tensor_backed(message), buffer)
    return buffer.getvalue()


def decode(data: bytes) -> Any:
    """The object in a `torch.save`'d message, built by the weights-only unpickler with NumPy
    arrays allowed. Raises ValueError saying why a message is refused or malformed."""
    import torch

    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            message = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:  # UnpicklingError for a refused global; others for bytes that are no checkpoint
        raise ValueError(f"refused to decode the message ({type(exc).__name__}: {_reason(exc)})") from None
    _check_arrays(message)
    return message


def _reason(exc: Exception) -> str:
    """What torch's (long, advisory) message says was refused."""
    text = str(exc)
    if found := re.search(r"GLOBAL ([\w.]+)", text):
        return f"it names {found[1]}, which is not a NumPy array"
    if found := re.search(r"but got (<[^>]+>)", text):
        return f"it holds {found[1]}, which is not a plain NumPy array"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _check_arrays(value: Any, depth: int = 0) -> None:
    """Refuse arrays of object, string or structured dtypes anywhere in a decoded message."""
    if depth > 32:
        raise ValueError("the message nests deeper than 32 levels")
    if isinstance(value, (np.ndarray, np.generic)):
        if value.dtype.kind not in _ALLOWED_KINDS or value.dtype.fields is not None:
            raise ValueError(f"refused an array of dtype {value.dtype} (only bool, int, uint and float)")
    elif isinstance(value, dict):
        for item in value.values():
            _check_arrays(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_arrays(item, depth + 1)
