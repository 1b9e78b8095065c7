"""Training checkpoints of tracking policies: one npz (no pickle) holding the PPO policy and value
networks, the optimiser state, the observation-normalisation statistics and a JSON header (schema,
tracker metadata, PPO settings, timesteps), so training can resume exactly and a policy can be
loaded without trusting executable content.

(stable-baselines3's own .zip embeds cloudpickled objects, which this project does not write.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mimicsim.assets import robot_names
from mimicsim.atomic import atomic_path
from mimicsim.envs.tracking.config import TrackingEnvCfg
from mimicsim.errors import ConfigError, InputFileError, MimicsimError
from mimicsim.npyio import read_npz
from mimicsim.policies.tracking.tracker import ACTIVATIONS, Actor, TorchTracker, actor_weights

SCHEMA = "mimicsim.tracker_checkpoint/1"


@dataclass
class Checkpoint:
    header: dict[str, Any]
    """schema, tracker (see tracker_metadata), ppo, num_timesteps, learning_rate, obs_clip,
    obs_epsilon, optimizer_param_groups, and whatever training added (wall time, motions)."""
    policy: dict[str, np.ndarray]
    optimizer: dict[int, dict[str, np.ndarray]]
    obs_mean: np.ndarray
    obs_var: np.ndarray
    obs_count: float

    @property
    def env_cfg(self) -> TrackingEnvCfg:
        return TrackingEnvCfg.from_dict(self.header["tracker"]["env"])

    def actor(self) -> Actor:
        return Actor(
            actor_weights(self.policy),
            self.header["ppo"]["activation"],
            self.obs_mean,
            self.obs_var,
            self.header["obs_clip"],
            self.header["obs_epsilon"],
        )

    def tracker(self) -> TorchTracker:
        return TorchTracker(self.actor(), self.header["tracker"])


def save_checkpoint(path: str | Path, model, obs_rms, header: dict[str, Any]) -> Path:
    """Write `model` (an SB3 PPO), `obs_rms` (VecNormalize's RunningMeanStd) and `header`."""
    arrays: dict[str, np.ndarray] = {
        f"policy/{k}": v.detach().cpu().numpy() for k, v in model.policy.state_dict().items()
    }
    optim = model.policy.optimizer.state_dict()
    for index, state in optim["state"].items():
        for key, value in state.items():
            arrays[f"optimizer/{index}/{key}"] = torch.as_tensor(value).cpu().numpy()
    header = {
        **header,
        "schema": SCHEMA,
        "num_timesteps": int(model.num_timesteps),
        "optimizer_param_groups": [
            {k: v for k, v in g.items() if k != "params"} | {"params": g["params"]} for g in optim["param_groups"]
        ],
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            header=np.str_(json.dumps(header)),
            obs_mean=obs_rms.mean,
            obs_var=obs_rms.var,
            obs_count=np.float64(obs_rms.count),
            **arrays,  # type: ignore[arg-type]  # numpy's stub types **kwds as its allow_pickle flag
        )
    return Path(path)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate a checkpoint: the header (schema, a registered robot, an environment
    configuration this version knows), the actor's weights and the observation statistics (present,
    of matching shapes, finite), each problem an `InputFileError` naming it."""
    path = Path(path)
    files = read_npz(path)
    try:
        header = json.loads(str(files["header"]))
    except KeyError:
        raise InputFileError(path, "not a mimicsim tracker checkpoint (no header)") from None
    except json.JSONDecodeError as exc:
        raise InputFileError(path, f"the checkpoint's header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("schema") != SCHEMA:
        got = header.get("schema") if isinstance(header, dict) else header
        raise InputFileError(path, f"checkpoint schema is {got!r}, expected {SCHEMA!r}")
    optimizer: dict[int, dict[str, np.ndarray]] = {}
    for key, value in files.items():
        if key.startswith("optimizer/"):
            _, index, name = key.split("/", 2)
            optimizer.setdefault(int(index), {})[name] = value
    missing = [k for k in ("obs_mean", "obs_var", "obs_count") if k not in files]
    if missing:
        raise InputFileError(path, f"the checkpoint lacks {', '.join(missing)}")
    checkpoint = Checkpoint(
        header=header,
        policy={k[len("policy/") :]: v for k, v in files.items() if k.startswith("policy/")},
        optimizer=optimizer,
        obs_mean=files["obs_mean"],
        obs_var=files["obs_var"],
        obs_count=float(files["obs_count"]),
    )
    _validate(checkpoint, path)
    return checkpoint


def _validate(checkpoint: Checkpoint, path: Path) -> None:
    header = checkpoint.header
    try:
        tracker, ppo = header["tracker"], header["ppo"]
        env_cfg = checkpoint.env_cfg
        activation = ppo["activation"]
        float(header["obs_clip"]), float(header["obs_epsilon"])
    except (KeyError, TypeError, ValueError, MimicsimError) as exc:
        raise InputFileError(path, f"the checkpoint's header is incomplete or invalid ({exc})") from None
    if env_cfg.robot not in robot_names() or tracker.get("robot") != env_cfg.robot:
        raise InputFileError(
            path,
            f"the checkpoint is for robot {tracker.get('robot')!r}, which is not registered "
            f"(known: {', '.join(robot_names())})",
        )
    if activation not in ACTIVATIONS:
        raise InputFileError(path, f"unknown activation {activation!r} (known: {', '.join(ACTIVATIONS)})")
    try:
        weights = actor_weights(checkpoint.policy)
    except KeyError as exc:
        raise InputFileError(path, f"the checkpoint lacks the actor's weights ({exc})") from None
    size = sum(n for _, n in tracker.get("observation_layout", [])) or checkpoint.obs_mean.shape[-1]
    expected_in = size
    for i, (w, b) in enumerate(weights):
        if w.ndim != 2 or b.shape != (w.shape[0],) or w.shape[1] != expected_in:
            raise InputFileError(
                path,
                f"the actor's layer {i} has shapes {w.shape} and {b.shape}, which do not take {expected_in} inputs",
            )
        expected_in = w.shape[0]
    if expected_in != len(tracker.get("joint_names", [])):
        raise InputFileError(
            path, f"the actor outputs {expected_in} actions for {len(tracker.get('joint_names', []))} joints"
        )
    for name, array in (("obs_mean", checkpoint.obs_mean), ("obs_var", checkpoint.obs_var)):
        if array.shape != (size,):
            raise InputFileError(path, f"{name} has shape {array.shape}, expected {(size,)}")
    arrays = [checkpoint.obs_mean, checkpoint.obs_var, *(a for pair in weights for a in pair)]
    if not all(a.dtype.kind == "f" and np.isfinite(a).all() for a in arrays):
        raise InputFileError(
            path,
            "the checkpoint holds NaN or infinite weights or statistics: training diverged; "
            "resume from an earlier checkpoint",
        )
    if (checkpoint.obs_var < 0).any():
        raise InputFileError(path, "obs_var has negative variances")


def restore_training(checkpoint: Checkpoint, model, obs_rms) -> None:
    """Load weights, optimiser state, normalisation statistics and the step count into a freshly
    built PPO (same settings) and its VecNormalize statistics."""
    groups = checkpoint.header.get("optimizer_param_groups", [])
    state = {
        index: {k: torch.as_tensor(v) for k, v in values.items()} for index, values in checkpoint.optimizer.items()
    }
    try:
        model.policy.load_state_dict({k: torch.as_tensor(v) for k, v in checkpoint.policy.items()})
        model.policy.optimizer.load_state_dict(
            {"state": state, "param_groups": [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in groups]}
        )
        model.num_timesteps = int(checkpoint.header["num_timesteps"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"the checkpoint does not fit this run's network or optimiser ({str(exc).splitlines()[0]}); "
            "resume with the settings it was trained with"
        ) from None
    obs_rms.mean, obs_rms.var, obs_rms.count = (
        checkpoint.obs_mean.copy(),
        checkpoint.obs_var.copy(),
        checkpoint.obs_count,
    )
