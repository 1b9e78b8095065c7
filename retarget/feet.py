"""Feet on the floor: the vertical placement of the whole target body, and contact pinning.

- **Ground.** During source contact a foot stands flat, so its ankle belongs at the robot's own
  standing ankle height. The height shift that puts it there is measured at every contact frame,
  interpolated through flight phases and smoothed, then applied to every keypoint: the root height
  adapts, and a source that floats or sinks (raw generated clips sink 10-25 cm) lands on the floor.
- **Pinning.** For each contact phase the foot gets one pose, flat, at the median place and heading
  the source foot had during the phase; the solver holds its place and level exactly. Just before
  and after a phase the swing targets are blended towards that pose so the foot does not jump when
  it lifts or lands. A source foot that slides while in contact becomes a sequence of re-steps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from mimicsim.retarget.body_frames import heading, yaw_pitch_frame
from mimicsim.retarget.scaling import KeypointTargets, RobotRest

FEET = (("left_ankle", "left_foot"), ("right_ankle", "right_foot"))
FOOT_SEGMENTS = ("left_foot", "right_foot")
STEP_SECONDS = 0.1
"""How long a re-step (`split_sliding_contacts`) lifts the foot."""
STEP_HEIGHT = 0.03
"""How high (m) a re-step lifts the foot."""


def contact_phases(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) frame ranges where `flags` is true."""
    padded = np.concatenate([[False], np.asarray(flags, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def contact_shift(ankle_z: np.ndarray, contacts: np.ndarray, rest_z: np.ndarray) -> np.ndarray:
    """(T,) vertical shift putting the contact ankles (mean over the feet in contact) at their
    standing height, for frames (T, 2) with at least one foot in contact."""
    return np.where(contacts, rest_z - ankle_z, 0.0).sum(axis=1) / np.maximum(contacts.sum(axis=1), 1)


def ground_offsets(
    targets: KeypointTargets, contacts: np.ndarray, rest: RobotRest, fps: float, smoothing_seconds: float = 0.1
) -> np.ndarray:
    """(T,) vertical shift that puts contact ankles at the robot's standing ankle height."""
    ankles = [targets.index(a) for a, _ in FEET]
    rest_z = ankle_heights(rest)
    z = targets.positions[:, ankles, 2]  # (T, 2)
    frames = np.arange(len(z))
    touching = contacts.any(axis=1)
    if touching.any():
        shift = np.interp(frames, frames[touching], contact_shift(z, contacts, rest_z)[touching])
    else:  # never touches: put the lowest ankle of the clip on the floor
        shift = np.full(len(z), float(np.min(rest_z) - np.quantile(z.min(axis=1), 0.05)))
    return gaussian_filter1d(shift, smoothing_seconds * fps, mode="nearest") if smoothing_seconds > 0 else shift


def ankle_heights(rest: RobotRest) -> np.ndarray:
    """(2,) the robot's standing ankle heights (left, right)."""
    return np.array([rest.positions[rest.index(a), 2] for a, _ in FEET])


def place_on_ground(
    targets: KeypointTargets, contacts: np.ndarray, rest: RobotRest, fps: float, smoothing_seconds: float = 0.1
) -> KeypointTargets:
    """Shift every keypoint by the ground offset; no ankle target stays below its standing height."""
    pos = targets.positions.copy()
    pos[:, :, 2] += ground_offsets(targets, contacts, rest, fps, smoothing_seconds)[:, None]
    keep_ankles_up(pos, targets.names, rest)
    return replace(targets, positions=pos)


def keep_ankles_up(positions: np.ndarray, names: tuple[str, ...], rest: RobotRest) -> None:
    """Raise (in place) ankle targets (T, K, 3) that are below the robot's standing ankle height."""
    for (ankle, _), height in zip(FEET, ankle_heights(rest), strict=True):
        k = names.index(ankle)
        positions[:, k, 2] = np.maximum(positions[:, k, 2], height)


def restep_lift(fps: float, step_seconds: float = STEP_SECONDS, step_height: float = STEP_HEIGHT) -> np.ndarray:
    """(frames,) height added to a re-stepping foot, frame by frame: a half sine."""
    gap = max(2, round(step_seconds * fps))
    return step_height * np.sin(np.pi * (np.arange(gap) + 1) / (gap + 1))


def split_sliding_contacts(
    targets: KeypointTargets,
    contacts: np.ndarray,
    fps: float,
    max_drift: float = 0.05,
    step_seconds: float = STEP_SECONDS,
    step_height: float = STEP_HEIGHT,
) -> tuple[KeypointTargets, np.ndarray]:
    """Turn a source foot that slides while "in contact" (shuffling, pivoting, estimator noise)
    into short re-steps: when the foot target drifts `max_drift` (m) from where its contact began,
    the contact pauses for `step_seconds` while the foot lifts `step_height` (m) and moves, then a
    new contact begins. A robot cannot hold a foot still and slide it at once."""
    pos = targets.positions.copy()
    contacts = contacts.copy()
    lift = restep_lift(fps, step_seconds, step_height)
    gap = lift.size
    for side, (ankle_name, toe_name) in enumerate(FEET):
        a, t = targets.index(ankle_name), targets.index(toe_name)
        for start, stop in contact_phases(contacts[:, side]):
            anchor = pos[start, a, :2]
            frame = start
            while frame < stop:
                if np.linalg.norm(pos[frame, a, :2] - anchor) > max_drift and stop - frame > gap:
                    contacts[frame : frame + gap, side] = False
                    pos[frame : frame + gap, [a, t], 2] += lift[:, None]
                    frame += gap
                    anchor = pos[frame, a, :2]
                frame += 1
    return replace(targets, positions=pos), contacts


@dataclass(frozen=True)
class PinnedFoot:
    """One contact phase of one foot: frames [start, stop) hold its sole centre at `sole`."""

    side: int
    start: int
    stop: int
    sole: np.ndarray
    """Where the sole site stays (on the floor, under the pinned ankle at the pinned heading)."""


def pinned_pose(
    side: int, heading_angle: float, ankle_xy: np.ndarray, rest: RobotRest
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A foot standing flat at `ankle_xy` turned to `heading_angle`: ankle and toe keypoints, the
    foot's (3, 3) orientation and its sole site."""
    ankle_name, toe_name = FEET[side]
    ankle_rest = rest.positions[rest.index(ankle_name)]
    flat = yaw_pitch_frame(np.array(heading_angle), np.array(0.0))
    ankle = np.array([ankle_xy[0], ankle_xy[1], ankle_rest[2]])
    toe = ankle + flat @ (rest.positions[rest.index(toe_name)] - ankle_rest)
    return ankle, toe, flat, ankle + flat @ (rest.soles[side] - ankle_rest)


def blend_weight(distance: np.ndarray, window: int) -> np.ndarray:
    """How much of a pinned pose a swing frame `distance` frames from the phase takes: 1 at the
    phase, 0 beyond `window` frames, a raised cosine between."""
    return 0.5 * (1.0 + np.cos(np.pi * np.abs(distance) / (window + 1)))


def blend_frames(blend_seconds: float, fps: float) -> int:
    return max(1, round(blend_seconds * fps))


def pin_contacts(
    targets: KeypointTargets, contacts: np.ndarray, rest: RobotRest, fps: float, blend_seconds: float = 0.15
) -> tuple[KeypointTargets, list[PinnedFoot]]:
    """Targets with every contact phase's foot pose fixed (flat, on the floor) and the swing
    targets next to it blended in; plus the phases, for the solver's stance constraints."""
    pos = targets.positions.copy()
    frames = dict(targets.frames)
    pins: list[PinnedFoot] = []
    window = blend_frames(blend_seconds, fps)
    for side, (ankle_name, toe_name) in enumerate(FEET):
        a, t = targets.index(ankle_name), targets.index(toe_name)
        segment = FOOT_SEGMENTS[side]
        raw_pos, raw_rot = pos.copy(), frames[segment]
        rot = raw_rot.copy()
        phases = contact_phases(contacts[:, side])
        for i, (start, stop) in enumerate(phases):
            place = np.median(raw_pos[start:stop, a, :2], axis=0)
            ankle, toe, flat, sole = pinned_pose(side, _mean_angle(heading(raw_rot[start:stop])), place, rest)
            pos[start:stop, a], pos[start:stop, t], rot[start:stop] = ankle, toe, flat
            pins.append(PinnedFoot(side, start, stop, sole))
            for idx, edge in _blend_windows(phases, i, window, len(pos)):
                w = blend_weight(idx - edge, window)  # 1 at the phase, 0 away
                for k in (a, t):
                    pos[idx, k] += w[:, None] * (pos[edge, k] - raw_pos[edge, k])
                correction = Rotation.from_matrix(flat @ raw_rot[edge].T).as_rotvec()
                rot[idx] = Rotation.from_rotvec(w[:, None] * correction).as_matrix() @ raw_rot[idx]
        frames[segment] = rot
    return replace(targets, positions=pos, frames=frames), pins


def _blend_windows(phases: list[tuple[int, int]], i: int, window: int, frames: int) -> list[tuple[np.ndarray, int]]:
    """(frames, edge frame) before and after phase i: up to `window` frames, at most half way to
    the neighbouring phase of the same foot."""
    start, stop = phases[i]
    prev_stop = phases[i - 1][1] if i > 0 else -2 * window
    next_start = phases[i + 1][0] if i + 1 < len(phases) else frames + 2 * window
    before = np.arange(max(start - window, (prev_stop + start) // 2, 0), start)
    after = np.arange(stop, min(stop + window, (stop + next_start + 1) // 2, frames))
    return [(idx, edge) for idx, edge in ((before, start), (after, stop - 1)) if idx.size]


def _mean_angle(angles: np.ndarray) -> float:
    return float(np.arctan2(np.sin(angles).mean(), np.cos(angles).mean()))
