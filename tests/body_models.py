"""Small random SMPL-family body models in the official file layout, made by the tests themselves
(the real models are licensed and never part of the repository), and the smplx package's own
forward pass on them as the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mimicsim.retarget.human.formats.body_model import JOINT_COUNTS
from mimicsim.retarget.human.skeleton import SMPL_PARENTS, rest_offsets

SHAPE_DIRS = {"smpl": 300, "smplh": 300, "smplx": 400}
"""As many directions as smplx needs to use every beta given (SMPL-X: 300 shape + 100 expression)."""
_VERTICES_PER_JOINT = 4
_FINGER = np.array([0.03, -0.01, 0.0])  # finger bone in the model frame (x is the person's left)


def parents(model_type: str) -> list[int]:
    """The model's kinematic tree: the SMPL body, then hands (and SMPL-X's jaw and eyes)."""
    body = list(SMPL_PARENTS)
    hand = lambda wrist, first: [wrist if i % 3 == 0 else first + i - 1 for i in range(15)]  # noqa: E731
    if model_type == "smpl":
        return [*body, 20, 21]
    if model_type == "smplh":
        return [*body, *hand(20, 22), *hand(21, 37)]
    return [*body, 15, 15, 15, *hand(20, 25), *hand(21, 40)]


def rest_joints(model_type: str) -> np.ndarray:
    """(J, 3) plausible rest joints in the body models' frame (y-up, facing +z, left on +x)."""
    tree = parents(model_type)
    offsets = rest_offsets() @ np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=float)  # internal -> model
    joints = np.zeros((len(tree), 3))
    joints[0] = (0.0, 0.95, 0.0)
    for j in range(1, len(tree)):
        if j < len(offsets):
            step = offsets[j]
        elif model_type == "smplx" and j < 25:
            step = np.array([0.03 * (j - 23), 0.05, 0.08])  # jaw, eyes
        else:
            side = 1.0 if tree[j] == 20 or (tree[j] >= 22 and joints[tree[j], 0] > 0) else -1.0
            step = _FINGER * np.array([side, 1.0, 1.0])
        joints[j] = joints[tree[j]] + step
    return joints


def synthetic_model(model_type: str, seed: int = 0) -> dict[str, np.ndarray]:
    """A random model in the official layout: a few vertices around each joint, a regressor averaging
    them, random shape and pose directions, skinning weights, faces, and hand (and face) extras."""
    rng = np.random.default_rng(seed)
    J = JOINT_COUNTS[model_type]
    tree = parents(model_type)
    owner = np.repeat(np.arange(J), _VERTICES_PER_JOINT)
    V = owner.size
    template = rest_joints(model_type)[owner] + rng.normal(0.0, 0.02, (V, 3))
    regressor = np.zeros((J, V))
    regressor[owner, np.arange(V)] = rng.uniform(0.5, 1.5, V)
    regressor /= regressor.sum(axis=1, keepdims=True)
    weights = 0.1 * rng.uniform(size=(V, J))
    weights[np.arange(V), owner] += 1.0
    kintree = np.stack([np.array(tree, dtype=np.int64), np.arange(J)])
    kintree[0, 0] = 4294967295  # the official files' "no parent"
    model = {
        "v_template": template,
        "shapedirs": rng.normal(0.0, 0.004, (V, 3, SHAPE_DIRS[model_type])),
        "posedirs": rng.normal(0.0, 0.001, (V, 3, 9 * (J - 1))),
        "J_regressor": regressor,
        "kintree_table": kintree,
        "weights": weights / weights.sum(axis=1, keepdims=True),
        "f": rng.integers(0, V, (2 * V, 3)),
    }
    if model_type != "smpl":
        for side in "lr":
            model[f"hands_components{side}"] = np.linalg.qr(rng.normal(size=(45, 45)))[0]
            model[f"hands_mean{side}"] = rng.normal(0.0, 0.1, 45)
    if model_type == "smplx":
        model["lmk_faces_idx"] = rng.integers(0, 2 * V, 51)
        bary = rng.uniform(size=(51, 3))
        model["lmk_bary_coords"] = bary / bary.sum(axis=1, keepdims=True)
    return model


