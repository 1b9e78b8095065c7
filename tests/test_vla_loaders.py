"""In-process VLA loaders (`being-h0:PATH`, `lerobot:PATH`) and the VLA configuration's mapping."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mimicsim.assets.hand_mapping import HAND_LOWER, HAND_UPPER, MUJOCO_HAND_ORDER
from mimicsim.cli import main as cli_main
from mimicsim.errors import ConfigError
from mimicsim.policies.manipulation.factory import make_policy
from mimicsim.policies.manipulation.vla_config import VlaConfig, resample_chunk

# A stand-in for Being-H0's package with the signatures its released server uses.
STAND_IN = {
    "beingvla/__init__.py": "",
    "beingvla/models/__init__.py": "",
    "beingvla/models/vla/__init__.py": "",
    "beingvla/models/vla/being_vla_model.py": """
        import torch

        CALLS = []


        class _Config:
            vlm_config = {"force_image_size": 32}


        class BeingVLAModel:
            config = _Config()

            @classmethod
            def from_pretrained(cls, path, torch_dtype=None, **kwargs):
                model = cls()
                model.loaded = (path, torch_dtype, kwargs)
                return model

            def to(self, device):
                return self

            def eval(self):
                return self

            def get_action(self, tokenizer, pixel_values, proprioception_values, task_description,
                           action_chunk_length, verbose=True):
                CALLS.append({"pixels": pixel_values, "state": proprioception_values, "task": task_description,
                              "ids": (self.img_context_token_id, self.prop_context_token_id,
                                      self.action_chunk_token_ids), "loaded": self.loaded})
                if task_description == "fail":
                    return None
                steps = 0.01 * torch.arange(1, action_chunk_length + 1, dtype=torch.float32)[:, None]
                return (proprioception_values.float()[None, :] + steps).to(torch.bfloat16)
    """,
    "beingvla/dataset/__init__.py": "",
    "beingvla/dataset/datasets.py": """
        import numpy as np
        import torch


        def build_transform(is_train, input_size, normalize_type):
            def transform(image):
                array = np.asarray(image.resize((input_size, input_size)), dtype=np.float32) / 255.0
                return torch.from_numpy(array).permute(2, 0, 1)
            return transform
    """,
    "transformers/__init__.py": """
        class _Tokenizer:
            def convert_tokens_to_ids(self, tokens):
                return [len(t) for t in tokens] if isinstance(tokens, list) else len(tokens)


        class AutoTokenizer:
            @staticmethod
            def from_pretrained(path, **kwargs):
                assert kwargs.get("local_files_only") is True
                return _Tokenizer()
    """,
}


@pytest.fixture
def being_h0_package(tmp_path, monkeypatch):
    for name, text in STAND_IN.items():
        path = tmp_path / "site" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    _forget_stand_in()
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    checkpoint = tmp_path / "Being-H0-8B-Align"
    checkpoint.mkdir()
    yield checkpoint
    _forget_stand_in()


def _forget_stand_in() -> None:
    for module in [m for m in sys.modules if m.split(".")[0] in ("beingvla", "transformers")]:
        del sys.modules[module]


def obs(instruction: str = "pour the beans") -> dict:
    return {
        "image": {"wrist": np.full((20, 30, 3), 255, np.uint8)},
        "state": np.linspace(-0.5, 0.5, 13).astype(np.float32),
        "instruction": instruction,
    }


def test_being_h0_runs_in_process_through_its_public_entry_points(being_h0_package, tmp_path):
    from beingvla.models.vla.being_vla_model import CALLS

    config = tmp_path / "vla.json"
    config.write_text(json.dumps({"control_hz": 20, "camera": "wrist", "action_horizon": 8}))
    policy = make_policy(f"being-h0:{being_h0_package}", "pour", policy_config=config)
    meta = policy.metadata()
    assert meta["name"] == "being-h0" and meta["version"] == "Being-H0-8B-Align"
    assert meta["action_horizon"] == 8 and meta["cameras"] == ["wrist"]
    result = policy.infer(obs())
    call = CALLS[-1]
    path, dtype, kwargs = call["loaded"]
    assert path == str(being_h0_package) and str(dtype) == "torch.bfloat16" and kwargs == {"local_files_only": True}
    assert tuple(call["pixels"].shape) == (1, 3, 32, 32) and str(call["pixels"].dtype) == "torch.bfloat16"
    assert float(call["pixels"].float().min()) == 1.0  # the wrist image, resized to force_image_size
    assert call["task"] == "pour the beans" and call["ids"] == (13, 14, [16] * 8)
    expected = obs()["state"][None, :] + 0.01 * np.arange(1, 9)[:, None]
    np.testing.assert_allclose(result["actions"], expected, atol=0.01)  # bfloat16 in and out
    assert not result["zero_chunk"]
    failed = policy.infer(obs("fail"))
    assert failed["zero_chunk"] and failed["actions"].shape == (8, 13)


def test_missing_packages_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="needs the Python module 'beingvla', which is not installed"):
        make_policy(f"being-h0:{tmp_path}", "pour")
    with pytest.raises(ConfigError, match="give the checkpoint folder"):
        make_policy("lerobot:", "pour")
    result = subprocess.run(
        [sys.executable, "-m", "mimicsim.cli", "eval", "--policy", f"lerobot:{tmp_path}", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "needs the Python module 'lerobot'" in lines[0] and "torch < 2.11" in lines[0] and "ws://" in lines[0]
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------- VlaConfig


def test_hand_units_map_both_ways():
    state = np.concatenate([np.linspace(-1, 1, 7), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]])
    hardware = VlaConfig(hand_units="hardware").to_policy_state(state)
    np.testing.assert_allclose(hardware[7:], [1000, 800, 600, 400, 200, 0])  # Inspire SDK: 1000 = open
    radians = VlaConfig(hand_units="radians").to_policy_state(state)
    # Thumb rotation (last in the hardware order) fully closed: its driver's upper limit.
    assert radians[12] == pytest.approx(HAND_UPPER[MUJOCO_HAND_ORDER.index("thumb_yaw")], rel=1e-6)
    assert radians[7] == pytest.approx(HAND_LOWER[MUJOCO_HAND_ORDER.index("pinky")])
    for units in ("closure", "hardware", "radians"):
        config = VlaConfig(hand_units=units, control_hz=20)
        back = config.to_task_chunk(config.to_policy_state(state)[None, :], 20)
        np.testing.assert_allclose(back[0], state, atol=1e-6)


def test_normalisation_applies_to_state_and_actions():
    mean, std = tuple(np.full(13, 0.5)), tuple(np.full(13, 2.0))
    config = VlaConfig(state_mean=mean, state_std=std, action_mean=mean, action_std=std)
    np.testing.assert_allclose(config.to_policy_state(np.full(13, 4.5)), np.full(13, 2.0))
    np.testing.assert_allclose(config.to_task_chunk(np.ones((3, 13)), 20), np.full((3, 13), 2.5))
    with pytest.raises(ConfigError, match="state_mean with state_std"):
        VlaConfig(state_mean=mean)


def test_chunks_are_resampled_over_the_same_span():
    chunk = np.arange(16, dtype=float)[:, None]  # action i reached at (i + 1) / 30 s
    resampled = resample_chunk(chunk, 30, 20)
    np.testing.assert_allclose(resampled[:, 0], 1.5 * np.arange(1, 11) - 1)  # (j + 1) / 20 s
    np.testing.assert_allclose(resample_chunk(chunk[:4], 10, 20)[:, 0], [0, 0, 0.5, 1, 1.5, 2, 2.5, 3])
    assert resample_chunk(chunk, 20, 20) is not None and len(resample_chunk(chunk, 20, 20)) == 16


def test_eval_scores_a_being_h0_checkpoint_with_its_policy_config(being_h0_package, tmp_path):
    config = tmp_path / "vla.json"
    config.write_text(json.dumps({"control_hz": 40, "camera": "wrist", "action_horizon": 16}))
    out = tmp_path / "eval"
    args = ["--task", "pick-place", "--episodes", "1", "--videos", "0", "--policy-config", str(config)]
    assert cli_main(["eval", "--policy", f"being-h0:{being_h0_package}", *args, "--out", str(out)]) == 0
    task = json.loads((out / "eval_info.json").read_text())["tasks"]["pick-place"]
    # 16 actions at 40 Hz are 8 task steps at 20 Hz; the stand-in drifts the arm, so no success.
    assert task["policy"]["action_horizon"] == 8 and task["policy"]["cameras"] == ["wrist"]
    (record,) = task["records"]
    assert record["queries"] == 38 and record["length"] == 300 and record["zero_chunks"] == 0  # 300 steps, 8 a query
