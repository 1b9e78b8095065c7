"""Keypoint targets one frame at a time, from that frame and the past only: `retargeter.plan` made
causal, for live input.

| step | whole clip (`plan`) | one frame at a time (here) |
|---|---|---|
| floor | the clip's lowest foot | the lowest foot so far (two frames in a row: one glitch frame does not count) |
| contacts | central differences, short runs dropped | backward differences, a change taken once it lasted `MIN_RUN` |
| scales | median bone lengths over the clip | root: the first frame's legs; limb bones: running median so far |
| segment tilt | mean over the upright frames | running mean over the upright frames so far, side lean held back |
| flat foot | median elevation over contact frames | median over the latest contact frames |
| ground shift | interpolated through flights, Gaussian | held through flights, exponential smoothing |
| pinned foot | median place, mean heading of the phase; blends in and out | place and heading at touchdown; blend out |
| sliding foot | re-stepped | re-stepped when the drift happens |
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field, replace

import mujoco
import numpy as np

from mimicsim.retarget.body_frames import foot_direction, heading
from mimicsim.retarget.feet import (
    FEET,
    FOOT_SEGMENTS,
    ankle_heights,
    blend_frames,
    blend_weight,
    contact_shift,
    keep_ankles_up,
    pinned_pose,
    restep_lift,
)
from mimicsim.retarget.human.contacts import OnlineContacts
from mimicsim.retarget.human.motion import HumanMotion, MotionSource
from mimicsim.retarget.human.normalize import foot_heights
from mimicsim.retarget.human.skeleton import SMPL_JOINTS
from mimicsim.retarget.scaling import (
    SEGMENTS,
    RobotRest,
    Scales,
    derive_scales,
    foot_segment_frames,
    place_keypoints,
    tilts,
    trunk_frames,
)

_ELEVATIONS_KEPT = 512
"""Contact frames whose foot elevation the flat-foot median is taken over (bounded: streams are long);
also the frames a bone's running median length is taken over."""
_ROLL_PRIOR_SECONDS = 2.0
"""The side lean (roll) of a segment's neutral tilt counts as n / (n + this many seconds of frames)
after n upright frames. A skeleton is left-right symmetric, so a side lean in the first frames is
the person's posture (weight on one leg), not the skeleton's; the whole-clip mean averages it out,
a running mean over a few frames does not. The HumanML3D tennis serve opens leaning 21 degrees
sideways against a clip mean of 5: held back so, the tilt error averaged over the clip halves
(pelvis 5.0 -> 2.7 degrees, torso 5.8 -> 2.4) while the other clips move by 0.4 at most. 1 s
left H1 17.6 mm from its offline retarget on that clip, 2 s 15.7, 3 s 16.0."""
_MIN_CONTACT_FRAMES = 3


