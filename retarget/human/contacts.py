"""Foot contacts estimated from foot height and speed (motions already on the floor, z = 0)."""

from __future__ import annotations

import numpy as np

from mimicsim.retarget.human.skeleton import ANKLES, FEET, SMPL_JOINTS

# Calibration on the real clips in ../shared/motions after `normalize` (CMU 01_01 at 120 fps, the
# HumanML3D tennis serve at 20 fps, the 272-dim AMASS clip at 60 fps; percentiles over both feet):
# - joint heights while planted: toe joints sit 0.3-4 cm above the floor (CMU 2.3-4.0, HumanML3D
#   0.1-1.5, AMASS 2-5 cm: joint centres, not soles), ankle joints 5-8 cm (1st-50th percentiles
#   4.8-7.6 cm); so a toe below 6 cm or an ankle below 11 cm is "at the floor".
# - speed of a foot joint at floor height: median 0.03-0.12 m/s, 90th percentile 0.23-0.50 m/s
#   (higher only for the serve's pivoting right foot); swing is 2-5 m/s. 0.5 m/s separates them and
#   equals the GMD skating speed, so a foot in contact that moves faster is skating by definition.
# - runs shorter than 50 ms are noise (a real stance or flight lasts > 0.1 s).
TOE_HEIGHT = 0.06
ANKLE_HEIGHT = 0.11
SPEED = 0.5
MIN_RUN = 0.05


def joint_speeds(positions: np.ndarray, fps: float) -> np.ndarray:
    """(T, J) speed of every joint (m/s), central differences inside, one-sided at the ends."""
    return np.linalg.norm(np.gradient(positions, 1.0 / fps, axis=0), axis=-1)


def feet_down(positions: np.ndarray, speeds: np.ndarray, joint_names: tuple[str, ...] = SMPL_JOINTS) -> np.ndarray:
    """(T, 2) booleans (left, right): the foot's toe or ankle is near the floor and slow, frame by
    frame (`speeds` (T, J) in m/s)."""
    down = np.zeros((positions.shape[0], 2), dtype=bool)
    for side, (ankle, toe) in enumerate(zip(ANKLES, FEET, strict=True)):
        a, t = joint_names.index(ankle), joint_names.index(toe)
        toe_down = (positions[:, t, 2] < TOE_HEIGHT) & (speeds[:, t] < SPEED)
        heel_down = (positions[:, a, 2] < ANKLE_HEIGHT) & (speeds[:, a] < SPEED)
        down[:, side] = toe_down | heel_down
    return down


def min_run_frames(fps: float) -> int:
    return max(1, round(MIN_RUN * fps))


def estimate_contacts(positions: np.ndarray, fps: float, joint_names: tuple[str, ...] = SMPL_JOINTS) -> np.ndarray:
    """(T, 2) booleans (left, right): a foot is in contact when its toe or its ankle is near the floor
    and slow. Runs shorter than `MIN_RUN` seconds are merged into their neighbours."""
    down = feet_down(positions, joint_speeds(positions, fps), joint_names)
    return np.stack([_drop_short_runs(down[:, side], min_run_frames(fps)) for side in range(2)], axis=1)


class OnlineContacts:
    """The same estimate one frame at a time, from the current and previous frames only: speeds
    by backward differences; a foot leaves contact at once, and enters it once it has been down
    for `MIN_RUN` (so a brief touch during a swing does not count). A late lift-off would hold a
    rising foot on the floor, a late touchdown only delays the pin by that much."""

    def __init__(self, fps: float, joint_names: tuple[str, ...] = SMPL_JOINTS):
        self.fps = fps
        self.joint_names = joint_names
        self.confirm = min_run_frames(fps)
        self.state: np.ndarray | None = None
        self._previous: np.ndarray | None = None
        self._pending = np.zeros(2, dtype=int)

    def update(self, joints: np.ndarray) -> np.ndarray:
        """(2,) contacts of the frame `joints` (J, 3), on the floor (z = 0)."""
        previous = joints if self._previous is None else self._previous
        speeds = np.linalg.norm(joints - previous, axis=-1) * self.fps
        self._previous = joints
        down = feet_down(joints[None], speeds[None], self.joint_names)[0]
        if self.state is None:
            self.state = down.copy()
            return self.state.copy()
        self._pending = np.where(down & ~self.state, self._pending + 1, 0)
        self.state = (self.state & down) | (self._pending >= self.confirm)
        return self.state.copy()


def _drop_short_runs(flags: np.ndarray, min_len: int) -> np.ndarray:
    """Flip runs of equal values shorter than `min_len` frames (interior runs only)."""
    flags = flags.copy()
    edges = np.flatnonzero(np.diff(flags.astype(np.int8))) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [flags.size]])
    for start, end in zip(starts[1:-1], ends[1:-1], strict=True):
        if end - start < min_len:
            flags[start:end] = ~flags[start]
    return flags
