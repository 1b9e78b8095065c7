"""SMPL, SMPL-H and SMPL-X body models: the user's own licensed model files, read without running
pickle code, and the 22 body joints of a parameter sequence by the models' forward kinematics.

mimicsim never ships, downloads or copies a body model. It looks for the user's files under the
folder given as `body_models=` (CLI `--body-models DIR`) or in the `MIMICSIM_BODY_MODELS`
environment variable, in either of the layouts the files are distributed in:

    DIR/smplx/SMPLX_NEUTRAL.npz       the smplx package's layout (.npz before .pkl; also DIR/SMPLX_NEUTRAL.npz)
    DIR/smplh/male/model.npz          AMASS's layout (the extended SMPL+H and SMPL-X models)

`.npz` models are read with pickles refused, and only the arrays the joints need. `.pkl` models
(SMPL 1.1) go through an allow-list that admits NumPy arrays and SciPy's sparse matrix and nothing
else; the original SMPL 1.0 files hold chumpy objects and are refused with a hint.

Joints: the shaped rest joints are the joint regressor applied to the template plus the shape
directions (so betas are respected), then the pose rotations are chained down the kinematic tree
with the smplx package's own Rodrigues and rigid-transform functions, so the result equals
`smplx`'s forward pass. Vertices, pose blend shapes and skinning only move the surface, never the
joints, so they are not computed. One deliberate difference: smplx uses at most 10 betas with a
model that has fewer than 300 shape directions, while mimicsim uses every beta the file has and the
model supports (AMASS's SMPL+H fits carry 16).
"""

from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mimicsim.errors import ConfigError, InputFileError
from mimicsim.npyio import read_bytes, read_npz
from mimicsim.retarget.human.formats.mdm import NumpyOnlyUnpickler
from mimicsim.retarget.human.skeleton import SMPL_JOINTS, SMPL_PARENTS

ENV_VAR = "MIMICSIM_BODY_MODELS"
MODEL_TYPES = ("smpl", "smplh", "smplx")
GENDERS = ("neutral", "male", "female")
NAMES = {"smpl": "SMPL", "smplh": "SMPL-H", "smplx": "SMPL-X"}
JOINT_COUNTS = {"smpl": 24, "smplh": 52, "smplx": 55}
"""Joints of each model; the first 22 are the SMPL body in all three."""
POSE_WIDTHS = {"smpl": 72, "smplh": 156, "smplx": 165}
"""Axis-angle values per frame of a full pose (3 per joint)."""
BODY_POSE_WIDTH = 3 * len(SMPL_JOINTS)
"""Root orientation and the 21 body joints: all the 22 body joints depend on."""
_SMPLX_SHAPE_SPACE = 300
"""SMPL-X 1.1 stores 300 shape then 100 expression directions; SMPL-X 1.0 stores 10 and 10."""
_SMPLX_FULL_DIRS = 400
_ARRAYS = ("v_template", "shapedirs", "J_regressor", "kintree_table")


@dataclass(frozen=True)
class BodyModel:
    """The part of a body model the body joints depend on."""

    model_type: str
    gender: str
    path: Path
    joint_template: np.ndarray
    """(22, 3) body joints of the mean shape, rest pose (model frame: y-up)."""
    joint_shapedirs: np.ndarray
    """(22, 3, S) how each shape direction moves the body joints."""
    joint_exprdirs: np.ndarray
    """(22, 3, E) the same for SMPL-X expression directions (E = 0 for SMPL and SMPL-H)."""

    @property
    def name(self) -> str:
        return f"{NAMES[self.model_type]} {self.gender}"

    @property
    def num_betas(self) -> int:
        return int(self.joint_shapedirs.shape[2])

    def rest_joints(self, betas: np.ndarray, expression: np.ndarray | None = None) -> np.ndarray:
        """(N, 22, 3) shaped rest joints for betas (N, B) (B may exceed `num_betas`: the extra are unused)."""
        from smplx.lbs import blend_shapes

        torch = _torch()
        used = min(betas.shape[1], self.num_betas)
        joints = torch.from_numpy(self.joint_template)[None] + blend_shapes(
            torch.from_numpy(np.ascontiguousarray(betas[:, :used], dtype=np.float64)),
            torch.from_numpy(np.ascontiguousarray(self.joint_shapedirs[:, :, :used])),
        )
        if expression is not None and self.joint_exprdirs.shape[2]:
            used = min(expression.shape[1], self.joint_exprdirs.shape[2])
            joints = joints + blend_shapes(
                torch.from_numpy(np.ascontiguousarray(expression[:, :used], dtype=np.float64)),
                torch.from_numpy(np.ascontiguousarray(self.joint_exprdirs[:, :, :used])),
            )
        return joints.numpy()

    def joints(self, poses: np.ndarray, trans: np.ndarray, rest: np.ndarray) -> np.ndarray:
        """(T, 22, 3) posed body joints (model/world frame of the parameters, metres).

        Args:
            poses: (T, >= 66) axis-angle: root orientation, then the 21 body joints.
            trans: (T, 3) root translation.
            rest: (1 or T, 22, 3) shaped rest joints from `rest_joints`.
        """
        from smplx.lbs import batch_rigid_transform, batch_rodrigues

        torch = _torch()
        frames = poses.shape[0]
        with torch.inference_mode():  # no autograd bookkeeping: a third of a streamed frame's cost
            rotations = batch_rodrigues(
                torch.from_numpy(np.ascontiguousarray(poses[:, :BODY_POSE_WIDTH]).reshape(-1, 3))
            )
            rest_t = torch.from_numpy(np.ascontiguousarray(rest)).expand(frames, -1, -1)
            parents = torch.tensor(SMPL_PARENTS, dtype=torch.long)
            posed, _ = batch_rigid_transform(rotations.reshape(frames, -1, 3, 3), rest_t, parents, dtype=torch.float64)
            return posed.numpy() + trans[:, None, :]


