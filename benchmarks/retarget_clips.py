"""The clips the retargeting benchmarks run on: procedural clips (always) and every human motion
in ../shared/motions that loads (when that folder exists)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

from mimicsim.errors import MimicsimError
from mimicsim.retarget.batch import discover
from mimicsim.retarget.human.formats import load_motion
from mimicsim.retarget.human.motion import HumanMotion
from mimicsim.retarget.human.normalize import resample
from mimicsim.retarget.human.procedural import Body, Jump, Squat, Stand, Turn, Walk, Wave, demo_clip, generate

SHARED_MOTIONS = Path(__file__).resolve().parents[1].parent / "shared" / "motions"
CMU_30 = "bvh/cmu_01_01.bvh@30fps"
"""GMR's measurement condition: CMU 01_01 resampled to 30 fps."""


def procedural() -> dict[str, HumanMotion]:
    return {
        "proc:demo walk-turn-wave": demo_clip(),
        "proc:squat+jump": generate(
            [Stand(0.5), Squat(), Jump(height=0.2, distance=0.3), Stand(0.5)], name="squat-jump"
        ),
        "proc:turn, 1.55 m person": generate(
            [Stand(0.5), Turn(120.0), Walk(2.0, speed=1.5), Stand(0.5)], body=Body(height=1.55), name="turn"
        ),
        "proc:arc walk + wave, 1.90 m": generate(
            [Walk(3.0, turn=-60.0), Wave(2.0, hand="left")], body=Body(height=1.9, leg_scale=1.1), name="tall"
        ),
        "proc:deep squats": deep_squats(),
    }


def deep_squats() -> HumanMotion:
    """A bending motion: two deep squats, hips and knees folded, feet planted."""
    return generate(
        [Stand(0.5), Squat(depth=0.5), Stand(0.3), Squat(depth=0.45, duration=1.6), Stand(0.5)], name="deep squats"
    )


def shared(folder: Path = SHARED_MOTIONS) -> Iterator[tuple[str, HumanMotion]]:
    """(name, motion) for every file under `folder` that loads as a body motion; the rest (the
    normalisation statistics, the hand clip) are skipped."""
    if not folder.is_dir():
        return
    for path in discover(folder):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                motion = load_motion(path)
        except MimicsimError:
            continue
        yield str(path.relative_to(folder)), motion
        if f"{path.relative_to(folder)}@30fps" == CMU_30:
            yield CMU_30, resample(motion, 30.0)


def all_clips(folder: Path = SHARED_MOTIONS) -> dict[str, HumanMotion]:
    return {**dict(shared(folder)), **procedural()}
