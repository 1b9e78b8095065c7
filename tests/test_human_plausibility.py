"""Plausibility metrics: each defect, made on purpose from a clean procedural clip, fails its check."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mimicsim.retarget.human import procedural as P
from mimicsim.retarget.human.normalize import normalize
from mimicsim.retarget.human.plausibility import Thresholds, human_plausibility


@pytest.fixture(scope="module")
def clean():
    return normalize(P.generate([P.Stand(0.5), P.Walk(3.0), P.Jump(height=0.2, distance=0.4), P.Stand(0.5)]))


def shifted(motion, offset):
    return replace(motion, positions=motion.positions + np.asarray(offset, dtype=float))


def failed(verdict) -> set[str]:
    return {failure.split()[0] for failure in verdict.failures}


def test_clean_motion_passes(clean):
    verdict = human_plausibility(clean)
    assert verdict.plausible and verdict.failures == ()
    assert verdict.penetration == 0.0 and verdict.lowest_foot == 0.0
    assert 0.2 < verdict.airborne < 0.5  # the jump's flight, about 2 sqrt(2h/g) = 0.4 s
    assert verdict.to_dict()["plausible"] is True


def test_sinking_clip_penetrates(clean):
    verdict = human_plausibility(shifted(clean, [0, 0, -0.15]))
    assert failed(verdict) == {"penetration"}
    assert verdict.penetration == pytest.approx(0.15)
    assert verdict.penetration_frames > 0.9  # all but the frames in the air


def test_floating_clip(clean):
    verdict = human_plausibility(shifted(clean, [0, 0, 0.3]))
    assert {"lowest_foot", "airborne"} <= failed(verdict)
    assert verdict.airborne == pytest.approx(clean.duration + 1 / clean.fps)


def test_skating_feet(clean):
    drift = np.zeros_like(clean.positions)
    drift[..., 0] = (np.arange(clean.num_frames) / clean.fps * 1.5)[:, None]  # the whole body glides at 1.5 m/s
    verdict = human_plausibility(replace(clean, positions=clean.positions + drift))
    assert {"skate_ratio", "contact_speed"} <= failed(verdict)


def test_jitter(clean):
    noise = np.random.default_rng(0).normal(0.0, 0.015, clean.positions.shape)
    verdict = human_plausibility(replace(clean, positions=clean.positions + noise))
    assert "jerk_mean" in failed(verdict)
    assert verdict.jerk_mean > 5 * human_plausibility(clean).jerk_mean


def test_thresholds_are_configurable(clean):
    strict = Thresholds(airborne=0.1)
    assert failed(human_plausibility(clean, strict)) == {"airborne"}
