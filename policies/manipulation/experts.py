"""Scripted experts for the manipulation tasks, speaking the policy protocol.

Each expert reads the task's ground truth from `obs["privileged"]` (so its environment must be made
with `privileged=True`; its metadata says so), plans a short list of grasp-site waypoints (position,
orientation, hand closure) from the first observation of the episode, and follows it: the pose at
every control step is interpolated along the plan and turned into Panda joint targets by mink's
differential IK on the robot alone (warm-started from the previous solution), the hand closure is
scripted. Actions are Being-H0's 13-D absolute joint targets. `infer` returns the next
`action_horizon` actions from the plan, indexed by `obs["privileged"]["step"]`, so a wrapper may
execute any number k <= H of them before asking again.

The grasp is a power grasp from the side: fingers level, thumb side up, the palm facing the object.
The hand comes down beside the object with the thumb already rotated into the palm (thumb rotation
first: rotated later it would sweep through the object), so the thumb stands just behind the object
and the fingers lie open beyond it; then the fingers curl round the object's far side and the thumb
bends, pressing it into the fingers. Measured with a free-floating hand: upright cylinders 4.4-5 cm
across hold with their axis anywhere in a 1.5 cm square around the chosen point and lift 0.15 m
slipping less than 2 cm (with MuJoCo's default friction cone they slip out: the environments use an
elliptic cone with impratio 10). Why this pose: the Inspire hand sticks out 0.21 m from the flange,
and with the flange level near the table only this yaw of the hand (the fingers 45 degrees to the
left of the line from the robot's base to the object) keeps the Panda more than 0.35 rad from every
joint limit and its wrist off the table across the whole workspace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mink
import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from mimicsim.assets.franka_inspire import GRASP_SITE, HOME_ARM_QPOS, franka_inspire_spec, inspire_hand_spec
from mimicsim.assets.hand_mapping import ACTION_DIM, ARM_DIM, BEING_H0_HAND_ORDER
from mimicsim.envs.manipulation.base import CONTROL_HZ
from mimicsim.errors import ConfigError
from mimicsim.policies.manipulation.protocol import Policy

# Hand closures (0 open .. 1 closed) per driver, by name.
OPEN = {"thumb_yaw": 0.0, "thumb_pitch": 0.0, "index": 0.0, "middle": 0.0, "ring": 0.0, "pinky": 0.0}
THUMB_IN = {**OPEN, "thumb_yaw": 1.0}  # pre-shape: the thumb rotated in front of the palm
CURLED = {**THUMB_IN, "index": 1.0, "middle": 1.0, "ring": 1.0, "pinky": 1.0}
GRASP = {**CURLED, "thumb_pitch": 1.0}

# The hand frame: x along the fingers, y out of the palm, z thumb side. The IK drives the hand
# model's grasp site; where it sits in that frame:
GRASP_SITE_LOCAL = inspire_hand_spec().compile().site("grasp").pos.copy()
THUMB_FRONT = 0.18  # the rotated thumb reaches x = 0.174: the object's near side stays beyond it (m)
THUMB_CLEARANCE = 0.025  # the hand comes down this much further back, clear of the object (m)
OBJECT_Y = 0.062  # the object's axis in front of the palm (m); 0.055-0.07 hold
GRASP_BELOW_TOP = 0.045  # the hand's z = 0 plane this far below the object's top (m)
HAND_YAW_OFFSET = np.radians(45.0)  # fingers this far left of the line from the base to the object
# Nullspace posture for the IK: holds the side grasp mid-workspace far from every joint limit.
GRASP_POSTURE = (-0.15, 0.777, -0.262, -2.131, 2.048, 1.519, -2.051)
READY_POSITION = (0.5, 0.0, 0.3)


def hand_vector(closure: Mapping[str, float]) -> np.ndarray:
    """Closures by driver name -> the 6 hand values in Being-H0's order."""
    return np.array([closure[name] for name in BEING_H0_HAND_ORDER])


