"""Task metrics as pure functions: coverage, pour fraction and spill, pick-place success."""

from __future__ import annotations

import numpy as np
import pytest

from mimicsim.envs.manipulation.metrics import (
    cloth_coverage,
    pick_place_success,
    pour_fraction,
    progress_score,
    spilled_count,
)
from mimicsim.envs.manipulation.unfold import GRID, SPACING, folded_grid


def _flat(yaw: float) -> np.ndarray:
    u, v = np.meshgrid(np.arange(GRID) * SPACING, np.arange(GRID) * SPACING, indexing="ij")
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([c * u.ravel() - s * v.ravel() + 0.3, s * u.ravel() + c * v.ravel() - 0.1], axis=-1)


@pytest.mark.parametrize("yaw", [0.0, 0.3, np.pi / 4, 1.2])
def test_flat_cloth_covers_almost_everything_at_any_yaw(yaw):
    assert 0.95 <= cloth_coverage(_flat(yaw), (GRID, GRID), SPACING) <= 1.0


def test_crumpled_cloth_covers_little():
    rng = np.random.default_rng(0)
    crumpled = rng.normal(scale=0.04, size=(GRID * GRID, 2)) + [0.5, 0.0]
    assert cloth_coverage(crumpled, (GRID, GRID), SPACING) < 0.6


def test_folded_in_half_covers_about_half():
    folded = folded_grid(side=2, fraction=0.5, yaw=0.4, centre=np.array([0.5, 0.0]))
    assert 0.45 < cloth_coverage(folded, (GRID, GRID), SPACING) < 0.65
    # The fold keeps every edge length (the crease is a semicircle of the layer thickness).
    grid = folded.reshape(GRID, GRID, 3)
    edges = np.linalg.norm(np.diff(grid, axis=0), axis=-1)
    assert np.allclose(edges, SPACING, atol=2e-3)


def test_pour_fraction_is_exact_on_synthetic_particles():
    inside = np.column_stack([np.full(30, 0.51), np.full(30, 0.2), np.linspace(0.01, 0.05, 30)])
    outside_radius = np.column_stack([np.full(50, 0.7), np.full(50, 0.2), np.full(50, 0.02)])
    above = np.column_stack([np.full(20, 0.5), np.full(20, 0.2), np.full(20, 0.3)])
    particles = np.concatenate([inside, outside_radius, above])
    assert pour_fraction(particles, np.array([0.5, 0.2]), 0.08, 0.0, 0.08) == pytest.approx(0.3, abs=0)


def test_spill_counts_only_particles_resting_beyond_the_bound_or_off_the_table():
    centre = np.array([0.5, 0.2])
    particles = np.array(
        [
            [0.5, 0.2, 0.005],  # in the target
            [0.5, -0.2, 0.03],  # still in the cup, far away: not spilled
            [0.9, 0.2, 0.005],  # on the table beyond the bound: spilled
            [0.6, 0.2, 0.005],  # on the table inside the bound: tolerated
            [0.5, 0.2, -0.5],  # fell off the table: spilled
        ]
    )
    assert spilled_count(particles, centre, bound=0.2, z_rest=0.007, z_floor=-0.01) == 2


def test_pick_place_success_flips_when_the_object_leaves_the_region():
    target = np.array([0.5, 0.2, 0.0])
    assert pick_place_success(np.array([0.52, 0.21, 0.06]), target, 0.07, 0.1, released=True)
    assert not pick_place_success(np.array([0.60, 0.21, 0.06]), target, 0.07, 0.1, released=True)
    assert not pick_place_success(np.array([0.52, 0.21, 0.06]), target, 0.07, 0.1, released=False)
    assert not pick_place_success(np.array([0.52, 0.21, 0.20]), target, 0.07, 0.1, released=True)


def test_progress_score():
    assert progress_score(0.0, 0.4) == 1.0
    assert progress_score(0.2, 0.4) == pytest.approx(0.5)
    assert progress_score(0.6, 0.4) == 0.0
