"""Language instructions from templates, with the randomised object, colour and target filled in."""

from __future__ import annotations

import numpy as np

# Colour name -> RGBA used for the objects and containers.
COLOURS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.15, 0.12, 1.0),
    "green": (0.15, 0.7, 0.25, 1.0),
    "blue": (0.15, 0.35, 0.85, 1.0),
    "yellow": (0.95, 0.8, 0.1, 1.0),
    "purple": (0.55, 0.25, 0.7, 1.0),
    "orange": (0.95, 0.5, 0.1, 1.0),
}

PICK_PLACE_TEMPLATES = (
    "put the {colour} {object} in the {target_colour} {target}",
    "pick up the {colour} {object} and place it in the {target_colour} {target}",
    "move the {colour} {object} into the {target_colour} {target}",
)
POUR_TEMPLATES = (
    "pour the {contents} from the {colour} cup into the {target_colour} {target}",
    "empty the {colour} cup into the {target_colour} {target}",
    "pour the {contents} into the {target_colour} {target}",
)
UNFOLD_TEMPLATES = (
    "unfold the {colour} cloth",
    "spread the {colour} cloth flat on the table",
    "flatten the {colour} towel",
)


def pick_colours(rng: np.random.Generator, count: int) -> list[str]:
    """`count` distinct colour names."""
    names = list(COLOURS)
    return [names[i] for i in rng.choice(len(names), size=count, replace=False)]


def instruction(rng: np.random.Generator, templates: tuple[str, ...], **fields: str) -> str:
    """One of `templates`, chosen by `rng`, with `fields` filled in (unused fields are ignored)."""
    return templates[int(rng.integers(len(templates)))].format(**fields)