def side_grasp_rotation(xy: np.ndarray) -> np.ndarray:
    """Grasp-site orientation for an object at `xy`: fingers level, thumb side up, palm facing it."""
    yaw = np.arctan2(xy[1], xy[0]) + HAND_YAW_OFFSET
    return Rotation.from_euler("z", yaw).as_matrix()


def support_half_width(
    half_size: np.ndarray, round_: bool, object_quat_wxyz: np.ndarray, direction: np.ndarray
) -> float:
    """How far an upright object (a cylinder if `round_`, else a box of `half_size`) reaches from its
    axis along the horizontal `direction`."""
    if round_:
        return float(half_size[0])
    axes = Rotation.from_quat(object_quat_wxyz, scalar_first=True).as_matrix()
    return float(half_size[0] * abs(axes[:, 0] @ direction) + half_size[1] * abs(axes[:, 1] @ direction))


def object_in_hand(reach_along_fingers: float, below_top: float) -> np.ndarray:
    """Where a grasped upright object's top centre sits in the hand frame: its near side just beyond
    the rotated thumb (it reaches `reach_along_fingers` from its axis along the fingers), its axis
    in front of the palm, its top `below_top` above the hand's z = 0 plane."""
    return np.array([THUMB_FRONT + reach_along_fingers, OBJECT_Y, below_top])


def site_for_object(top_centre: np.ndarray, rotation: np.ndarray, in_hand: np.ndarray) -> np.ndarray:
    """Grasp-site position (world) that puts an object whose top centre is at `top_centre` (world)
    at `in_hand` (hand frame) for a hand with orientation `rotation`."""
    return top_centre - rotation @ (in_hand - GRASP_SITE_LOCAL)


@dataclass(frozen=True)
class Waypoint:
    """Reach `position`/`rotation` (grasp site, world frame) and `hand` closures by the end of
    `duration` seconds, moving smoothly from the previous waypoint."""

    duration: float
    position: np.ndarray
    rotation: np.ndarray
    hand: Mapping[str, float]


