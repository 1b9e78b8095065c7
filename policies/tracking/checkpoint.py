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

from mimicsim.atomic import atomic_path
from mimicsim.envs.tracking.config import TrackingEnvCfg
from mimicsim.errors import InputFileError
from mimicsim.policies.tracking.tracker import Actor, TorchTracker, actor_weights

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
            **arrays,
        )
    return Path(path)


def read_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = dict(npz.items())
        header = json.loads(str(files["header"]))
    except FileNotFoundError:
        raise InputFileError(path, "no such checkpoint") from None
    except Exception as exc:  # numpy and json raise many types for foreign files
        raise InputFileError(path, f"not a mimicsim tracker checkpoint ({exc})") from None
    if header.get("schema") != SCHEMA:
        raise InputFileError(path, f"checkpoint schema is {header.get('schema')!r}, expected {SCHEMA!r}")
    optimizer: dict[int, dict[str, np.ndarray]] = {}
    for key, value in files.items():
        if key.startswith("optimizer/"):
            _, index, name = key.split("/", 2)
            optimizer.setdefault(int(index), {})[name] = value
    return Checkpoint(
        header=header,
        policy={k[len("policy/") :]: v for k, v in files.items() if k.startswith("policy/")},
        optimizer=optimizer,
        obs_mean=files["obs_mean"],
        obs_var=files["obs_var"],
        obs_count=float(files["obs_count"]),
    )


def restore_training(checkpoint: Checkpoint, model, obs_rms) -> None:
    """Load weights, optimiser state, normalisation statistics and the step count into a freshly
    built PPO (same settings) and its VecNormalize statistics."""
    model.policy.load_state_dict({k: torch.as_tensor(v) for k, v in checkpoint.policy.items()})
    groups = checkpoint.header["optimizer_param_groups"]
    state = {
        index: {k: torch.as_tensor(v) for k, v in values.items()} for index, values in checkpoint.optimizer.items()
    }
    model.policy.optimizer.load_state_dict(
        {"state": state, "param_groups": [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in groups]}
    )
    obs_rms.mean, obs_rms.var, obs_rms.count = (
        checkpoint.obs_mean.copy(),
        checkpoint.obs_var.copy(),
        checkpoint.obs_count,
    )
    model.num_timesteps = int(checkpoint.header["num_timesteps"])
