"""CLI verbs about robots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import tyro

from mimicsim.assets.robots import load_robot, robot_names


def robots() -> None:
    """List the registered robots (DoF, mass, standing height, model source)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="mimicsim robots")
    for column in ("name", "DoF", "mass (kg)", "standing height (m)", "model source"):
        table.add_column(column)
    for name in robot_names():
        spec = load_robot(name)
        table.add_row(name, str(spec.dof), f"{spec.mass:.2f}", f"{spec.standing_height:.3f}", spec.source)
    Console(width=160).print(table)


def render_robot(
    name: Annotated[str, tyro.conf.Positional],
    out: Path = Path("robot.png"),
    width: int = 640,
    height: int = 640,
    quality: bool = False,
) -> None:
    """Render a robot's standing pose headless to a PNG.

    Args:
        name: Robot name (see `mimicsim robots`).
        out: PNG file to write.
        width: Image width in pixels.
        height: Image height in pixels.
        quality: Shadows, reflections and multisampling on (slower).
    """
    from mimicsim.assets.snapshots import render_standing
    from mimicsim.atomic import check_writable
    from mimicsim.rendering import check_image_size

    check_writable(out)
    check_image_size(width, height)
    render_standing(load_robot(name), out, width=width, height=height, quality=quality)
    print(f"wrote {out}")