class ArmIK:
    """mink differential IK for the grasp site on the bare robot model (no scene)."""

    def __init__(self, iterations: int = 6, dt: float = 0.05) -> None:
        model = franka_inspire_spec().compile()
        self._configuration = mink.Configuration(model)
        self._task = mink.FrameTask(GRASP_SITE, "site", position_cost=1.0, orientation_cost=0.5, lm_damping=1e-3)
        self._posture = mink.PostureTask(model, cost=1e-3)
        self._limits = [mink.ConfigurationLimit(model)]
        q = model.qpos0.copy()
        q[:ARM_DIM] = GRASP_POSTURE
        self._posture.set_target(q)
        self._iterations = iterations
        self._dt = dt

    def solve(
        self, q_arm: np.ndarray, position: np.ndarray, rotation: np.ndarray, iterations: int | None = None
    ) -> np.ndarray:
        """Arm joint angles that bring the grasp site to the pose, starting from `q_arm`."""
        q = self._configuration.q.copy()
        q[:ARM_DIM] = q_arm
        self._configuration.update(q)
        target = mink.SE3.from_rotation_and_translation(mink.SO3.from_matrix(rotation), position)
        self._task.set_target(target)
        for _ in range(iterations or self._iterations):
            velocity = mink.solve_ik(
                self._configuration, [self._task, self._posture], self._dt, "daqp", damping=1e-3, limits=self._limits
            )
            self._configuration.integrate_inplace(velocity, self._dt)
        return self._configuration.q[:ARM_DIM].copy()

    def site_pose(self, q_arm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = self._configuration.q.copy()
        q[:ARM_DIM] = q_arm
        self._configuration.update(q)
        pose = self._configuration.get_transform_frame_to_world(GRASP_SITE, "site")
        return pose.translation(), pose.rotation().as_matrix()


class ScriptedExpert(Policy):
    """Follows a waypoint plan made from the episode's first observation; subclasses plan."""

    name = "expert"
    ready_rotation = side_grasp_rotation(np.array(READY_POSITION[:2]))

    def __init__(self, action_horizon: int = 4) -> None:
        if action_horizon < 1:
            raise ConfigError(f"action_horizon must be >= 1, got {action_horizon}")
        self.action_horizon = action_horizon
        self._ik = ArmIK()
        self.reset()

    def reset(self) -> None:
        self._times: np.ndarray | None = None
        self.revise_from: int | None = None
        self._revise_at: int | None = None
        self._plan: list[Waypoint] = []
        self._q_arm = np.asarray(HOME_ARM_QPOS, dtype=np.float64)

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": "2",
            "action_horizon": self.action_horizon,
            "action_dim": ACTION_DIM,
            "cameras": [],
            "image_size": None,
            "privileged": True,
        }

    def plan(self, privileged: Mapping[str, np.ndarray], start: Waypoint) -> list[Waypoint]:
        """Waypoints after `start` (the ready pose above the workspace). A subclass that wants to
        correct the rest of its plan once it sees how the object sits in the hand sets
        `self.revise_from` to the index (in the returned list) of the first waypoint to redo."""
        raise NotImplementedError

    def revise(
        self, privileged: Mapping[str, np.ndarray], site_position: np.ndarray, site_rotation: np.ndarray
    ) -> list[Waypoint]:
        """The waypoints from `revise_from` on, remade when their time comes, from the current
        ground truth and the measured grasp-site pose."""
        raise NotImplementedError

    def infer(self, obs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if "privileged" not in obs:
            raise ConfigError("scripted experts read obs['privileged']: make the env with privileged=True")
        privileged = obs["privileged"]
        step = int(privileged["step"][0])
        if self._times is None or step == 0:
            self._start_plan(privileged, np.asarray(obs["state"][:ARM_DIM], dtype=np.float64))
        assert self._times is not None
        if self._revise_at is not None and step / CONTROL_HZ >= self._times[self._revise_at - 1]:
            site = self._ik.site_pose(np.asarray(obs["state"][:ARM_DIM], dtype=np.float64))
            self._plan[self._revise_at :] = self.revise(privileged, *site)
            self._times = np.cumsum([w.duration for w in self._plan])
            self._revise_at = None
        actions = np.empty((self.action_horizon, ACTION_DIM))
        for i in range(self.action_horizon):
            t = (step + i) / CONTROL_HZ
            position, rotation, hand, s = self._interpolate(t)
            if t < self._times[1]:
                # The first move is made in joint space, into the IK's preferred posture: a Cartesian
                # path from an arbitrary start can sweep the arm through a reconfiguration.
                self._q_arm = (1 - s) * self._q_start + s * self._q_first
            else:
                self._q_arm = self._ik.solve(self._q_arm, position, rotation)
            actions[i] = np.concatenate([self._q_arm, hand_vector(hand)])
        return {"actions": actions}

    def _start_plan(self, privileged: Mapping[str, np.ndarray], q_arm: np.ndarray) -> None:
        position, rotation = self._ik.site_pose(q_arm)
        start = Waypoint(0.0, position, rotation, OPEN)
        # Above the workspace, so the joint-space move into the preferred posture hits nothing.
        ready = Waypoint(1.5, np.array(READY_POSITION), self.ready_rotation, OPEN)
        self.revise_from = None
        self._plan = [start, ready, *self.plan(privileged, ready)]
        self._revise_at = None if self.revise_from is None else 2 + self.revise_from
        self._times = np.cumsum([w.duration for w in self._plan])
        self._q_start = q_arm
        first = self._plan[1]
        self._q_first = self._ik.solve(np.asarray(GRASP_POSTURE), first.position, first.rotation, iterations=100)
        self._q_arm = q_arm.copy()

    def _interpolate(self, t: float) -> tuple[np.ndarray, np.ndarray, Mapping[str, float], float]:
        """Pose, hand closures and the smoothstep phase of the current segment at time t."""
        assert self._times is not None
        k = int(np.searchsorted(self._times, t, side="right"))
        if k >= len(self._plan):
            last = self._plan[-1]
            return last.position, last.rotation, last.hand, 1.0
        a, b = self._plan[k - 1], self._plan[k]
        s = (t - self._times[k - 1]) / max(b.duration, 1e-9)
        s = s * s * (3.0 - 2.0 * s)  # smoothstep: start and stop at rest
        position = (1 - s) * a.position + s * b.position
        slerp = Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([a.rotation, b.rotation])))
        rotation = slerp([s]).as_matrix()[0]
        hand = {name: (1 - s) * a.hand[name] + s * b.hand[name] for name in a.hand}
        return position, rotation, hand, s


