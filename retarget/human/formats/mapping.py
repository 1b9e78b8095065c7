"""Mapping a source skeleton's joints onto the 22-joint SMPL body by name.

A mapping sends each SMPL joint to one source joint, or to a weighted blend of source joints for
a skeleton that has no joint in that place: ``{"pelvis": "Hips", "spine3": {"Spine1": 0.5, "Neck1": 0.5}}``.
Names are compared loosely (case, separators, namespace prefixes such as ``mixamorig:``, and
``L_``/``R_`` for left/right are ignored), so ``L_Hip``, ``Left_hip`` and ``left_hip`` are the same joint.

Known skeletons, tried in order (the first whose joints are all present wins):
- ``smpl``: SMPL/SMPL-H/SMPL-X joint names (HumanML3D, MotionMillion BVH, SMPL exporters).
- ``cmu``: the 31-joint CMU mocap skeleton. CMU's ``Neck`` and ``LeftShoulder`` sit at the same
  point as ``Spine1`` (zero offsets), and CMU has no joint for SMPL's short upper-chest segment, so
  ``spine3`` is the midpoint of ``Spine1`` and ``Neck1``, ``neck`` is ``Neck1``, and each collar is
  the midpoint of the chest (``LeftShoulder``) and the shoulder joint (``LeftArm``), where SMPL's
  clavicle joints lie.
- ``mixamo``: Mixamo-style names (``Hips``, ``Spine``..``Spine2``, ``LeftUpLeg``, ``LeftArm``...).

Any other skeleton needs a user mapping: a JSON file with the object above for all 22 joints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mimicsim.errors import InputFileError
from mimicsim.retarget.human.skeleton import SMPL_JOINTS

Mapping = dict[str, str | dict[str, float]]


def _limbs(legs: tuple[str, ...], arms: tuple[str, ...]) -> Mapping:
    """SMPL limb joints from source-name templates with a {side} field ("Left"/"Right")."""
    smpl = ("hip", "knee", "ankle", "foot", "shoulder", "elbow", "wrist")
    return {
        f"{side.lower()}_{joint}": template.format(side=side)
        for joint, template in zip(smpl, legs + arms, strict=True)
        for side in ("Left", "Right")
    }


_LEGS = ("{side}UpLeg", "{side}Leg", "{side}Foot", "{side}ToeBase")  # CMU and Mixamo share limb names
_ARMS = ("{side}Arm", "{side}ForeArm", "{side}Hand")
KNOWN_SKELETONS: dict[str, Mapping] = {
    "smpl": {name: name for name in SMPL_JOINTS},
    "cmu": {
        "pelvis": "Hips",
        "spine1": "Spine",
        "spine2": "Spine1",
        "spine3": {"Spine1": 0.5, "Neck1": 0.5},
        "neck": "Neck1",
        "head": "Head",
        "left_collar": {"LeftShoulder": 0.5, "LeftArm": 0.5},
        "right_collar": {"RightShoulder": 0.5, "RightArm": 0.5},
        **_limbs(_LEGS, _ARMS),
    },
    "mixamo": {
        "pelvis": "Hips",
        "spine1": "Spine",
        "spine2": "Spine1",
        "spine3": "Spine2",
        "neck": "Neck",
        "head": "Head",
        "left_collar": "LeftShoulder",
        "right_collar": "RightShoulder",
        **_limbs(_LEGS, _ARMS),
    },
}


def canonical(name: str) -> str:
    """A loose key for a joint name: "mixamorig:LeftArm" -> "leftarm", "L_Hip" -> "lefthip"."""
    name = re.split(r"[:|]", name)[-1].strip().lower()
    side = {"l": "left", "r": "right"}
    if m := re.match(r"^([lr])[_.\s-](.+)$", name):  # L_Hip
        name = side[m.group(1)] + m.group(2)
    elif m := re.match(r"^(.+)[_.\s-]([lr])$", name):  # hip.L (Blender)
        name = side[m.group(2)] + m.group(1)
    return re.sub(r"[^a-z0-9]", "", name)


def _sources(entry: str | dict[str, float]) -> dict[str, float]:
    return {entry: 1.0} if isinstance(entry, str) else dict(entry)


def _weights(mapping: Mapping, source_names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """(22, J) blend weights and the source names the mapping needs but the skeleton lacks."""
    index = {canonical(n): i for i, n in enumerate(source_names)}
    weights = np.zeros((len(SMPL_JOINTS), len(source_names)))
    missing = []
    for k, smpl in enumerate(SMPL_JOINTS):
        for src, w in _sources(mapping[smpl]).items():
            j = index.get(canonical(src))
            if j is None:
                missing.append(src)
            else:
                weights[k, j] += w
    return weights, missing


def read_mapping(path: str | Path) -> Mapping:
    """A user mapping from a JSON file, checked: every SMPL joint, names or positive blend weights."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputFileError(path, "mapping file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"not a readable JSON mapping ({exc})") from None
    if not isinstance(data, dict):
        raise InputFileError(path, 'a mapping is a JSON object {"pelvis": "Hips", ...}')
    unknown = sorted(set(data) - set(SMPL_JOINTS))
    absent = [j for j in SMPL_JOINTS if j not in data]
    if unknown or absent:
        raise InputFileError(
            path,
            f"the mapping must name exactly the 22 SMPL joints ({', '.join(SMPL_JOINTS)}); "
            + (f"unknown keys: {', '.join(unknown)}" if unknown else "")
            + ("; " if unknown and absent else "")
            + (f"missing: {', '.join(absent)}" if absent else ""),
        )
    for smpl, entry in data.items():
        ok = isinstance(entry, str) or (
            isinstance(entry, dict)
            and entry
            and all(isinstance(k, str) for k in entry)
            and all(isinstance(v, (int, float)) and v > 0 for v in entry.values())
        )
        if not ok:
            raise InputFileError(
                path, f"{smpl!r}: expected a joint name or {{name: positive weight, ...}}, got {entry!r}"
            )
        if isinstance(entry, dict):
            total = float(sum(entry.values()))
            data[smpl] = {k: float(v) / total for k, v in entry.items()}
    return data


