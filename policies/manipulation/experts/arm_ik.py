"""mink differential IK for the Inspire hand's grasp site on the bare Franka + Inspire model."""

from __future__ import annotations

import mink
import numpy as np

from mimicsim.assets.franka_inspire import GRASP_SITE, franka_inspire_spec
from mimicsim.assets.hand_mapping import ARM_DIM

# Nullspace posture for the IK: holds the side grasp mid-workspace far from every joint limit.
GRASP_POSTURE = (-0.15, 0.777, -0.262, -2.131, 2.048, 1.519, -2.051)


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