def write_model(
    directory: Path, model_type: str, gender: str = "neutral", layout: str = "smplx", seed: int = 0
) -> Path:
    """Write a synthetic model where mimicsim looks for it: the smplx package's layout
    (DIR/smplx/SMPLX_NEUTRAL.npz) or AMASS's (DIR/smplh/neutral/model.npz)."""
    if layout == "smplx":
        path = directory / model_type / f"{model_type.upper()}_{gender.upper()}.npz"
    else:
        path = directory / model_type / gender / "model.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **synthetic_model(model_type, seed))
    return path


def smplx_joints(path: Path, model_type: str, poses: np.ndarray, trans: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """(T, 22, 3) body joints by the smplx package's own model classes (float64).

    The extra surface keypoints smplx appends index the real meshes' vertices, beyond a small
    model's; they come after the 55 model joints, so they are switched off here."""
    import smplx
    import torch
    from smplx.utils import Struct

    class NoExtraJoints(torch.nn.Module):
        def forward(self, vertices: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
            return joints

    T = poses.shape[0]
    common = {"num_betas": betas.shape[-1], "dtype": torch.float64, "batch_size": T}
    data = dict(np.load(path))
    if model_type == "smpl":
        model = smplx.SMPL(str(path), data_struct=Struct(**data), **common)
    elif model_type == "smplh":
        model = smplx.SMPLH(str(path), data_struct=Struct(**data), use_pca=False, **common)
    else:
        model = smplx.SMPLX(str(path), ext="npz", use_pca=False, **common)
    model.vertex_joint_selector = NoExtraJoints()
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64)  # noqa: E731
    kwargs = {
        "global_orient": t(poses[:, :3]),
        "transl": t(trans),
        "betas": t(np.broadcast_to(betas, (T, betas.shape[-1]))),
    }
    if model_type == "smpl":
        kwargs["body_pose"] = t(poses[:, 3:72])
    else:
        kwargs["body_pose"] = t(poses[:, 3:66])
        hands = poses[:, 66:156] if model_type == "smplh" else poses[:, 75:165]
        kwargs["left_hand_pose"], kwargs["right_hand_pose"] = t(hands[:, :45]), t(hands[:, 45:])
    if model_type == "smplx":
        kwargs["jaw_pose"], kwargs["leye_pose"], kwargs["reye_pose"] = (
            t(poses[:, 66 + 3 * i : 69 + 3 * i]) for i in range(3)
        )
    with torch.no_grad():
        return model(**kwargs).joints[:, :22].numpy()


def walking_poses(model_type: str, frames: int = 60, fps: float = 30.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(T, width) axis-angle poses and (T, 3) translations of a gentle stepping motion, the body
    standing along +y (the body models' frame), every joint bent a little at random."""
    from mimicsim.retarget.human.formats.body_model import POSE_WIDTHS

    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    poses = np.repeat(rng.normal(0.0, 0.05, (1, POSE_WIDTHS[model_type])), frames, axis=0)
    phase = 2 * np.pi * t
    poses[:, :3] = 0.0
    # Model frame: x is the person's left, so a negative turn about x swings a thigh forward and a
    # positive one bends a knee.
    poses[:, 3 * 1] = -0.4 * np.maximum(np.sin(phase), 0)
    poses[:, 3 * 2] = -0.4 * np.maximum(-np.sin(phase), 0)
    poses[:, 3 * 4] = 0.6 * np.maximum(np.sin(phase), 0)
    poses[:, 3 * 5] = 0.6 * np.maximum(-np.sin(phase), 0)
    trans = np.zeros((frames, 3))
    trans[:, 2] = 0.3 * t
    return poses, trans
