"""Tracking policies the repository ships (policies/pretrained/, ONNX + JSON metadata)."""

from __future__ import annotations

from pathlib import Path

from mimicsim.errors import ConfigError

PRETRAINED_DIR = Path(__file__).resolve().parent


def pretrained_policy(robot: str) -> Path:
    """The shipped policy tracking the demo clip on `robot` (see policies/pretrained/README.md for the
    command that trained it)."""
    path = PRETRAINED_DIR / f"tracker_{robot}_demo.onnx"
    if not path.is_file():
        raise ConfigError(
            f"no pretrained tracking policy for robot {robot!r} ({path} is missing); train one with "
            f"`mimicsim train-tracker` and pass it with --policy"
        )
    return path
