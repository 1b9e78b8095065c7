"""The unfold-cloth expert."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mimicsim.policies.manipulation.experts.arm_ik import GRASP_POSTURE
from mimicsim.policies.manipulation.experts.grasp import OPEN, Waypoint, grasp_site_local
from mimicsim.policies.manipulation.experts.scripted import ScriptedExpert


class UnfoldExpert(ScriptedExpert):
    """Spread a once-folded cloth by dragging its top layer back over the crease.

    From the cloth's vertices (grid order) the expert finds the folded-over side (the boundary row
    lying highest is the top layer's free edge) and where that edge lies when the cloth is flat (the
    bottom layer does not move: the flat edge is a cloth length from the bottom layer's far edge,
    along the grid). It presses the straight fingertips, pointing down and lined up along the edge,
    onto the top layer just inside its free edge and drags it there: fingertip friction (1.5) holds
    the top layer, the layers slide on each other freely, and table friction keeps the bottom layer
    in place, so the fold rolls open like a towel's."""

    name = "unfold-expert"
    inset = 0.015  # press this far inside the free edge (m)
    press_height = 0.016  # fingertip centres this high: ~7 mm into the top layer (m)
    fingertips = np.array([0.265, 0.0, 0.004])  # the middle of the fingertip row, hand frame

    def plan(self, privileged: Mapping[str, np.ndarray], start: Waypoint) -> list[Waypoint]:
        vertices = privileged["cloth_vertices"]
        grid = round(np.sqrt(len(vertices)))
        free, toward_crease, flat_edge = folded_edge(vertices.reshape(grid, grid, 3))
        press = np.array([*(free + self.inset * toward_crease), self.press_height])
        spread = np.array([*(flat_edge - self.inset * toward_crease), self.press_height])
        R = self._press_rotation(toward_crease, (press, spread))
        above = np.array([0.0, 0.0, 0.08])
        travel = float(np.linalg.norm(spread - press))
        to_site = R @ (grasp_site_local() - self.fingertips)
        return [
            Waypoint(1.5, press + above + to_site, R, OPEN),
            Waypoint(0.3, press + above + to_site, R, OPEN),
            Waypoint(1.0, press + to_site, R, OPEN),
            Waypoint(max(2.0, travel / 0.1), spread + to_site, R, OPEN),
            Waypoint(0.8, spread + above + to_site, R, OPEN),
        ]

    def _press_rotation(self, toward_crease: np.ndarray, path: tuple[np.ndarray, ...]) -> np.ndarray:
        """Fingers pointing down, the fingertip row across the drag: of the two such hand
        orientations (palm facing back or forward), the one the arm holds more exactly at the
        fingertip positions `path`. (Held a few degrees off, a finger pokes through the cloth.)"""
        down = np.array([0.0, 0.0, -1.0])
        best, best_error = np.eye(3), np.inf
        for palm in (-1.0, 1.0):
            normal = np.array([palm * toward_crease[0], palm * toward_crease[1], 0.0])
            R = np.column_stack([down, normal, np.cross(down, normal)])
            q, error = np.asarray(GRASP_POSTURE), 0.0
            for fingertips in path:
                site = fingertips + R @ (grasp_site_local() - self.fingertips)
                q = self._ik.solve(q, site, R, iterations=60)
                position, rotation = self._ik.site_pose(q)
                error += float(np.linalg.norm(position - site) + np.linalg.norm(rotation - R))
            if error < best_error:
                best, best_error = R, error
        return best


def folded_edge(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a cloth folded once (vertices (n, n, 3) in grid order): the centre (x, y) of the top
    layer's free edge, the unit direction (x, y) from it towards the crease, and where the free
    edge's centre lies once the cloth is spread flat."""
    n = len(grid)
    sides = [grid[-1], grid[0], grid[:, -1], grid[:, 0]]  # a boundary row, then its opposite
    opposite = [(grid[0], grid[1]), (grid[-1], grid[-2]), (grid[:, 0], grid[:, 1]), (grid[:, -1], grid[:, -2])]
    top = int(np.argmax([row[:, 2].mean() for row in sides]))
    far, next_to_far = (row[:, :2].mean(axis=0) for row in opposite[top])
    along = next_to_far - far
    along /= np.linalg.norm(along)
    spacing = float(np.linalg.norm(grid[0, 1, :2] - grid[0, 0, :2]))
    flat_edge = far + (n - 1) * spacing * along
    return sides[top][:, :2].mean(axis=0), along, flat_edge
