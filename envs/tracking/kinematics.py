"""What tracking reads of a robot, for a batch of K robots (or K frames of a reference): body poses
and velocities, joint state, the anchor's and root's orientation, end-effector heights.

The simulated robots and the reference are read by the same code, so a robot in exactly the
reference's state has exactly zero tracking error.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

# (w x r)_i = sum_jk eps_ijk w_j r_k: with O = outer(w, r) flattened row-major, w x r = O @ _CROSS.
_CROSS = np.zeros((9, 3))
for _i, _j, _k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
    _CROSS[3 * _j + _k, _i], _CROSS[3 * _k + _j, _i] = 1.0, -1.0


@dataclass(frozen=True)
class TrackedPoints:
    """What tracking measures on a robot: the bodies behind its retargeting keypoints (pelvis, torso,
    hips, knees, ankles, shoulders, elbows, wrists), the anchor among them, and the end-effector
    sites (soles, wrists) whose heights can terminate an episode."""

    body_ids: np.ndarray
    body_names: tuple[str, ...]
    anchor: int
    """Index of the anchor body within body_ids."""
    anchor_body: int
    root_body: int
    """The floating base (pelvis); its tree's centre of mass is the reference point of `cvel`."""
    end_effector_sites: np.ndarray
    end_effector_names: tuple[str, ...]
    qpos_adr: np.ndarray
    qvel_adr: np.ndarray

    @classmethod
    def of(cls, spec) -> TrackedPoints:  # spec: mimicsim.assets.RobotSpec
        model = spec.model
        bodies = {model.body(kp.body).id for kp in spec.config.keypoints.values()}
        bodies.add(model.body(spec.config.anchor_body).id)
        body_ids = np.array(sorted(bodies))
        names = tuple(model.body(i).name for i in body_ids)
        sites = list(spec.sole_sites) + [
            spec.keypoint_sites[j] for j in ("left_wrist", "right_wrist") if j in spec.keypoint_sites
        ]
        return cls(
            body_ids=body_ids,
            body_names=names,
            anchor=names.index(spec.config.anchor_body),
            anchor_body=model.body(spec.config.anchor_body).id,
            root_body=int(model.body_rootid[body_ids[0]]),
            end_effector_sites=np.array([model.site(s).id for s in sites]),
            end_effector_names=tuple(sites),
            qpos_adr=np.asarray(spec.qpos_adr),
            qvel_adr=np.asarray(spec.qvel_adr),
        )


class RobotState:
    """Arrays for K robots, filled row by row from MjData (`read`), then `finish` turns the gathered
    `cvel` rows into body-origin velocities for all rows at once."""

    def __init__(self, points: TrackedPoints, rows: int):
        b, n, e = len(points.body_ids), len(points.qpos_adr), len(points.end_effector_sites)
        self.points = points
        self.body_pos = np.zeros((rows, b, 3))
        self.body_quat = np.zeros((rows, b, 4))
        self.body_vel = np.zeros((rows, b, 6))
        """World frame [angular, linear] velocity of each body origin (after `finish`)."""
        self.cvel = np.zeros((rows, b, 6))
        """The bodies' rows of MuJoCo's `cvel`, as read."""
        self.joint_pos = np.zeros((rows, n))
        self._rotations = np.zeros((rows, 2, 9))  # anchor and root rotation matrices, row-major
        self.anchor_mat = self._rotations[:, 0]
        self.anchor_rot = self.anchor_mat.reshape(rows, 3, 3)
        self.root_rot = self._rotations[:, 1].reshape(rows, 3, 3)
        self.root_up_row = self._rotations[:, 1, 6:9]
        """Third row of the root's rotation matrix: minus the gravity direction in the root frame."""
        self._velocities = np.zeros((rows, 6 + n))
        self.root_lin_vel = self._velocities[:, :3]
        """Linear velocity of the root in the world frame (MuJoCo's free-joint convention)."""
        self.root_ang_vel = self._velocities[:, 3:6]
        """Angular velocity of the root in its own frame (MuJoCo's free-joint convention)."""
        self.joint_vel = self._velocities[:, 6:]
        self.end_effector_z = np.zeros((rows, e))
        self.com = np.zeros((rows, 3))
        self._rotation_bodies = np.array([points.anchor_body, points.root_body])
        self._velocity_adr = np.concatenate([np.arange(6), points.qvel_adr])
        self._offset, self._outer = np.zeros((rows, b, 3)), np.zeros((rows, b, 3, 3))
        self._cross = np.zeros((rows, b, 3))

    def views(self, data: mujoco.MjData) -> tuple[np.ndarray, ...]:
        """The MjData arrays `read` copies from; bind once per MjData (its buffers never move)."""
        return (
            data.xpos,
            data.xquat,
            data.cvel,
            data.qpos,
            data.qvel,
            data.xmat,
            data.site_xpos[:, 2],
            data.subtree_com[self.points.root_body],
        )

    def read(self, k: int, views: tuple[np.ndarray, ...]) -> None:
        xpos, xquat, cvel, qpos, qvel, xmat, site_z, com = views
        p = self.points
        # ndarray.take with out= (not np.take): the wrapper would cost as much as the copy.
        xpos.take(p.body_ids, 0, self.body_pos[k], "clip")
        xquat.take(p.body_ids, 0, self.body_quat[k], "clip")
        cvel.take(p.body_ids, 0, self.cvel[k], "clip")
        qpos.take(p.qpos_adr, None, self.joint_pos[k], "clip")
        qvel.take(self._velocity_adr, None, self._velocities[k], "clip")
        xmat.take(self._rotation_bodies, 0, self._rotations[k], "clip")
        site_z.take(p.end_effector_sites, None, self.end_effector_z[k], "clip")
        self.com[k] = com

    def finish(self) -> None:
        """Body-origin velocities of all rows from what was read. MuJoCo's `cvel` is each body's
        spatial velocity about the centre of mass of its tree, c; the velocity of a body origin p
        is v_c + w x (p - c)."""
        cvel, outer = self.cvel, self._outer
        np.subtract(self.body_pos, self.com[:, None, :], out=self._offset)
        np.multiply(cvel[..., :3, None], self._offset[..., None, :], out=outer)
        np.matmul(outer.reshape((*outer.shape[:2], 9)), _CROSS, out=self._cross)
        self.body_vel[..., :3] = cvel[..., :3]
        np.add(cvel[..., 3:], self._cross, out=self.body_vel[..., 3:])


def refresh_kinematics(model: mujoco.MjModel, data: mujoco.MjData) -> None:
    """Positions, orientations and velocities of all bodies for the current qpos/qvel (no contacts
    or forces: much cheaper than mj_forward)."""
    mujoco.mj_kinematics(model, data)
    mujoco.mj_comPos(model, data)
    mujoco.mj_comVel(model, data)


def quat_to_xyzw(q_wxyz: np.ndarray) -> np.ndarray:
    return q_wxyz[..., [1, 2, 3, 0]]


def quat_to_wxyz(q_xyzw: np.ndarray) -> np.ndarray:
    return q_xyzw[..., [3, 0, 1, 2]]


def yaw_partner_wxyz(q_wxyz: np.ndarray) -> np.ndarray:
    """For quaternions q (wxyz), the q' with <r(psi) * q, p> = cos(psi/2) <q, p> + sin(psi/2) <q', p>
    for any quaternion p, where r(psi) is a rotation by psi about world z. Precomputing q' turns the
    heading-aligned orientation error into dot products."""
    w, x, y, z = np.moveaxis(q_wxyz, -1, 0)
    return np.stack([-z, -y, x, w], axis=-1)
