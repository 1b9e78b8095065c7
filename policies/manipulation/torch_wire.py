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


def _numpy_globals() -> list[Any]:
    multiarray = np._core.multiarray  # type: ignore[attr-defined]
    allowed: list[Any] = [np.ndarray, np.dtype]
    for module in _NUMPY_MODULES:
        allowed += [(multiarray._reconstruct, f"{module}._reconstruct"), (multiarray.scalar, f"{module}.scalar")]
    # Pickles of dtypes name their class (numpy.dtypes.Float32DType, ...) under NumPy >= 1.25.
    allowed += [type(np.dtype(code)) for code in "?bBhHiIlLqQefdg"]
    return allowed


def encode(message: Any) -> bytes:
    """`message` as the bytes `torch.save` writes (what the Being-H0 / GR00T peers read)."""
    import torch

    buffer = io.BytesIO()
    torch.save(message, buffer)
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
