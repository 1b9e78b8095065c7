"""The scripted expert's machinery, shared by the experts of every task.

Each expert reads the task's ground truth from `obs["privileged"]` (so its environment must be made
with `privileged=True`; its metadata says so), plans a short list of grasp-site waypoints (position,
orientation, hand closure) from the first observation of the episode, and follows it: the pose at
every control step is interpolated along the plan and turned into Panda joint targets by mink's
differential IK on the robot alone (warm-started from the previous solution), the hand closure is
scripted. Actions are Being-H0's 13-D absolute joint targets. `infer` returns the next
`action_horizon` actions from the plan, indexed by `obs["privileged"]["step"]`, so a wrapper may
execute any number k <= H of them before asking again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from mimicsim.assets.franka_inspire import HOME_ARM_QPOS
from mimicsim.assets.hand_mapping import ACTION_DIM, ARM_DIM
from mimicsim.envs.manipulation.base import CONTROL_HZ
from mimicsim.errors import ConfigError
from mimicsim.policies.manipulation.experts.arm_ik import GRASP_POSTURE, ArmIK
from mimicsim.policies.manipulation.experts.grasp import OPEN, Waypoint, hand_vector, side_grasp_rotation
from mimicsim.policies.manipulation.protocol import Policy

READY_POSITION = (0.5, 0.0, 0.3)


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
