"""Task success and score as pure functions of positions, shared by the environments and tests.

- Cloth coverage (SoftGym's measure): the top-down area the cloth covers over the area the same
  cloth covers lying flat. Each vertex is padded to stand for its own grid cell (a flat cloth of
  n x n vertices spaced s apart covers (n s)^2, not ((n-1) s)^2 — without the padding a flat cloth
  would score almost nothing on a fine raster). The pad is a disc of radius s / sqrt(2), the circle
  around the vertex's s x s cell, so the measure does not depend on the cloth's yaw.
- Pour: the fraction of particles inside a cylindrical container, and how many were spilled on the
  table beyond a bound or off it.
- Pick-place: the object rests inside the target's region and the hand has let go.
"""

from __future__ import annotations

import numpy as np

# Raster cells per grid spacing for coverage; 4 keeps the flat-cloth error well below 1 %.
_COVERAGE_RASTER = 4


def covered_area(vertices_xy: np.ndarray, spacing: float) -> float:
    """Top-down area (m^2) covered by vertices padded by discs of radius spacing / sqrt(2)."""
    points = np.asarray(vertices_xy, dtype=np.float64)[:, :2]
    cell = spacing / _COVERAGE_RASTER
    radius = spacing / np.sqrt(2.0)
    reach = int(np.ceil(radius / cell))
    offsets = np.arange(-reach, reach + 1)
    dx, dy = np.meshgrid(offsets, offsets, indexing="ij")
    # Raster cells whose centre lies within the pad radius of the vertex's own cell centre.
    inside = (dx * cell) ** 2 + (dy * cell) ** 2 <= radius**2
    stencil = np.stack([dx[inside], dy[inside]], axis=-1)
    origin = points.min(axis=0) - (reach + 1) * cell
    centres = np.floor((points - origin) / cell).astype(np.int64)
    cells = (centres[:, None, :] + stencil[None, :, :]).reshape(-1, 2)
    width = int(cells[:, 1].max()) + 1
    unique = np.unique(cells[:, 0] * width + cells[:, 1])
    return float(unique.size * cell * cell)


def flat_cloth_area(grid_shape: tuple[int, int], spacing: float) -> float:
    """`covered_area` of the same cloth lying flat: the reference that scores 1.0."""
    rows, cols = grid_shape
    ii, jj = np.meshgrid(np.arange(rows) * spacing, np.arange(cols) * spacing, indexing="ij")
    return covered_area(np.stack([ii.ravel(), jj.ravel()], axis=-1), spacing)


def cloth_coverage(vertices: np.ndarray, grid_shape: tuple[int, int], spacing: float) -> float:
    """Coverage in [0, 1] of a cloth with `grid_shape` vertices `spacing` apart (vertices: (N, 2|3))."""
    return min(1.0, covered_area(vertices, spacing) / flat_cloth_area(grid_shape, spacing))


def inside_cylinder(
    points: np.ndarray, centre_xy: np.ndarray, radius: float, z_low: float, z_high: float
) -> np.ndarray:
    """Boolean mask of points (N, 3) inside an upright cylinder."""
    points = np.asarray(points, dtype=np.float64)
    planar = np.linalg.norm(points[:, :2] - np.asarray(centre_xy, dtype=np.float64)[:2], axis=1)
    return (planar <= radius) & (points[:, 2] >= z_low) & (points[:, 2] <= z_high)


def pour_fraction(particles: np.ndarray, centre_xy: np.ndarray, radius: float, z_low: float, z_high: float) -> float:
    """Fraction of particles inside the target container (an upright cylinder)."""
    particles = np.asarray(particles, dtype=np.float64)
    return float(inside_cylinder(particles, centre_xy, radius, z_low, z_high).mean())


def spilled_count(particles: np.ndarray, centre_xy: np.ndarray, bound: float, z_rest: float, z_floor: float) -> int:
    """Spilled particles: resting on the table (centre below `z_rest`) farther than `bound`
    (horizontally) from the target's centre, or fallen off the table (below `z_floor`). Particles
    still in the cup or held above the table are not spilled."""
    particles = np.asarray(particles, dtype=np.float64)
    planar = np.linalg.norm(particles[:, :2] - np.asarray(centre_xy, dtype=np.float64)[:2], axis=1)
    z = particles[:, 2]
    return int(np.count_nonzero((z < z_floor) | ((z < z_rest) & (planar > bound))))


def pick_place_success(
    object_pos: np.ndarray, target_xy: np.ndarray, target_radius: float, max_height: float, released: bool
) -> bool:
    """The object's centre lies within `target_radius` of the target (horizontally), no higher than
    `max_height` (it rests there rather than hovering above it), and the hand is not touching it."""
    object_pos = np.asarray(object_pos, dtype=np.float64)
    planar = float(np.linalg.norm(object_pos[:2] - np.asarray(target_xy, dtype=np.float64)[:2]))
    return bool(released and planar <= target_radius and object_pos[2] <= max_height)


def progress_score(distance: float, initial_distance: float) -> float:
    """1 at the target, 0 at (or beyond) the starting distance, linear in between."""
    if initial_distance <= 0.0:
        return 1.0
    return float(np.clip(1.0 - distance / initial_distance, 0.0, 1.0))
