"""Scripted experts for the manipulation tasks, speaking the policy protocol: one module per task,
on the shared machinery of `scripted` (waypoint plans, arm IK) and `grasp` (the side power grasp)."""

from __future__ import annotations

from mimicsim.errors import ConfigError
from mimicsim.policies.manipulation.experts.pick_place import PickPlaceExpert
from mimicsim.policies.manipulation.experts.pour import PourExpert
from mimicsim.policies.manipulation.experts.scripted import ScriptedExpert
from mimicsim.policies.manipulation.experts.unfold import UnfoldExpert

EXPERTS: dict[str, type[ScriptedExpert]] = {
    "pick-place": PickPlaceExpert,
    "pour": PourExpert,
    "unfold": UnfoldExpert,
}


def make_expert(task: str) -> ScriptedExpert:
    """The scripted expert for a task name (`pick-place`, `pour`, `unfold`)."""
    if task not in EXPERTS:
        raise ConfigError(f"no scripted expert for task {task!r}; experts exist for {', '.join(EXPERTS)}")
    return EXPERTS[task]()