def to_smpl22(
    positions: np.ndarray,
    source_names: Sequence[str],
    where: Path | str | None,
    mapping: Mapping | str | Path | None = None,
) -> tuple[np.ndarray, str]:
    """(T, 22, 3) SMPL joints from (T, J, 3) source joints, and the name of the mapping used.

    With no `mapping`, the first known skeleton whose joints are all present is used."""
    if mapping is not None:
        label = "user mapping"
        if not isinstance(mapping, dict):
            label = f"user mapping {Path(mapping).name}"
            mapping = read_mapping(mapping)
        weights, missing = _weights(mapping, source_names)
        if missing:
            raise InputFileError(
                where,
                f"the {label} names joints this file lacks: {', '.join(sorted(set(missing)))} "
                f"(the file has: {', '.join(source_names)})",
            )
        return np.einsum("kj,tjd->tkd", weights, positions), label
    closest = None
    for name, known in KNOWN_SKELETONS.items():
        weights, missing = _weights(known, source_names)
        if not missing:
            return np.einsum("kj,tjd->tkd", weights, positions), name
        if closest is None or len(missing) < len(closest[1]):
            closest = (name, missing)
    assert closest is not None
    raise InputFileError(
        where,
        f"unknown skeleton: its joints ({', '.join(source_names[:40])}) do not match a known skeleton "
        f"(closest: {closest[0]}, which also needs {', '.join(closest[1][:8])}); pass mapping=FILE.json "
        'mapping each of the 22 SMPL joints to a joint name, e.g. {"pelvis": "Hips", "left_hip": "LThigh", ...}',
    )
