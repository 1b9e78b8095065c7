"""Human hand motion input: 21 hand keypoints per frame, optionally with the wrist's pose.

Keypoints follow MediaPipe's order (0 wrist; 1-4 thumb CMC, MCP, IP, tip; then index, middle, ring
and pinky, each MCP, PIP, DIP, tip). MANO's 21 joints (its 16 joints in MANO order, then the five
fingertips thumb, index, middle, ring, pinky, as manopth and most MANO fitters emit them) are
reordered to it at the boundary.

Files:
- `.npy` of shape (T, 21, 3): keypoints in metres (any frame; the retargeter works in the palm's
  own frame). The frame rate comes from `fps` (default 30).
- `.npz` with `keypoints` (T, 21, 3) and optionally `fps` (scalar), `wrist_pos` (T, 3) and
  `wrist_quat_wxyz` (T, 4): the wrist's pose in a z-up world, metres, quaternions w-first. With a
  wrist pose the keypoints are in the wrist's frame (world = R p + t).

A left hand is mirrored into a right hand (the Inspire hand here is a right hand): every point and
the wrist's pose are reflected across the world's x-z plane (y -> -y), which turns a left hand into
the right hand that mirrors it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.spatial.transform import Rotation

from mimicsim.errors import ConfigError, InputFileError
from mimicsim.npyio import file_sha256, read_npy, read_npz
from mimicsim.retarget.human.motion import check_fps

N_KEYPOINTS = 21
WRIST = 0
THUMB = (1, 2, 3, 4)
FINGERS = {"index": (5, 6, 7, 8), "middle": (9, 10, 11, 12), "ring": (13, 14, 15, 16), "pinky": (17, 18, 19, 20)}
TIPS = {"thumb": 4, "index": 8, "middle": 12, "ring": 16, "pinky": 20}
BONES = (
    (0, 1), (1, 2), (2, 3), (3, 4),
    (0, 5), (5, 6), (6, 7), (7, 8),
    (0, 9), (9, 10), (10, 11), (11, 12),
    (0, 13), (13, 14), (14, 15), (15, 16),
    (0, 17), (17, 18), (18, 19), (19, 20),
)  # fmt: skip
"""Parent-child keypoint pairs (MediaPipe's hand connections without the palm's cross links)."""

MEDIAPIPE_FROM_MANO = np.array([0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20])
"""`mediapipe = mano[MEDIAPIPE_FROM_MANO]`: MANO's joints are wrist, index 1-3, middle 1-3, pinky 1-3,
ring 1-3, thumb 1-3, then the tips thumb, index, middle, ring, pinky."""

MIRROR = np.diag([1.0, -1.0, 1.0])
"""The reflection that turns a left hand into a right hand (y -> -y)."""

# A human hand from wrist to middle MCP measures 7-12 cm; anything far outside is another unit or
# not a hand.
MIN_PALM, MAX_PALM = 0.03, 0.25
MAX_BONE_SPREAD = 0.25
"""Bone lengths varying more than this over frames (relative std, median over bones) are not one hand.
Video-tracked hands vary by 5-10 %."""
DEFAULT_FPS = 30.0

Side = Literal["right", "left"]
Layout = Literal["auto", "mediapipe", "mano"]


@dataclass(frozen=True)
class HandMotion:
    """A validated right hand (a left one already mirrored): `keypoints (T, 21, 3)` in MediaPipe
    order, metres; `wrist_pos (T, 3)` and `wrist_quat_wxyz (T, 4)` when the file gives the wrist's
    pose (the keypoints are then in the wrist's frame)."""

    keypoints: np.ndarray
    fps: float
    side: Side = "right"
    wrist_pos: np.ndarray | None = None
    wrist_quat_wxyz: np.ndarray | None = None
    source: dict[str, str] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.keypoints.shape[0])