def _torch() -> Any:
    import torch

    return torch


# --- finding the user's model files ----------------------------------------------------------------


def models_directory(directory: str | Path | None, where: Path | None) -> Path:
    """The folder holding the user's body models: `directory`, else $MIMICSIM_BODY_MODELS."""
    chosen = directory if directory is not None else os.environ.get(ENV_VAR) or None
    if chosen is None:
        raise InputFileError(
            where,
            "body-model parameters need the licensed body model, which mimicsim does not ship: pass "
            f"--body-models DIR (Python: body_models=DIR) or set {ENV_VAR} to the folder holding your "
            "model files (e.g. DIR/smplx/SMPLX_NEUTRAL.npz, DIR/smplh/male/model.npz)",
        )
    path = Path(chosen).expanduser()
    if not path.is_dir():
        source = "--body-models" if directory is not None else ENV_VAR
        raise ConfigError(f"{path}: no such folder ({source} must name the folder holding your body-model files)")
    return path


def candidate_files(directory: Path, model_type: str, gender: str) -> list[Path]:
    """Where a model may be, in the order searched."""
    stem = f"{model_type.upper()}_{gender.upper()}"
    return [
        directory / model_type / f"{stem}.npz",
        directory / model_type / f"{stem}.pkl",
        directory / f"{stem}.npz",
        directory / f"{stem}.pkl",
        directory / model_type / gender / "model.npz",
    ]


def locate(directory: Path, model_type: str, gender: str) -> Path:
    """The model file for `model_type` and `gender` under `directory`; a one-line error if absent."""
    candidates = candidate_files(directory, model_type, gender)
    for path in candidates:
        if path.is_file():
            return path
    shown = ", ".join(str(p.relative_to(directory)) for p in candidates[::2])
    raise ConfigError(
        f"{directory}: no {NAMES[model_type]} {gender} body model: expected {shown} (or .pkl) in it; "
        "use your own licensed model files (mimicsim never downloads them), or pass gender= / "
        "model_type= if the motion was fitted with another model"
    )


# --- reading a model file safely --------------------------------------------------------------------

_CHUMPY_REFUSED = (
    "holds chumpy objects (the original SMPL 1.0 .pkl), which mimicsim does not unpickle; use the "
    "chumpy-free SMPL 1.1 .pkl or an .npz model"
)