class RunningMedian:
    """The median of the latest `size` values, updated in O(size) memory moves rather than a sort."""

    def __init__(self, size: int = _ELEVATIONS_KEPT):
        self._window: deque[float] = deque(maxlen=size)
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._window)

    def add(self, value: float) -> None:
        if len(self._window) == self._window.maxlen:
            del self._sorted[bisect.bisect_left(self._sorted, self._window[0])]
        self._window.append(value)
        bisect.insort(self._sorted, value)

    def median(self) -> float:
        n = len(self._sorted)
        return 0.5 * (self._sorted[(n - 1) // 2] + self._sorted[n // 2])


@dataclass(frozen=True)
class TargetSettings:
    """The `RetargetConfig` fields the targets depend on."""

    fps: float
    scale: float | None = None
    pin_feet: bool = True
    ground_smoothing: float = 0.1
    contact_blend: float = 0.15
    max_contact_drift: float = 0.05
    stance_heading_weight: float = 0.3


@dataclass
class FrameTargets:
    positions: np.ndarray
    """(K, 3) keypoint targets."""
    orientations: np.ndarray
    """(len(SEGMENTS), 3, 3) target orientations of the segments' robot bodies."""
    heading_weights: dict[int, float]
    """Segment index -> orientation weight replacing the configured one (pinned feet)."""
    stance: list[tuple[int, np.ndarray]]
    """Pinned feet: (segment index, sole target), as `FrameGoal.stance`."""
    contacts: np.ndarray
    """(2,) left and right foot in contact (after re-steps)."""


@dataclass
class _Foot:
    """One foot's pin and what follows its release."""

    pin: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    """(ankle, toe, orientation, sole) while pinned."""
    anchor: np.ndarray | None = None
    """Where the source ankle was when the pin began (x, y): the drift is measured from here."""
    offset: np.ndarray = field(default_factory=lambda: np.zeros((2, 3)))
    """Pinned minus source ankle and toe, at the latest pinned frame (blended out after release)."""
    correction: np.ndarray = field(default_factory=lambda: np.zeros(3))
    """Rotation vector from the source foot to the pinned foot, at the latest pinned frame."""
    since_release: int = 1 << 30
    places: list[np.ndarray] = field(default_factory=list)
    """Source ankle places (x, y) and headings of the phase's first frames, while the pin settles."""
    headings: list[float] = field(default_factory=list)
    restep: int = 0
    """Frames of the current re-step already taken (0: not re-stepping)."""


# One frame's rotations through MuJoCo's small C helpers: SciPy's Rotation costs ~100 us a call,
# which a stream pays several times per frame.


def _quat(matrix: np.ndarray) -> np.ndarray:
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(matrix).ravel())
    return quat


def _matrix(quat: np.ndarray) -> np.ndarray:
    matrix = np.empty(9)
    mujoco.mju_quat2Mat(matrix, quat)
    return matrix.reshape(3, 3)


def _rotvec(matrix: np.ndarray) -> np.ndarray:
    vec = np.empty(3)
    mujoco.mju_quat2Vel(vec, _quat(matrix), 1.0)
    return vec


def _from_rotvec(vec: np.ndarray) -> np.ndarray:
    angle = float(np.linalg.norm(vec))
    if angle < 1e-12:
        return np.eye(3)
    quat = np.empty(4)
    mujoco.mju_axisAngle2Quat(quat, vec / angle, angle)
    return _matrix(quat)


class OnlineTargets:
    """Turns frames of SMPL-22 joints (internal frame: z-up, metres) into keypoint targets."""

    def __init__(self, rest: RobotRest, settings: TargetSettings, override_scale: float | None = None):
        self.rest = rest
        self.settings = settings
        self.override = settings.scale if settings.scale is not None else override_scale
        self.contacts = OnlineContacts(settings.fps)
        self.scales: Scales | None = None
        self._bones: dict[str, tuple[float, int, int, RunningMedian]] = {}
        """Limb bone -> (the robot's bone length, SMPL joint, parent joint, the human's latest
        lengths); empty when one scale overrides them all."""
        self._upright = 0
        self.origin = np.zeros(2)
        self.floor = np.inf
        self._lowest = np.inf
        self._tilt = {name: np.zeros((4, 4)) for name in ("pelvis", "torso")}
        self._elevations = [RunningMedian() for _ in FEET]
        self._recent = [RunningMedian() for _ in FEET]
        self._shift: float | None = None
        self._alpha = (
            1.0 - np.exp(-1.0 / (settings.ground_smoothing * settings.fps)) if settings.ground_smoothing > 0 else 1.0
        )
        self._rest_z = ankle_heights(rest)
        self._lift = restep_lift(settings.fps)
        self._window = blend_frames(settings.contact_blend, settings.fps)
        self._feet = [_Foot(), _Foot()]

    def calibrate(self, joints: np.ndarray, where: str | None) -> Scales:
        """Take the first frame's bone lengths (returned), floor and place; a frame that is no
        plausible person (wrong units, scrambled joints) raises `InputFileError` naming `where`."""
        motion = HumanMotion(
            positions=np.stack([joints, joints]), fps=self.settings.fps, source=MotionSource(where, "stream")
        )
        self.scales = derive_scales(motion, self.rest, self.override)
        if self.override is None:
            rest = self.rest
            self._bones = {
                name: (
                    rest.bone_length(k),
                    SMPL_JOINTS.index(name),
                    SMPL_JOINTS.index(rest.keypoints[rest.parents[k]]),
                    RunningMedian(),
                )
                for k, name in enumerate(rest.keypoints)
                if name in self.scales.bone
            }
        self.origin = joints[SMPL_JOINTS.index("pelvis"), :2].copy()
        self.floor = float(foot_heights(joints[None])[0])
        self._lowest = self.floor
        return self.scales

    def update(self, joints: np.ndarray) -> FrameTargets:
        """Targets for the next frame, `joints` (22, 3); the first frame calibrates (`calibrate`)."""
        scales = self.scales if self.scales is not None else self.calibrate(joints, "the first frame")
        lowest = float(foot_heights(joints[None])[0])
        self.floor = min(self.floor, max(lowest, self._lowest))
        self._lowest = lowest
        joints = joints - np.array([0.0, 0.0, self.floor])
        contacts = self.contacts.update(joints)
        scales = self._follow_bones(joints, scales)
        j = {name: joints[None, i] for i, name in enumerate(SMPL_JOINTS)}
        frames = self._segment_frames(j, contacts)
        positions = place_keypoints(j, frames, self.rest, scales, self.origin)[0]
        self._ground(positions, contacts)
        stance: list[tuple[int, np.ndarray]] = []
        weights: dict[int, float] = {}
        if self.settings.pin_feet:
            contacts = np.array(
                [self._pin(side, positions, frames, stance, weights, contact=bool(contacts[side])) for side in (0, 1)]
            )
        orientations = np.stack([frames[s][0] @ self.rest.segment_rest[s] for s in SEGMENTS])
        return FrameTargets(positions, orientations, weights, stance, contacts)

    def _follow_bones(self, joints: np.ndarray, scales: Scales) -> Scales:
        """Limb scales from the median bone lengths so far (the clip's median, offline). The root
        factor stays the first frame's: changing it would move the robot's place in the room."""
        if not self._bones:
            return scales
        human = {}
        for name, (_, child, parent, lengths) in self._bones.items():
            lengths.add(float(np.linalg.norm(joints[child] - joints[parent])))
            human[name] = lengths.median()
        bone = {name: self._bones[name][0] / length for name, length in human.items()}
        self.scales = replace(scales, bone=bone, human_lengths=human)
        return self.scales

    def _segment_frames(self, j: dict[str, np.ndarray], contacts: np.ndarray) -> dict[str, np.ndarray]:
        frames, upright = trunk_frames(j)
        self._upright += int(upright[0])
        held_back = self._upright / (self._upright + _ROLL_PRIOR_SECONDS * self.settings.fps)
        for name, frame in frames.items():
            accumulated = self._tilt[name]
            if upright[0]:
                q = _quat(tilts(frame)[0])
                accumulated += np.outer(q, q)
            if accumulated.any():  # the mean rotation of the upright frames so far, as Rotation.mean
                neutral = _rotvec(_matrix(np.linalg.eigh(accumulated)[1][:, -1]))
                neutral[0] *= held_back  # roll: about the forward axis (the tilt has no heading)
                frames[name] = frame @ _from_rotvec(neutral).T
        flat = []
        for side, (ankle, toe) in enumerate(FEET):
            elevation = float(foot_direction(j[ankle][0], j[toe][0])[1])
            self._recent[side].add(elevation)
            if contacts[side]:
                self._elevations[side].add(elevation)
            kept = self._elevations[side] if len(self._elevations[side]) >= _MIN_CONTACT_FRAMES else self._recent[side]
            flat.append(kept.median())
        return frames | foot_segment_frames(j, frames["pelvis"], (flat[0], flat[1]))

    def _ground(self, positions: np.ndarray, contacts: np.ndarray) -> None:
        """Shift (in place) the keypoints so contact ankles stand at the robot's ankle height.

        Through a flight the shift holds where it was. Offline it runs from the take-off value to
        the landing one; a stream has no landing yet, and easing on towards the last contact
        frame's value (a foot on its toes, ankle raised, asks for a low body) put the robot 10-15 cm
        below the offline one through the tennis serve's jump."""
        z = positions[[self.rest.index(a) for a, _ in FEET], 2]
        if contacts.any():
            need = float(contact_shift(z[None], contacts[None], self._rest_z)[0])
            self._shift = need if self._shift is None else self._shift + self._alpha * (need - self._shift)
        elif self._shift is None:  # no foot down yet: the lowest ankle at its standing height
            self._shift = float(np.min(self._rest_z) - z.min())
        positions[:, 2] += self._shift
        keep_ankles_up(positions[None], self.rest.keypoints, self.rest)

    def _pin(
        self,
        side: int,
        positions: np.ndarray,
        frames: dict[str, np.ndarray],
        stance: list[tuple[int, np.ndarray]],
        weights: dict[int, float],
        *,
        contact: bool,
    ) -> bool:
        """Pin, hold, re-step or release one foot (editing the targets in place); its contact."""
        foot, rest = self._feet[side], self.rest
        segment = FOOT_SEGMENTS[side]
        a, t = (rest.index(n) for n in FEET[side])
        raw = positions[[a, t]].copy()
        raw_rot = frames[segment][0]
        if foot.pin is not None and (not contact or self._drifted(foot, raw[0])):
            foot.pin, foot.since_release = None, 0
            if contact:  # slid too far while in contact: lift the foot and put it down again
                foot.restep = 1
        if foot.restep:
            contact = False
            positions[[a, t], 2] += self._lift[foot.restep - 1]
            foot.restep = foot.restep + 1 if foot.restep < self._lift.size else 0
        elif contact and (foot.pin is None or len(foot.places) < self._window):
            # The pin takes the median place and mean heading of the phase's first frames (the
            # whole phase offline), so a foot still settling at touchdown does not set it.
            if foot.pin is None:
                foot.places, foot.headings = [], []
                foot.anchor = raw[0, :2].copy()
            foot.places.append(raw[0, :2].copy())
            foot.headings.append(float(heading(raw_rot)))
            angle = float(np.arctan2(np.sin(foot.headings).mean(), np.cos(foot.headings).mean()))
            foot.pin = pinned_pose(side, angle, np.median(foot.places, axis=0), rest)
        if foot.pin is not None:
            ankle, toe, flat, sole = foot.pin
            positions[a], positions[t], frames[segment] = ankle, toe, flat[None]
            foot.offset = np.stack([ankle, toe]) - raw
            foot.correction = _rotvec(flat @ raw_rot.T)
            index = SEGMENTS.index(segment)
            stance.append((index, sole))
            weights[index] = self.settings.stance_heading_weight
            return True
        foot.since_release += 1
        if foot.since_release <= self._window:  # ease out of the pinned pose
            w = float(blend_weight(np.array(foot.since_release), self._window))
            positions[[a, t]] += w * foot.offset
            frames[segment] = (_from_rotvec(w * foot.correction) @ raw_rot)[None]
        return contact

    def _drifted(self, foot: _Foot, ankle: np.ndarray) -> bool:
        return (
            foot.anchor is not None and float(np.linalg.norm(ankle[:2] - foot.anchor)) > self.settings.max_contact_drift
        )
