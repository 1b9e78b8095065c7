"""Export a trained tracker to ONNX: input `obs` (batch, obs_size) float32, raw as the environment
produces it (normalisation is inside the graph); output `actions` (batch, joints).

The file carries its metadata (ONNX `metadata_props`): key "mimicsim" holds the whole description as
JSON (see `tracker_metadata`: joint order, PD gains, action scale and offset, default pose,
observation layout, policy rate, environment configuration), and the main facts are repeated under
their own keys as comma-separated values, the convention of BeyondMimic/mjlab deployment code. The
same JSON is written beside the model (`<name>.json`) for people and tools without an ONNX parser.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import onnx
import torch

from mimicsim.atomic import atomic_path, write_text_atomic
from mimicsim.policies.tracking.checkpoint import read_checkpoint

_CSV_KEYS = ("joint_names", "kp", "kd", "action_scale", "default_joint_pos")


def export_onnx(checkpoint: str | Path, out: str | Path) -> Path:
    """Write `out` (.onnx) and `out` with suffix .json from a training checkpoint."""
    ckpt = read_checkpoint(checkpoint)
    actor = ckpt.actor().eval()
    # File names, not paths: the export travels to other machines.
    metadata = {
        **ckpt.header["tracker"],
        "motions": [Path(m).name for m in ckpt.header["tracker"].get("motions", [])],
        "checkpoint": Path(checkpoint).name,
        "num_timesteps": ckpt.header["num_timesteps"],
        "inputs": {"obs": "raw observation (batch, obs_size) float32, see observation_layout"},
        "outputs": {"actions": "(batch, joints): target = offset + action_scale * action"},
    }
    obs_size = sum(size for _, size in metadata["observation_layout"])
    out = Path(out)
    with atomic_path(out) as tmp, warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of one that needs onnxscript; this
        # small MLP exports identically with it.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            actor,
            (torch.zeros(1, obs_size),),
            str(tmp),
            input_names=["obs"],
            output_names=["actions"],
            dynamic_axes={"obs": {0: "batch"}, "actions": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
        model = onnx.load(str(tmp))
        props = {"mimicsim": json.dumps(metadata)}
        props.update({key: ",".join(str(v) for v in metadata[key]) for key in _CSV_KEYS})
        props["observation_names"] = ",".join(name for name, _ in metadata["observation_layout"])
        for key, value in props.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, str(tmp))
    write_text_atomic(out.with_suffix(".json"), json.dumps(metadata, indent=2))
    return out
