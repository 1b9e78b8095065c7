"""`lerobot:PATH`: a LeRobot policy saved with `save_pretrained`, run in this process.

`lerobot` is imported only when such a policy is made. Its releases for Python 3.11 require torch
< 2.11, so it cannot live in mimicsim's own environment (torch 2.13): run it where it installs,
either as `lerobot:PATH` in an environment of its own, or behind `mimicsim serve --protocol ws` /
any openpi-style websocket server, scored with `--policy ws://host:port` (see the README). Without
`lerobot` a one-line error says so.

The policy is loaded from PATH only (`config.json`, weights and, in LeRobot >= 0.4, the saved
pre- and post-processors that normalise its inputs and outputs). Observations follow LeRobot's
names: `observation.state` (the 13-D state in `VlaConfig`'s units), the policy's first image
feature filled with `VlaConfig.camera` (float 0..1, channels first) and `task`; the answer is the
policy's action chunk (`predict_action_chunk`), at `VlaConfig.policy_hz`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mimicsim.errors import InputFileError
from mimicsim.policies.manipulation.vla_config import VlaConfig, import_or_explain

_HINT = (
    "lerobot requires torch < 2.11 and cannot share mimicsim's torch 2.13: serve the policy from "
    "an environment with lerobot and score it with --policy ws://host:port (README: LeRobot policies)"
)


class LeRobotPolicy:
    """A LeRobot `save_pretrained` folder `path` as a `Policy` (see the module docstring)."""

    def __init__(self, path: Path, config: VlaConfig | None = None, *, device: str = "cpu"):
        self.config = config or VlaConfig()
        self.path = Path(path)
        factory = import_or_explain("lerobot.policies.factory", "lerobot:PATH", _HINT)
        saved = self.path / "config.json"
        if not saved.is_file():
            raise InputFileError(self.path, "no config.json: lerobot:PATH takes a folder written by save_pretrained")
        kind = json.loads(saved.read_text()).get("type")
        import torch

        self._torch = torch
        self._device = torch.device(device)
        self._policy = factory.get_policy_class(kind).from_pretrained(str(self.path)).to(self._device).eval()
        self._pre, self._post = factory.make_pre_post_processors(
            policy_cfg=self._policy.config, pretrained_path=str(self.path)
        )
        images = [key for key in self._policy.config.input_features if key.startswith("observation.image")]
        self._image_key = images[0] if images else None
        self._metadata = self.config.metadata(f"lerobot {kind}", self.path.name)
        if self._image_key is None:
            self._metadata = {**self._metadata, "cameras": [], "image_size": None}

    def reset(self) -> None:
        self._policy.reset()

    def infer(self, obs: Mapping[str, Any]) -> dict[str, Any]:
        torch = self._torch
        batch: dict[str, Any] = {
            "observation.state": torch.from_numpy(self.config.to_policy_state(obs["state"])),
            "task": str(obs.get("instruction", "")),
        }
        if self._image_key is not None:
            image = np.asarray(obs["image"][self.config.camera], dtype=np.float32) / 255.0
            batch[self._image_key] = torch.from_numpy(image).permute(2, 0, 1).contiguous()
        with torch.no_grad():
            chunk = self._policy.predict_action_chunk(self._pre(batch))
            chunk = self._post(chunk)
        chunk = chunk.detach().to(torch.float32).cpu().numpy().reshape(-1, chunk.shape[-1])
        return self.config.chunk_result(chunk, self.config.policy_hz, self._metadata["action_horizon"], "lerobot")

    def metadata(self) -> dict[str, Any]:
        return dict(self._metadata)