def grasp_and_lift(site: np.ndarray, rotation: np.ndarray, lift: float, approach: float = 0.12) -> list[Waypoint]:
    """Waypoints that bring the hand, its thumb rotated in, `approach` above the grasp-site pose and
    `THUMB_CLEARANCE` further back along the fingers, lower it beside the object, slide it forward
    until the thumb stands just behind the object, curl the fingers, bend the thumb and lift the
    object by `lift`."""
    back = site - THUMB_CLEARANCE * rotation[:, 0]
    up = np.array([0.0, 0.0, lift])
    return [
        Waypoint(1.5, back + np.array([0.0, 0.0, approach]), rotation, THUMB_IN),
        Waypoint(0.3, back + np.array([0.0, 0.0, approach]), rotation, THUMB_IN),  # servos lag ~0.1 s
        Waypoint(1.0, back, rotation, THUMB_IN),
        Waypoint(0.4, site, rotation, THUMB_IN),
        Waypoint(0.2, site, rotation, THUMB_IN),  # arrive (servo lag) before the fingers close
        Waypoint(0.5, site, rotation, CURLED),
        Waypoint(0.4, site, rotation, GRASP),
        Waypoint(0.2, site, rotation, GRASP),  # let the thumb finish pressing before the load comes on
        Waypoint(1.0, site + up, rotation, GRASP),
    ]


def held_pose(
    object_pose_wxyz: np.ndarray, site_position: np.ndarray, site_rotation: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """An object's origin and orientation (rotation matrix) in the grasp-site frame."""
    rotation = Rotation.from_quat(object_pose_wxyz[3:], scalar_first=True).as_matrix()
    return site_rotation.T @ (object_pose_wxyz[:3] - site_position), site_rotation.T @ rotation


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
        planned = (in_hand - GRASP_SITE_LOCAL - np.array([0.0, 0.0, half_size[2]]), np.eye(3))
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
        cup_in_site = (in_hand - GRASP_SITE_LOCAL - np.array([0.0, 0.0, cup_height]), np.eye(3))
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
        grid = int(round(np.sqrt(len(vertices))))
        free, toward_crease, flat_edge = folded_edge(vertices.reshape(grid, grid, 3))
        press = np.array([*(free + self.inset * toward_crease), self.press_height])
        spread = np.array([*(flat_edge - self.inset * toward_crease), self.press_height])
        R = self._press_rotation(toward_crease, (press, spread))
        above = np.array([0.0, 0.0, 0.08])
        travel = float(np.linalg.norm(spread - press))
        to_site = R @ (GRASP_SITE_LOCAL - self.fingertips)
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
                site = fingertips + R @ (GRASP_SITE_LOCAL - self.fingertips)
                q = self._ik.solve(q, site, R, iterations=60)
                position, rotation = self._ik.site_pose(q)
                error += np.linalg.norm(position - site) + np.linalg.norm(rotation - R)
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


EXPERTS: dict[str, type[ScriptedExpert]] = {
    "pick-place": PickPlaceExpert,
    "pour": PourExpert,
    "unfold": UnfoldExpert,
}


def make_expert(task: str) -> ScriptedExpert:
    """The scripted expert for a task name (`pick-place`, `pour`, `unfold`)."""
    if task not in EXPERTS:
        raise ConfigError(f"no scripted expert for task {task!r}; experts exist for {', '.join(EXPERTS)}")
    return EXPERTS[task]()
