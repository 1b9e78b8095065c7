"""`being-h0:PATH`: a Being-H0 checkpoint run in this process, through Being-H0's own package.

mimicsim depends on nothing of Being-H0's: its package (`beingvla`, from the BeingBeyond/Being-H0
repository; not on PyPI) and `transformers` are imported only when such a policy is made, and a
one-line error names what is missing. The checkpoint is read from disk only (nothing is downloaded
at run time). The steps are those of Being-H0's released server: the model in bfloat16 and its
tokenizer from PATH, the special token ids set from the tokenizer, the image through Being-H0's own
eval transform at the model's `force_image_size`, then `model.get_action(...)` for an
(H, action_dim) chunk — H = `VlaConfig.action_horizon`. State and actions go through the same
`VlaConfig` mapping as the ZeroMQ adapter; a model that returns nothing gives an all-zero chunk,
flagged like the released server's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mimicsim.errors import InputFileError
from mimicsim.policies.manipulation.vla_config import VlaConfig, import_or_explain

# Being-H0's public entry points (the modules its released server imports).
MODEL_MODULE = "beingvla.models.vla.being_vla_model"
TRANSFORM_MODULE = "beingvla.dataset.datasets"
_INSTALL_HINT = "install Being-H0's package (github.com/BeingBeyond/Being-H0, `pip install -e .`) with its requirements"


class BeingH0Policy:
    """A Being-H0 checkpoint folder `path` as a `Policy` (see the module docstring)."""

    def __init__(self, path: Path, config: VlaConfig | None = None, *, device: str | None = None):
        self.config = config or VlaConfig()
        self.path = Path(path)
        import torch

        model_module = import_or_explain(MODEL_MODULE, "being-h0:PATH", _INSTALL_HINT)
        transform_module = import_or_explain(TRANSFORM_MODULE, "being-h0:PATH", _INSTALL_HINT)
        transformers = import_or_explain("transformers", "being-h0:PATH", _INSTALL_HINT)
        if not self.path.is_dir():
            raise InputFileError(self.path, "not a folder; being-h0:PATH takes a Being-H0 checkpoint folder")
        self._torch = torch
        self._device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        horizon = self.config.action_horizon
        model = model_module.BeingVLAModel.from_pretrained(
            str(self.path), torch_dtype=torch.bfloat16, local_files_only=True
        )
        self._model = model.to(self._device).eval()
        self._tokenizer = transformers.AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        self._model.img_context_token_id = self._tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
        self._model.prop_context_token_id = self._tokenizer.convert_tokens_to_ids("<PROP_CONTEXT>")
        self._model.action_chunk_token_ids = self._tokenizer.convert_tokens_to_ids(
            [f"<ACTION_CHUNK_{i}>" for i in range(horizon)]
        )
        image_size = self._model.config.vlm_config.get("force_image_size", 448)
        self._transform = transform_module.build_transform(
            is_train=False, input_size=image_size, normalize_type="imagenet"
        )
        self._metadata = self.config.metadata("being-h0", self.path.name)

    def reset(self) -> None:
        """Being-H0 keeps no state between queries."""

    def infer(self, obs: Mapping[str, Any]) -> dict[str, Any]:
        from PIL import Image

        torch = self._torch
        image = Image.fromarray(np.asarray(obs["image"][self.config.camera], dtype=np.uint8)).convert("RGB")
        pixels = self._transform(image).unsqueeze(0).to(self._device, dtype=torch.bfloat16)
        state = torch.tensor(self.config.to_policy_state(obs["state"]), dtype=torch.bfloat16).to(self._device)
        with torch.no_grad():
            chunk = self._model.get_action(
                tokenizer=self._tokenizer,
                pixel_values=pixels,
                proprioception_values=state,
                task_description=str(obs.get("instruction", "")),
                action_chunk_length=self.config.action_horizon,
                verbose=False,
            )
        if chunk is None:
            chunk = np.zeros((self.config.action_horizon, len(obs["state"])))
        else:
            chunk = chunk.detach().to(torch.float32).cpu().numpy()
        return self.config.chunk_result(chunk, self.config.policy_hz, self._metadata["action_horizon"], "being-h0")

    def metadata(self) -> dict[str, Any]:
        return dict(self._metadata)
