"""Joint-position arrays written by text-to-motion generators.

- `(T, 22, 3)` and `(1, T, 22, 3)`: T2M-GPT, MotionGPT, MoMask (HumanML3D joint order, y-up, metres,
  20 fps, the person starting to face +Z with +X on their left). `(T, J, 3)` with J = 24, 52 or 55
  (SMPL, SMPL-H, SMPL-X joint sets) keeps the first 22, which are the SMPL body in every one of them.
- MDM's `results.npy`: a pickled dict whose `motion` is `(N, 22, 3, T)` with `lengths (N,)`; one
  sample is picked. Reading it unpickles (through an allow-list of NumPy types), so it is only done
  on request (format "mdm"): load only files you trust. A plain `(N, 22, 3, T)` array is read too.

The up axis is detected unless given (`up=`); units are metres unless given (`units=`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mimicsim.errors import InputFileError
from mimicsim.npyio import read_npy
from mimicsim.retarget.human.formats.common import parse_units, smpl_motion
from mimicsim.retarget.human.formats.mdm import read_mdm_dict
from mimicsim.retarget.human.motion import HumanMotion

FPS = 20.0
SMPL_FAMILY_JOINTS = (22, 24, 52, 55)
"""Joint counts whose first 22 joints are the SMPL body (SMPL body, SMPL, SMPL-H, SMPL-X)."""
_HAND_JOINTS = 21


def _shape_problem(shape: tuple[int, ...]) -> str:
    """Why an array is not (T, J, 3) joints, with the likely fix."""
    if len(shape) == 3 and shape[2] == 3 and shape[1] == _HAND_JOINTS:
        return (
            f"shape {shape} is 21 keypoints per frame: that is a hand (MANO order), not a body; "
            "hand keypoints go to the hand retargeter"
        )
    if len(shape) == 3 and shape[0] in SMPL_FAMILY_JOINTS and shape[2] == 3:
        return f"shape {shape} looks like (J, T, 3): transpose it to (T, J, 3)"
    if len(shape) == 3 and shape[1] == 3 and shape[2] in SMPL_FAMILY_JOINTS:
        return f"shape {shape} looks like (T, 3, J): transpose it to (T, J, 3)"
    if len(shape) == 3 and shape[2] == 3:
        return (
            f"{shape[1]} joints per frame is not a skeleton known by count (22/24/52/55 SMPL-family); "
            "save it in the npz layout with joint_names so it can be mapped"
        )
    return (
        f"shape {shape} is not joint positions: expected (T, 22, 3), (1, T, 22, 3) or MDM's (N, 22, 3, T) "
        "(24/52/55 joints are accepted and cut to the SMPL body)"
    )


def joints_array(array: np.ndarray, where: Path, *, sample: int = 0) -> np.ndarray:
    """(T, 22, 3) from any accepted layout."""
    if array.ndim == 4 and array.shape[0] == 1 and array.shape[3] == 3:
        array = array[0]
    elif array.ndim == 4 and array.shape[1] in SMPL_FAMILY_JOINTS and array.shape[2] == 3:
        array = np.moveaxis(_pick(array, sample, where), -1, 0)
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[1] not in SMPL_FAMILY_JOINTS:
        raise InputFileError(where, _shape_problem(array.shape))
    return array[:, :22]


def _pick(batch: np.ndarray, sample: int, where: Path) -> np.ndarray:
    if not 0 <= sample < batch.shape[0]:
        count = batch.shape[0]
        raise InputFileError(where, f"sample={sample} but the file holds {count} samples (0-{count - 1})")
    return batch[sample]


def from_array(
    array: np.ndarray, path: Path, *, fps: float = FPS, up: str = "auto", units: str | float = "m", sample: int = 0
) -> HumanMotion:
    joints = joints_array(array, path, sample=sample) * parse_units(units)
    details = {"joints": f"{array.shape} array", "units": str(units)}
    return smpl_motion(joints, fps, path, "joints", up=up, trust_up=up != "auto", details=details)


def load_joints(
    path: str | Path, *, fps: float = FPS, up: str = "auto", units: str | float = "m", sample: int = 0
) -> HumanMotion:
    """A joint-position .npy file as a `HumanMotion`.

    Args:
        fps: Frame rate (HumanML3D-family generators write 20).
        up: The file's up axis ("y", "z", "-y", ...) or "auto" to detect it.
        units: "m", "cm", "mm", "cmu", "in" or metres per unit.
        sample: Which sample of an (N, 22, 3, T) batch.
    """
    path = Path(path)
    return from_array(read_npy(path), path, fps=fps, up=up, units=units, sample=sample)


def load_mdm(path: str | Path, *, sample: int = 0, fps: float = FPS, up: str = "auto") -> HumanMotion:
    """One sample of MDM's results.npy (unpickled through a NumPy-only allow-list: trusted files only).

    Args:
        sample: Index into the (N, 22, 3, T) `motion` batch (samples x repetitions).
        fps: Frame rate (MDM on HumanML3D is 20).
        up: The up axis, or "auto" (MDM writes HumanML3D's y-up).
    """
    path = Path(path)
    data = read_mdm_dict(path)
    motion = data.get("motion")
    if not isinstance(motion, np.ndarray) or motion.ndim != 4 or motion.shape[1:3] != (22, 3):
        found = getattr(motion, "shape", type(motion).__name__)
        raise InputFileError(path, f"MDM results need 'motion' as an (N, 22, 3, T) array, found {found}")
    if not np.issubdtype(motion.dtype, np.number):
        raise InputFileError(path, f"MDM 'motion' has dtype {motion.dtype}; numbers are expected")
    joints = np.moveaxis(_pick(motion.astype(float), sample, path), -1, 0)
    lengths = data.get("lengths")
    if isinstance(lengths, np.ndarray) and lengths.shape == (motion.shape[0],):
        joints = joints[: int(lengths[sample])]
    details = {"sample": f"{sample} of {motion.shape[0]}"}
    texts = data.get("text")
    if isinstance(texts, (list, tuple)) and sample < len(texts) and isinstance(texts[sample], str):
        details["prompt"] = texts[sample]
    return smpl_motion(joints, fps, path, "mdm", up=up, trust_up=up != "auto", details=details)
