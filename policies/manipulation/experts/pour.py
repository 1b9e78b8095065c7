"""The pour expert."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.spatial.transform import Rotation

from mimicsim.policies.manipulation.experts.grasp import (
    GRASP,
    GRASP_BELOW_TOP,
    Waypoint,
    grasp_and_lift,
    grasp_site_local,
    held_pose,
    object_in_hand,
    side_grasp_rotation,
    site_for_object,
)
from mimicsim.policies.manipulation.experts.scripted import ScriptedExpert


class PourExpert(ScriptedExpert):
    """Power grasp on the cup like a pick-place object (the fingers stay under its rim), lift it over
    the bowl's rim, bring its mouth above the bowl and tilt it slowly by 120 degrees, then hold.

    The cup settles a little in the hand as it is lifted (it turns up to ~25 degrees): once it is in
    the air the expert measures where it sits in the hand and re-plans the pour from there (`revise`),
    so the mouth ends up where planned.

    The tilt turns the cup's mouth towards the fingertips and away from the palm until it points 30
    degrees below the horizon, so every bead rolls out; the Panda turns the hand that way with every
    joint > 0.5 rad from its limits (turned straight away from the palm, its last joint would run
    into its limit at 90 degrees)."""

    name = "pour-expert"
    below_top = GRASP_BELOW_TOP
    tilt_axis = np.array([0.5, -np.sqrt(3) / 2, 0.0])  # hand frame
    tilt = np.radians(-120.0)
    mouth_above_rim = 0.06  # the mouth pours from this high above the bowl's rim (m)
    mouth_before_centre = 0.02  # beads leave the mouth moving on: pour short of the centre (m)

    def plan(self, privileged: Mapping[str, np.ndarray], start: Waypoint) -> list[Waypoint]:
        cup = privileged["cup_pose_wxyz"][:3]
        cup_radius, cup_height = privileged["cup_size"]
        in_hand = object_in_hand(float(cup_radius), self.below_top)
        R = side_grasp_rotation(cup[:2])
        site = site_for_object(cup + np.array([0.0, 0.0, cup_height]), R, in_hand)
        # Planned with the cup where the grasp should leave it; `revise` corrects for where it is.
        cup_in_site = (in_hand - grasp_site_local() - np.array([0.0, 0.0, cup_height]), np.eye(3))
        pour = self._pour(privileged, cup_in_site)
        lift = pour[0].position[2] - site[2]
        waypoints = grasp_and_lift(site, R, lift)
        self.revise_from = len(waypoints)
        return [*waypoints, *pour]

    def revise(
        self, privileged: Mapping[str, np.ndarray], site_position: np.ndarray, site_rotation: np.ndarray
    ) -> list[Waypoint]:
        return self._pour(privileged, held_pose(privileged["cup_pose_wxyz"], site_position, site_rotation))

    def _pour(self, privileged: Mapping[str, np.ndarray], cup_in_site: tuple[np.ndarray, np.ndarray]) -> list[Waypoint]:
        """Carry the cup (held at `cup_in_site`: its origin and orientation in the grasp-site frame)
        over the bowl, tilt it until its mouth points the planned way, hold."""
        offset, turn = cup_in_site
        cup_height = float(privileged["cup_size"][1])
        bowl = privileged["bowl_pos"]
        bowl_height = float(privileged["bowl_size"][1])
        upright = side_grasp_rotation(bowl[:2])
        planned = upright @ Rotation.from_rotvec(self.tilt_axis * self.tilt).as_matrix()
        stream = planned[:, 2]  # where a cup held as planned would point its mouth
        # Turn the planned hand orientation by the least rotation that points the held cup's axis
        # along `stream`.
        axis = planned @ turn[:, 2]
        correction = Rotation.align_vectors([stream], [axis])[0].as_matrix()
        tilted = correction @ planned
        mouth_in_site = offset + turn @ np.array([0.0, 0.0, cup_height])
        horizontal = stream[:2] / np.linalg.norm(stream[:2])
        mouth = np.array(
            [*(bowl[:2] - self.mouth_before_centre * horizontal), bowl[2] + bowl_height + self.mouth_above_rim]
        )
        pivot = mouth - tilted @ mouth_in_site
        # Upright, the cup hangs below the same pivot: lift it clear of the rim first.
        bottom_below_pivot = -(upright @ offset)[2]
        above = pivot.copy()
        above[2] = max(pivot[2], bowl[2] + bowl_height + bottom_below_pivot + 0.03)
        return [
            Waypoint(1.5, above, upright, GRASP),
            Waypoint(2.5, pivot, tilted, GRASP),
            Waypoint(3.0, pivot, tilted, GRASP),
        ]
