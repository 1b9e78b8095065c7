import numpy as np
import pytest
from fake_task import GoalPolicy

from mimicsim.policies.manipulation.protocol import Policy, PolicyError, check_actions, check_metadata

VALID = {
    "name": "p",
    "version": "1",
    "action_horizon": 16,
    "action_dim": 13,
    "cameras": ("ego",),
    "image_size": (224, 224),
}


def test_a_conforming_class_is_a_policy_and_a_partial_one_is_not():
    class NoInfer:
        def reset(self): ...
        def metadata(self): ...

    assert isinstance(GoalPolicy(), Policy)
    assert not isinstance(NoInfer(), Policy)


def test_metadata_is_normalised():
    meta = check_metadata({**VALID, "action_horizon": np.int64(16)})
    assert meta["cameras"] == ["ego"] and meta["image_size"] == [224, 224]
    assert meta["privileged"] is False and type(meta["action_horizon"]) is int
    assert check_metadata({**VALID, "cameras": [], "image_size": None, "privileged": True})["privileged"] is True


@pytest.mark.parametrize(
    "change, message",
    [
        ({"action_horizon": ...}, "lacks action_horizon"),
        ({"action_horizon": 0}, "'action_horizon' must be an integer >= 1"),
        ({"action_dim": True}, "'action_dim' must be an integer >= 1"),
        ({"name": ""}, "'name' must be a non-empty string"),
        ({"cameras": "ego"}, "'cameras' must be a list"),
        ({"image_size": (224,)}, "'image_size' must be"),
        ({"image_size": None}, "names cameras but its 'image_size' is None"),
    ],
)
def test_bad_metadata_is_named(change, message):
    meta = {key: value for key, value in {**VALID, **change}.items() if value is not ...}  # ...: key left out
    with pytest.raises(PolicyError, match=message):
        check_metadata(meta)


def test_actions_are_checked():
    chunk = check_actions({"actions": np.zeros((16, 13), np.float32)}, 13)
    assert chunk.shape == (16, 13) and chunk.dtype == np.float64
    assert check_actions({"actions": [[0.0] * 13]}, 13).shape == (1, 13)
    with pytest.raises(PolicyError, match=r"shape \(H >= 1, 13\), got \(16, 12\)"):
        check_actions({"actions": np.zeros((16, 12))}, 13)
    with pytest.raises(PolicyError, match="shape"):
        check_actions({"actions": np.zeros(13)}, 13)
    with pytest.raises(PolicyError, match="finite"):
        check_actions({"actions": np.full((2, 13), np.nan)}, 13)
    with pytest.raises(PolicyError, match="key 'actions'"):
        check_actions({"action": np.zeros((2, 13))}, 13)