def load_hand(
    path: str | Path,
    *,
    layout: Layout = "auto",
    side: Side = "right",
    fps: float | None = None,
) -> HandMotion:
    """Read and validate a hand motion file (see the module docstring). `layout` "auto" means
    MediaPipe order (MANO-ordered arrays need `layout="mano"`; the two cannot be told apart from
    positions alone without guessing)."""
    path = Path(path)
    if layout not in ("auto", "mediapipe", "mano"):
        raise ConfigError(f"layout={layout!r}: use auto, mediapipe or mano")
    if side not in ("right", "left"):
        raise ConfigError(f"side={side!r}: use right or left")
    wrist_pos = wrist_quat = None
    file_fps: float | None = None
    if path.suffix == ".npz":
        keypoints, file_fps, wrist_pos, wrist_quat = _read_npz(path)
    elif path.suffix == ".npy":
        keypoints = read_npy(path)
    else:
        raise InputFileError(path, "a hand motion is an .npy (T, 21, 3) keypoint array or an .npz (see README)")
    if fps is not None and file_fps is not None and abs(fps - file_fps) > 1e-6:
        raise ConfigError(f"{path}: --fps {fps:g} contradicts the file's own fps {file_fps:g}")
    rate = check_fps(fps if fps is not None else file_fps if file_fps is not None else DEFAULT_FPS, path)
    keypoints = _check_keypoints(path, keypoints)
    if layout == "mano":
        keypoints = keypoints[:, MEDIAPIPE_FROM_MANO]
    if wrist_pos is not None and wrist_quat is not None:
        wrist_pos, wrist_quat = _check_wrist(path, wrist_pos, wrist_quat, keypoints.shape[0])
    _check_hand_shape(path, keypoints)
    details = {"path": str(path), "format": "mano" if layout == "mano" else "mediapipe", "side": side}
    details["sha256"] = file_sha256(path)
    return make_hand(keypoints, rate, side=side, wrist_pos=wrist_pos, wrist_quat_wxyz=wrist_quat, source=details)


def make_hand(
    keypoints: np.ndarray,
    fps: float,
    *,
    side: Side = "right",
    wrist_pos: np.ndarray | None = None,
    wrist_quat_wxyz: np.ndarray | None = None,
    source: dict[str, str] | None = None,
) -> HandMotion:
    """A `HandMotion` from arrays already checked; a left hand is mirrored into a right one."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if side == "left":
        keypoints = keypoints @ MIRROR
        if wrist_pos is not None and wrist_quat_wxyz is not None:
            # World points M (R p + t) = (M R M)(M p) + M t: the mirrored wrist turns by M R M.
            wrist_pos = np.asarray(wrist_pos) @ MIRROR
            matrices = Rotation.from_quat(wrist_quat_wxyz, scalar_first=True).as_matrix()
            wrist_quat_wxyz = Rotation.from_matrix(MIRROR @ matrices @ MIRROR).as_quat(scalar_first=True)
    return HandMotion(
        keypoints=keypoints,
        fps=float(fps),
        side=side,
        wrist_pos=None if wrist_pos is None else np.asarray(wrist_pos, dtype=np.float64),
        wrist_quat_wxyz=None if wrist_quat_wxyz is None else np.asarray(wrist_quat_wxyz, dtype=np.float64),
        source=dict(source or {}),
    )


def palm_frames(keypoints: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of the palm's frame, columns x, y, z: x from the wrist to the
    middle finger's MCP, z across the knuckles towards the index (the thumb's side), y = z × x out
    of the palm of a right hand. The robot hand's palm frame is built the same way from its own
    knuckles, so vectors expressed in the two frames compare directly."""
    wrist, index, middle, pinky = (keypoints[..., i, :] for i in (WRIST, 5, 9, 17))
    x = _unit(middle - wrist)
    across = index - pinky
    z = _unit(across - np.sum(across * x, axis=-1, keepdims=True) * x)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def bone_lengths(keypoints: np.ndarray) -> np.ndarray:
    """(..., 20) lengths of `BONES`."""
    parents, children = np.array(BONES).T
    return np.linalg.norm(keypoints[..., children, :] - keypoints[..., parents, :], axis=-1)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _read_npz(path: Path) -> tuple[np.ndarray, float | None, np.ndarray | None, np.ndarray | None]:
    """Keypoints, fps, wrist positions and wrist quaternions of an .npz (the last three optional)."""
    arrays = read_npz(path, keys=("keypoints", "fps", "wrist_pos", "wrist_quat_wxyz"))
    if "keypoints" not in arrays:
        raise InputFileError(path, "an .npz hand motion needs a 'keypoints' array of shape (T, 21, 3)")
    fps = None
    if "fps" in arrays:
        if arrays["fps"].size != 1:
            raise InputFileError(path, f"'fps' must be one number, got shape {arrays['fps'].shape}")
        fps = float(_real(path, "fps", arrays["fps"]).reshape(()))
    if ("wrist_pos" in arrays) != ("wrist_quat_wxyz" in arrays):
        raise InputFileError(path, "give both 'wrist_pos' (T, 3) and 'wrist_quat_wxyz' (T, 4), or neither")
    if "wrist_pos" not in arrays:
        return _real(path, "keypoints", arrays["keypoints"]), fps, None, None
    return (
        _real(path, "keypoints", arrays["keypoints"]),
        fps,
        _real(path, "wrist_pos", arrays["wrist_pos"]),
        _real(path, "wrist_quat_wxyz", arrays["wrist_quat_wxyz"]),
    )


