"""Tracking errors, rewards and terminations of one policy step, for a batch of K robots at once.

Errors follow BeyondMimic: the anchor body is compared in the world frame; the other bodies are
compared after moving the reference onto the robot (its anchor placed at the robot's anchor in x
and y and turned to the robot's heading), so a policy is not punished twice for the anchor's drift;
body velocities are compared in the world frame. Each exponential term is
weight x exp(-(mean over bodies of the squared error) / std^2); the sum is scaled by the policy step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimicsim.envs.tracking.config import RewardCfg, TerminationCfg
from mimicsim.envs.tracking.kinematics import RobotState
from mimicsim.envs.tracking.reference import MotionReference

ERROR_NAMES = (
    "anchor_pos",
    "anchor_ori",
    "body_pos",
    "body_pos_global",
    "body_ori",
    "body_lin_vel",
    "body_ang_vel",
    "joint_pos",
    "end_effector_height",
)
"""Keys of `TermsResult.errors` (and of `info["errors"]`), in metres, radians, m/s, rad/s. body_* are
root-mean-square over the tracked bodies (the quantities the rewards see); body_pos_global is the
mean world-frame distance (PHC's success measure); joint_pos is the mean absolute joint error;
end_effector_height the largest hand or foot height error."""

REASONS = (
    "",
    "anchor_height",
    "anchor_orientation",
    "end_effector_height",
    "simulation_unstable",
    "non_finite_action",
)
"""Termination reasons by code; 0 means none."""

SUCCESS_BODY_ERROR = 0.5
"""PHC's success rule: a clip is tracked when it runs to its end without termination and the mean
world-frame distance of the tracked bodies from the reference never exceeds this (m)."""


def tracked_to_success(terminated: bool, body_pos_global: np.ndarray, threshold: float = SUCCESS_BODY_ERROR) -> bool:
    """PHC's success of one clip rollout, from its per-step `body_pos_global` errors."""
    return not terminated and (len(body_pos_global) == 0 or float(np.max(body_pos_global)) <= threshold)


@dataclass
class TermsResult:
    reward: np.ndarray  # (K,)
    reason: np.ndarray  # (K,) int codes into REASONS
    errors: dict[str, np.ndarray]  # name -> (K,)


class TrackingTerms:
    """Holds the constants and scratch arrays; `evaluate` is the per-step computation. Written with
    einsum/matmul contractions and ufunc reductions: numpy's reductions over short trailing axes and
    its Python-level wrappers (stack, mean, where) cost more than the arithmetic at these sizes."""

    def __init__(
        self,
        reference: MotionReference,
        anchor: int,
        lower: np.ndarray,
        upper: np.ndarray,
        dt: float,
        reward: RewardCfg,
        termination: TerminationCfg,
        num_envs: int,
    ):
        self.ref, self.anchor, self.dt = reference, anchor, dt
        self.term_cfg = termination
        middle, half = (upper + lower) / 2, (upper - lower) / 2 * reward.soft_limit_factor
        self.soft_middle, self.soft_half_range = middle, half
        self.soft_lower, self.soft_upper = middle - half, middle + half
        self._weights = np.array(
            [
                reward.anchor_pos_weight,
                reward.anchor_ori_weight,
                reward.body_pos_weight,
                reward.body_ori_weight,
                reward.body_lin_vel_weight,
                reward.body_ang_vel_weight,
            ]
        )
        self._inv_var = (
            1.0
            / np.array(
                [
                    reward.anchor_pos_std,
                    reward.anchor_ori_std,
                    reward.body_pos_std,
                    reward.body_ori_std,
                    reward.body_lin_vel_std,
                    reward.body_ang_vel_std,
                ]
            )
            ** 2
        )
        self._penalty_weights = np.array([reward.action_rate_weight, reward.joint_limit_weight])
        b, n = reference.body_pos.shape[1], reference.joint_pos.shape[1]
        self._body_mean = np.full(b, 1.0 / b)
        self._joint_mean = np.full(n, 1.0 / n)
        # Sums of squared angular (first 3) and linear (last 3) velocity errors, averaged over bodies.
        self._vel_split = np.zeros((6, 2))
        self._vel_split[:3, 1] = self._vel_split[3:, 0] = 1.0 / b
        self._rot_t = np.zeros((num_envs, 3, 3))  # transposed heading rotations, filled per step
        self._rot_t[:, 2, 2] = 1.0
        self._half = np.zeros((num_envs, 2))
        self._offset = np.zeros((num_envs, 3))
        self._sq = np.zeros((num_envs, 6))
        self._penalties = np.zeros((num_envs, 2))

    def evaluate(
        self, state: RobotState, frames: np.ndarray, action: np.ndarray, prev_action: np.ndarray
    ) -> TermsResult:
        """Compare `state` (rows current) with reference `frames`, row by row."""
        ref, a, sq = self.ref, self.anchor, self._sq
        pos, quat, rot = state.body_pos, state.body_quat, state.anchor_rot
        scal = ref.anchor_scalars[frames]
        robot_anchor = pos[:, a]
        d = scal[:, 0:3] - robot_anchor
        sq[:, 0] = np.einsum("ki,ki->k", d, d)
        anchor_ori = 2.0 * np.arccos(np.minimum(np.abs(np.einsum("ki,ki->k", scal[:, 3:7], quat[:, a])), 1.0))
        sq[:, 1] = anchor_ori * anchor_ori

        # One product gives the heading offset (yaw of R_robot R_ref^T, from R_robot times the
        # reference's first row) and the tilt (R_robot's third row against the reference's gravity).
        probe = np.matmul(rot, ref.anchor_probes[frames])
        yaw = np.arctan2(probe[:, 1, 0], probe[:, 0, 0])
        tilt = np.arccos(np.clip(-probe[:, 2, 1], -1.0, 1.0))

        # The reference turned by the heading offset about its anchor, set down at the robot's
        # anchor (x, y) and its own anchor height.
        c, s, rot_t, offset = np.cos(yaw), np.sin(yaw), self._rot_t, self._offset
        rot_t[:, 0, 0] = rot_t[:, 1, 1] = c
        rot_t[:, 0, 1] = s
        rot_t[:, 1, 0] = -s
        offset[:, :2] = robot_anchor[:, :2]
        offset[:, 2] = scal[:, 2]
        err = pos - np.matmul(ref.body_from_anchor[frames], rot_t)
        err -= offset[:, None, :]
        sq[:, 2] = np.einsum("kbi,kbi->kb", err, err) @ self._body_mean

        half = self._half
        half[:, 0], half[:, 1] = np.cos(0.5 * yaw), np.sin(0.5 * yaw)
        dots = np.einsum("kbj,kj->kb", np.einsum("kbji,kbi->kbj", ref.body_quat_pair[frames], quat), half)
        half_angle = np.arccos(np.minimum(np.abs(dots, out=dots), 1.0, out=dots), out=dots)
        sq[:, 3] = 4.0 * (np.einsum("kb,kb->kb", half_angle, half_angle) @ self._body_mean)

        vel_err = state.body_vel - ref.body_vel[frames]
        sq[:, 4:6] = np.einsum("kbi,kbi->ki", vel_err, vel_err) @ self._vel_split

        q = state.joint_pos
        rate = action - prev_action
        beyond = np.abs(q - self.soft_middle)
        beyond -= self.soft_half_range
        penalties = self._penalties
        penalties[:, 0] = np.einsum("kn,kn->k", rate, rate)
        penalties[:, 1] = np.maximum(beyond, 0.0, out=beyond).sum(axis=1)
        reward = np.exp(-sq * self._inv_var) @ self._weights
        reward += penalties @ self._penalty_weights
        reward *= self.dt

        ee = np.abs(state.end_effector_z - ref.end_effector_z[frames])
        ee_err = np.maximum.reduce(ee, axis=1)
        tc = self.term_cfg
        reason = np.zeros(len(frames), dtype=np.int64)
        reason[ee_err > tc.end_effector_height] = 3
        reason[tilt > tc.anchor_orientation] = 2
        reason[np.abs(d[:, 2]) > tc.anchor_height] = 1

        global_err = pos - ref.body_pos[frames]
        errors = {
            "anchor_pos": np.sqrt(sq[:, 0]),
            "anchor_ori": anchor_ori,
            "body_pos": np.sqrt(sq[:, 2]),
            "body_pos_global": np.sqrt(np.einsum("kbi,kbi->kb", global_err, global_err)) @ self._body_mean,
            "body_ori": np.sqrt(sq[:, 3]),
            "body_lin_vel": np.sqrt(sq[:, 4]),
            "body_ang_vel": np.sqrt(sq[:, 5]),
            "joint_pos": np.abs(q - ref.joint_pos[frames]) @ self._joint_mean,
            "end_effector_height": ee_err,
        }
        return TermsResult(reward=reward, reason=reason, errors=errors)