class _ModelUnpickler(NumpyOnlyUnpickler):
    """NumPy arrays plus SciPy's sparse matrix, in which SMPL .pkl files keep their joint regressor."""

    _SPARSE: ClassVar = {("scipy.sparse.csc", "csc_matrix"), ("scipy.sparse._csc", "csc_matrix")}
    _OBJECT: ClassVar = {("__builtin__", "object"), ("builtins", "object")}
    _RECONSTRUCTOR: ClassVar = {("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor")}
    _BYTES = ("_codecs", "encode")  # how protocol-2 pickles written by Python 3 carry raw bytes

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("chumpy"):
            raise pickle.UnpicklingError(_CHUMPY_REFUSED)
        if (module, name) in self._SPARSE:
            from scipy.sparse import csc_matrix

            return csc_matrix
        if (module, name) in self._OBJECT:
            return object
        if (module, name) == self._BYTES:
            import codecs

            return codecs.encode
        if (module, name) in self._RECONSTRUCTOR:
            import copyreg

            return copyreg._reconstructor  # type: ignore[attr-defined]
        return super().find_class(module, name)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays `_ARRAYS` of a model file (.npz or .pkl), dense, without running pickle code."""
    if path.suffix.lower() == ".npz":
        out: dict[str, Any] = read_npz(path, keys=_ARRAYS)  # official SMPL-X files also hold pickled dicts
        missing = [k for k in _ARRAYS if k not in out]
        if missing:
            raise InputFileError(path, f"not a body model: no {', '.join(missing)} array")
    else:
        try:
            loaded = _ModelUnpickler(io.BytesIO(read_bytes(path)), encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise InputFileError(path, f"cannot read the body model: {exc}") from None
        if not isinstance(loaded, dict):
            raise InputFileError(path, f"not a body model: the pickle holds {type(loaded).__name__}, not a dict")
        missing = [k for k in _ARRAYS if k not in loaded]
        if missing:
            raise InputFileError(path, f"not a body model: no {', '.join(missing)} entry")
        out = {k: loaded[k] for k in _ARRAYS}
    try:
        return {k: np.asarray(v.toarray() if hasattr(v, "toarray") else v) for k, v in out.items()}
    except Exception as exc:  # a sparse matrix whose state was tampered with
        raise InputFileError(path, f"malformed body-model arrays ({type(exc).__name__}: {exc})") from None


def _model_type_of(joint_count: int) -> str | None:
    return next((t for t, n in JOINT_COUNTS.items() if n == joint_count), None)


def read_model(path: Path, model_type: str | None, gender: str) -> BodyModel:
    """A `BodyModel` from a model file, checked to be the SMPL family (and `model_type`, if given)."""
    arrays = _read_arrays(path)
    template, shapedirs = arrays["v_template"], arrays["shapedirs"]
    regressor, tree = arrays["J_regressor"], arrays["kintree_table"]
    if shapedirs.ndim == 2:  # a single direction stored flat
        shapedirs = shapedirs[:, :, None]
    vertices = template.shape[0] if template.ndim == 2 else -1
    if (
        template.shape != (vertices, 3)
        or shapedirs.shape[:2] != (vertices, 3)
        or regressor.ndim != 2
        or regressor.shape[1] != vertices
        or tree.ndim != 2
        or tree.shape != (2, regressor.shape[0])
    ):
        raise InputFileError(
            path,
            f"inconsistent body model: v_template {template.shape}, shapedirs {shapedirs.shape}, "
            f"J_regressor {regressor.shape}, kintree_table {tree.shape}",
        )
    found = _model_type_of(regressor.shape[0])
    parents = tree[0].astype(np.int64)[: len(SMPL_PARENTS)]
    if found is None or tuple(parents[1:].tolist()) != SMPL_PARENTS[1:]:
        raise InputFileError(
            path, f"not an SMPL, SMPL-H or SMPL-X model ({regressor.shape[0]} joints, or another kinematic tree)"
        )
    if model_type is not None and found != model_type:
        raise InputFileError(
            path,
            f"this is an {NAMES[found]} model ({regressor.shape[0]} joints), but the motion needs "
            f"{NAMES[model_type]} ({JOINT_COUNTS[model_type]} joints)",
        )
    numeric = (template, shapedirs, regressor)
    if not all(np.issubdtype(a.dtype, np.number) and np.isfinite(a).all() for a in numeric):
        raise InputFileError(path, "the body model holds non-numeric, NaN or infinite values")
    body = regressor[: len(SMPL_JOINTS)].astype(np.float64)
    directions = np.einsum("jv,vcs->jcs", body, shapedirs.astype(np.float64))
    shape_space = directions.shape[2]
    if found == "smplx":
        shape_space = _SMPLX_SHAPE_SPACE if shape_space >= _SMPLX_FULL_DIRS else min(10, shape_space)
    return BodyModel(
        model_type=found,
        gender=gender,
        path=path,
        joint_template=body @ template.astype(np.float64),
        joint_shapedirs=np.ascontiguousarray(directions[:, :, :shape_space]),
        joint_exprdirs=np.ascontiguousarray(
            directions[:, :, shape_space:] if found == "smplx" else directions[:, :, :0]
        ),
    )


_CACHE: dict[tuple[Path, str, str, float], BodyModel] = {}


def load_body_model(directory: str | Path | None, model_type: str, gender: str, where: Path | None = None) -> BodyModel:
    """The user's body model (read once per process and file version).

    Args:
        directory: The models folder (None: $MIMICSIM_BODY_MODELS).
        model_type: smpl, smplh or smplx.
        gender: neutral, male or female.
        where: The motion file that needs the model, named in the error when no folder is set.
    """
    if model_type not in MODEL_TYPES:
        raise ConfigError(f"model_type={model_type!r}: use one of {', '.join(MODEL_TYPES)}")
    if gender not in GENDERS:
        raise ConfigError(f"gender={gender!r}: use one of {', '.join(GENDERS)}")
    path = locate(models_directory(directory, where), model_type, gender)
    key = (path.resolve(), model_type, gender, path.stat().st_mtime)
    if key not in _CACHE:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = read_model(path, model_type, gender)
    return _CACHE[key]
