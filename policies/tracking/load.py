"""`load_tracker(path)`: a tracking policy from a training checkpoint (.npz, run with torch) or an
exported policy (.onnx, run with ONNX Runtime)."""

from __future__ import annotations

from pathlib import Path

from mimicsim.errors import InputFileError
from mimicsim.policies.tracking.checkpoint import read_checkpoint
from mimicsim.policies.tracking.tracker import OnnxTracker, Tracker


def load_tracker(path: str | Path) -> Tracker:
    """A tracking policy from a training checkpoint (.npz) or an exported ONNX file (.onnx)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such policy file (give a checkpoint .npz or an exported .onnx)")
    if path.suffix == ".onnx":
        return OnnxTracker(path)
    return read_checkpoint(path).tracker()
