"""A trained tracking policy as it is deployed: observation normalisation followed by the actor's
mean action, and the metadata a runtime needs (joint order, PD gains, action scale and offset,
default pose, observation layout, the environment configuration).

`TorchTracker` (from a training checkpoint) and `OnnxTracker` (an exported policy) both give
`Tracker.act(obs) -> actions` for a batch of observations; `load.load_tracker(path)` picks one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from mimicsim.assets import load_robot
from mimicsim.envs.tracking.batch import action_scale, observation_layout
from mimicsim.envs.tracking.config import TrackingEnvCfg
from mimicsim.errors import InputFileError

METADATA_SCHEMA = "mimicsim.tracker/1"
ACTIVATIONS = {"elu": torch.nn.ELU, "relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}


def tracker_metadata(env_cfg: TrackingEnvCfg, **extra: Any) -> dict[str, Any]:
    """Everything a runtime needs besides the weights. The action is applied as
    `target = offset + action_scale * action` with offset = `default_joint_pos`, or the reference's
    joint positions at the next frame when `action_offset` is "reference"."""
    spec = load_robot(env_cfg.robot)
    return {
        "schema": METADATA_SCHEMA,
        "robot": spec.name,
        "joint_names": list(spec.joint_names),
        "kp": spec.kp.tolist(),
        "kd": spec.kd.tolist(),
        "action_scale": action_scale(spec, env_cfg).tolist(),
        "action_offset": env_cfg.action.offset,
        "default_joint_pos": spec.default_joint_pos.tolist(),
        "observation_layout": [[name, size] for name, size in observation_layout(env_cfg, spec.dof)],
        "policy_dt": env_cfg.policy_dt,
        "env": env_cfg.to_dict(),
        **extra,
    }


class Actor(torch.nn.Module):
    """Normalised observation -> MLP -> mean action."""

    def __init__(
        self,
        weights: list[tuple[np.ndarray, np.ndarray]],
        activation: str,
        obs_mean: np.ndarray,
        obs_var: np.ndarray,
        obs_clip: float,
        obs_epsilon: float,
    ):
        super().__init__()
        layers: list[torch.nn.Module] = []
        for i, (w, b) in enumerate(weights):
            linear = torch.nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                linear.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
                linear.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
            layers.append(linear)
            if i < len(weights) - 1:
                layers.append(ACTIVATIONS[activation]())
        self.net = torch.nn.Sequential(*layers)
        self.register_buffer("obs_mean", torch.as_tensor(obs_mean, dtype=torch.float32))
        self.register_buffer("obs_scale", torch.as_tensor(1.0 / np.sqrt(obs_var + obs_epsilon), dtype=torch.float32))
        self.obs_clip = float(obs_clip)
        self.obs_mean: torch.Tensor
        self.obs_scale: torch.Tensor

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = torch.clamp((obs - self.obs_mean) * self.obs_scale, -self.obs_clip, self.obs_clip)
        return self.net(x)


def actor_weights(policy: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The actor's (weight, bias) pairs, in order, from an SB3 ActorCriticPolicy state dict."""
    hidden = sorted({int(k.split(".")[2]) for k in policy if k.startswith("mlp_extractor.policy_net.")})
    pairs = [
        (policy[f"mlp_extractor.policy_net.{i}.weight"], policy[f"mlp_extractor.policy_net.{i}.bias"]) for i in hidden
    ]
    return [*pairs, (policy["action_net.weight"], policy["action_net.bias"])]


class Tracker(Protocol):
    metadata: dict[str, Any]

    @property
    def env_cfg(self) -> TrackingEnvCfg: ...

    def act(self, obs: np.ndarray) -> np.ndarray: ...


class TorchTracker:
    def __init__(self, actor: Actor, metadata: dict[str, Any]):
        self.actor, self.metadata = actor.eval(), metadata

    @property
    def env_cfg(self) -> TrackingEnvCfg:
        return TrackingEnvCfg.from_dict(self.metadata["env"])

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.actor(torch.as_tensor(obs, dtype=torch.float32)).numpy()


class OnnxTracker:
    def __init__(self, path: Path):
        import onnx
        import onnxruntime

        try:
            props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
            self.metadata = json.loads(props["mimicsim"])
        except Exception as exc:  # onnx raises several types for damaged files
            raise InputFileError(path, f"not an ONNX tracking policy exported by mimicsim ({exc})") from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # single observations: threads cost more than they save
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @property
    def env_cfg(self) -> TrackingEnvCfg:
        return TrackingEnvCfg.from_dict(self.metadata["env"])

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.session.run(["actions"], {"obs": np.asarray(obs, dtype=np.float32)})[0]
