"""Shared test fixtures. Real data from ../shared is used when present and skipped otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_MOTIONS = SHARED / "motions"
SHARED_ROBOTS = SHARED / "robots"


@pytest.fixture
def shared_motions() -> Path:
    if not SHARED_MOTIONS.is_dir():
        pytest.skip(f"real motion clips not available: {SHARED_MOTIONS} is absent")
    return SHARED_MOTIONS


@pytest.fixture
def shared_robots() -> Path:
    if not SHARED_ROBOTS.is_dir():
        pytest.skip(f"robot facts not available: {SHARED_ROBOTS} is absent")
    return SHARED_ROBOTS
