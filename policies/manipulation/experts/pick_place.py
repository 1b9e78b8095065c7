"""The pick-place expert."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mimicsim.policies.manipulation.experts.grasp import (
    GRASP,
    GRASP_BELOW_TOP,
    OPEN,
    Waypoint,
    grasp_and_lift,
    grasp_site_local,
    held_pose,
    object_in_hand,
    side_grasp_rotation,
    site_for_object,
    support_half_width,
)
from mimicsim.policies.manipulation.experts.scripted import ScriptedExpert


class PickPlaceExpert(ScriptedExpert):
    """Power grasp from the side (see the module docstring), carry the object over the container,
    lower it onto the container's floor, open the hand and withdraw.

    The object settles a little in the hand as it is lifted (it slips down or turns by up to ~20
    degrees): once it is in the air the expert measures where it sits in the hand and re-plans the
    placing from there (`revise`), so the object is set down on the floor rather than dropped or held
    above it."""

    name = "pick-place-expert"
    lift = 0.14  # the object's bottom clears the bowl's 5 cm rim with room to spare (m)
    set_down = 0.005  # the object's lowest point stops this far above the container's floor (m)

    def plan(self, privileged: Mapping[str, np.ndarray], start: Waypoint) -> list[Waypoint]:
        pose = privileged["object_pose_wxyz"]
        half_size = privileged["object_half_size"]
        R = side_grasp_rotation(pose[:2])
        reach = support_half_width(half_size, bool(privileged["object_round"][0]), pose[3:], R[:, 0])
        in_hand = object_in_hand(reach, GRASP_BELOW_TOP)
        top = pose[:3] + np.array([0.0, 0.0, half_size[2]])
        site = site_for_object(top, R, in_hand)
        waypoints = grasp_and_lift(site, R, self.lift)
        self.revise_from = len(waypoints)
        planned = (in_hand - grasp_site_local() - np.array([0.0, 0.0, half_size[2]]), np.eye(3))
        return [*waypoints, *self._place(privileged, planned)]

    def revise(
        self, privileged: Mapping[str, np.ndarray], site_position: np.ndarray, site_rotation: np.ndarray
    ) -> list[Waypoint]:
        return self._place(privileged, held_pose(privileged["object_pose_wxyz"], site_position, site_rotation))

    def _place(self, privileged: Mapping[str, np.ndarray], held: tuple[np.ndarray, np.ndarray]) -> list[Waypoint]:
        """Carry the object (its centre and orientation in the grasp-site frame: `held`) over the
        container, set it down, let go and withdraw."""
        offset, turn = held
        half_size = privileged["object_half_size"]
        container = privileged["container_pos"]
        R = side_grasp_rotation(container[:2])
        axes = R @ turn
        if privileged["object_round"][0]:
            tilt = abs(axes[2, 2])
            drop = half_size[2] * tilt + half_size[0] * np.sqrt(max(0.0, 1.0 - tilt * tilt))
        else:
            drop = float(half_size @ np.abs(axes[2]))
        centre = np.array(
            [container[0], container[1], container[2] + float(privileged["container_floor"][0]) + drop + self.set_down]
        )
        place = centre - R @ offset
        up = np.array([0.0, 0.0, self.lift])
        away = place - 0.015 * R[:, 1]  # the palm off the object before the hand rises
        return [
            Waypoint(1.5, place + up, R, GRASP),
            Waypoint(0.8, place, R, GRASP),
            Waypoint(0.5, place, R, OPEN),
            Waypoint(0.3, away, R, OPEN),
            Waypoint(0.8, away + up, R, OPEN),
        ]
