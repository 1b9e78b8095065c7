"""How to read a human motion file: the options of every verb that reads one (`motion info`,
`motion render`, `retarget`, `retarget-batch`), defined once."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal

import tyro

from mimicsim.errors import ConfigError
from mimicsim.retarget.human.formats import load_motion
from mimicsim.retarget.human.motion import HumanMotion

_PATHS = ("mean", "std", "mapping", "body_models")


@dataclass(frozen=True)
class ReadOptions:
    """How to read the file (all optional: the format and its conventions are detected)."""

    format: Literal["humanml3d", "rep272", "joints", "mdm", "bvh", "npz", "smpl"] | None = None
    """File format; detected from the extension and array shape when omitted. mdm must be asked for
    (it unpickles the file: trusted files only)."""
    fps: float | None = None
    """Frame rate of .npy files (default 20 for HumanML3D-family, 30 for 272-dim)."""
    mean: Path | None = None
    """Mean.npy the features were normalised with (263/272-dim features)."""
    std: Path | None = None
    """Std.npy the features were normalised with."""
    up: str | None = None
    """The file's up axis (x, y, z, -y, ... or auto)."""
    units: str | None = None
    """m, cm, mm, cmu, in, or metres per unit (BVH default: detected)."""
    mapping: Path | None = None
    """JSON joint mapping onto the 22 SMPL joints, for unknown skeletons."""
    sample: int | None = None
    """Sample index in MDM results / (N, 22, 3, T) batches."""
    body_models: Path | None = None
    """For SMPL / SMPL-H / SMPL-X parameter files (AMASS and the like): the folder with your licensed
    model files (smplx/SMPLX_NEUTRAL.npz, smplh/male/model.npz, ...); default: $MIMICSIM_BODY_MODELS."""
    gender: Literal["neutral", "male", "female"] | None = None
    """Body model gender (default: the file's, else neutral)."""
    model_type: Literal["smpl", "smplh", "smplx"] | None = None
    """Body model (default: the file's, else from the pose width)."""

    def load(self, path: Path) -> HumanMotion:
        """The motion; loader warnings stay in `source.details["warning"]`."""
        options = {k: v for k, v in asdict(self).items() if v is not None and k != "format"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return load_motion(path, self.format, **options)

    def to_dict(self) -> dict[str, Any]:
        """The options that are set, as JSON-able values; file paths made absolute, so that a
        worker started elsewhere reads the same files."""
        return {k: str(Path(v).resolve()) if k in _PATHS else v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ReadOptions:
        """The inverse of `to_dict`; unknown names are a `ConfigError`."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown read option {', '.join(unknown)}")
        return cls(**{k: Path(v) if k in _PATHS else v for k, v in values.items()})  # type: ignore[arg-type]


Options = Annotated[ReadOptions, tyro.conf.OmitArgPrefixes]
"""`ReadOptions` as a verb's flags: `--format --fps --up --units --mapping --mean --std --sample`."""