def _real(path: Path, name: str, array: np.ndarray) -> np.ndarray:
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise InputFileError(path, f"'{name}' has dtype {array.dtype}; real numbers are expected")
    return array.astype(np.float64)


def _check_keypoints(path: Path, keypoints: np.ndarray) -> np.ndarray:
    if keypoints.ndim == 4 and keypoints.shape[0] == 1:
        keypoints = keypoints[0]
    if keypoints.ndim != 3 or keypoints.shape[1:] != (N_KEYPOINTS, 3):
        raise InputFileError(
            path, f"hand keypoints must have shape (T, {N_KEYPOINTS}, 3), got {tuple(keypoints.shape)}"
        )
    if keypoints.shape[0] < 2:
        raise InputFileError(path, f"a hand motion needs at least 2 frames, this one has {keypoints.shape[0]}")
    if not np.isfinite(keypoints).all():
        bad = np.unique(np.nonzero(~np.isfinite(keypoints))[0])
        raise InputFileError(path, f"NaN or infinite keypoints in {bad.size} frames (first: frame {bad[0]})")
    return keypoints


def _check_wrist(path: Path, pos: np.ndarray, quat: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    if pos.shape != (n, 3):
        raise InputFileError(path, f"'wrist_pos' must have shape ({n}, 3) like the keypoints, got {pos.shape}")
    if quat.shape != (n, 4):
        raise InputFileError(path, f"'wrist_quat_wxyz' must have shape ({n}, 4), got {quat.shape}")
    if not (np.isfinite(pos).all() and np.isfinite(quat).all()):
        raise InputFileError(path, "NaN or infinite values in the wrist pose")
    norms = np.linalg.norm(quat, axis=1)
    if np.any(np.abs(norms - 1.0) > 1e-3):
        frame = int(np.argmax(np.abs(norms - 1.0)))
        raise InputFileError(
            path,
            f"'wrist_quat_wxyz' must hold unit quaternions (w, x, y, z); frame {frame} has norm {norms[frame]:.4g}",
        )
    return pos, quat / norms[:, None]


def _check_hand_shape(path: Path, keypoints: np.ndarray) -> None:
    palm = float(np.median(np.linalg.norm(keypoints[:, 9] - keypoints[:, 0], axis=-1)))
    if not MIN_PALM <= palm <= MAX_PALM:
        raise InputFileError(
            path,
            f"the wrist to middle-knuckle distance is {palm:.4g} file units, no human hand in metres "
            f"({MIN_PALM}-{MAX_PALM} m): convert the keypoints to metres",
        )
    lengths = bone_lengths(keypoints)
    spread = float(np.median(lengths.std(axis=0) / np.maximum(lengths.mean(axis=0), 1e-9)))
    if spread > MAX_BONE_SPREAD:
        raise InputFileError(
            path,
            f"the keypoints do not form one hand: bone lengths vary by {spread:.0%} across frames "
            "(joints of different hands, or tracking failures)",
        )
    frames = palm_frames(keypoints)
    if np.any(np.abs(np.linalg.det(frames)) < 0.5):
        raise InputFileError(path, "the wrist and the index, middle and pinky knuckles are collinear in some frame")
