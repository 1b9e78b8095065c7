"""Getting a limb out of a poor branch of its joint space.

Frame-by-frame IK is local. An arm swung over the top can end on a branch (shoulder pressed
against two limits, elbow bent backwards) from which no small step leads back to its targets, and
stay there for the rest of the clip. After each frame, a limb whose keypoints are far from their
targets gets a trial solve of that frame from its standing pose. When the trial fits much better,
the limb is guided towards it: a strong posture pull that respects the joint speed limit and the
collision constraints, renewed every frame from a fresh trial until the limb is back on its
targets. A failed trial is not repeated for a while, so a target that is simply out of reach
(beyond the joint limits) costs little.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mimicsim.assets import RobotSpec
from mimicsim.retarget.collision import body_groups
from mimicsim.retarget.ik import FrameGoal, KeypointIK

LIMBS = ("left_arm", "right_arm", "left_leg", "right_leg")


@dataclass(frozen=True)
class Limb:
    name: str
    keypoints: np.ndarray
    """Indices into the goal's keypoints."""
    joints: np.ndarray
    """Indices into the robot's joint order."""


def limbs(spec: RobotSpec, keypoints: tuple[str, ...]) -> list[Limb]:
    """The robot's limbs, each with the keypoints and joints on its bodies."""
    model = spec.model
    groups = body_groups(spec)
    joint_body = [int(model.jnt_bodyid[model.joint(n).id]) for n in spec.joint_names]
    site_body = [int(model.site_bodyid[model.site(spec.keypoint_sites[k]).id]) for k in keypoints]
    out = []
    for name in LIMBS:
        if name in groups:
            kps = np.array([i for i, b in enumerate(site_body) if b in groups[name]], dtype=int)
            joints = np.array([j for j, b in enumerate(joint_body) if b in groups[name]], dtype=int)
            if kps.size and joints.size:
                out.append(Limb(name, kps, joints))
    return out


@dataclass
class BranchRecovery:
    ik: KeypointIK
    limbs: list[Limb]
    stuck: float = 0.08
    """A limb whose mean keypoint error (m) exceeds this gets a trial from its standing pose..."""
    better: float = 0.5
    """...which is followed when its error is below this fraction of the limb's."""
    trial_steps: int = 20
    back_off: int = 15
    """Frames before a limb whose trial did not help is tried again."""
    guided: set[str] = field(default_factory=set)
    quiet_until: dict[str, int] = field(default_factory=dict)
    frame: int = 0
    trials: int = 0
    guided_frames: int = 0

    def __post_init__(self) -> None:
        self._averages = np.zeros((len(self.limbs), len(self.ik.sites)))
        """Rows that average a limb's keypoint errors."""
        for row, limb in zip(self._averages, self.limbs, strict=True):
            row[limb.keypoints] = 1.0 / limb.keypoints.size

    def after_frame(self, goal: FrameGoal) -> None:
        """Call after each frame is solved, with that frame's goal."""
        self.frame += 1
        offset = self.ik.reached() - goal.positions
        errors = (self._averages @ np.sqrt((offset * offset).sum(axis=1))).tolist()
        for limb, error in zip(self.limbs, errors, strict=True):
            if self.quiet_until.get(limb.name, 0) > self.frame:
                continue
            if error <= self.stuck:
                if limb.name in self.guided:
                    self.guided.discard(limb.name)
                    self.ik.guide(limb.joints, None)
                continue
            trial, trial_error = self._trial(limb, goal)
            if trial_error < self.better * error:
                self.guided.add(limb.name)
                self.ik.guide(limb.joints, trial)
                self.guided_frames += 1
            else:
                if limb.name in self.guided:
                    self.guided.discard(limb.name)
                    self.ik.guide(limb.joints, None)
                self.quiet_until[limb.name] = self.frame + self.back_off

    def _error(self, limb: Limb, goal: FrameGoal) -> float:
        reached = self.ik.reached()[limb.keypoints]
        return float(np.linalg.norm(reached - goal.positions[limb.keypoints], axis=1).mean())

    def _trial(self, limb: Limb, goal: FrameGoal) -> tuple[np.ndarray, float]:
        """The limb's joints after solving this frame from its standing pose, and their error."""
        ik = self.ik
        self.trials += 1
        saved, weights = ik.qpos.copy(), ik.guide_weights.copy()
        start = saved.copy()
        start[ik.qadr[limb.joints]] = ik.spec.default_joint_pos[limb.joints]
        ik.reset(start)
        ik.guide_weights[:] = 0.0
        ik.solve(goal, None, self.trial_steps)
        joints = ik.qpos[ik.qadr[limb.joints]].copy()
        error = self._error(limb, goal)
        ik.reset(saved)
        ik.guide_weights[:] = weights
        return joints, error
