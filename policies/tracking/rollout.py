"""Deterministic rollouts of a tracking policy over whole clips: every clip from its first frame,
without noise or randomisation, until it ends or the robot fails. Used to judge training
progress, to refine motions and to measure tracking."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from mimicsim.envs.tracking.batch import MotionInput, TrackingBatch
from mimicsim.envs.tracking.config import TrackingEnvCfg
from mimicsim.envs.tracking.terms import ERROR_NAMES, REASONS, tracked_to_success

Act = Callable[[np.ndarray], np.ndarray]
"""A deterministic policy: (K, obs_size) float32 observations -> (K, action_size) actions."""


@dataclass
class ClipRollout:
    clip: str
    dt: float
    success: bool
    termination: str | None
    """Why the robot failed (tracking_terms.REASONS), or None when it reached the clip's end."""
    failure_frame: int | None
    """Policy step (= reference frame at the policy rate, from the clip's start) of the failure."""
    qpos: np.ndarray
    """(S + 1, nq) simulated states at the policy rate, from the start state."""
    contacts: np.ndarray
    """(S + 1, 2) whether each foot touches the floor in the simulation."""
    errors: dict[str, np.ndarray]
    """Per-step tracking errors (S,) (tracking_terms.ERROR_NAMES)."""
    reference_frames: int
    """Length of the reference at the policy rate."""


def rollout_clips(act: Act, motions: Sequence[MotionInput], cfg: TrackingEnvCfg) -> list[ClipRollout]:
    """Roll `act` out on every clip of `motions` at once (one robot per clip)."""
    batch = TrackingBatch(motions, cfg.evaluation(), num_envs=len(motions), seed=0)
    ref, count = batch.reference, len(motions)
    starts = np.asarray(ref.clip_first)
    batch.reset(np.arange(count), starts)
    side, floor = _foot_geoms(batch.models[0], batch.robot.config.feet)
    qpos = [[d.qpos.copy()] for d in batch.datas]
    contacts = [[_feet_on_floor(d, side, floor)] for d in batch.datas]
    errors: list[dict[str, list[float]]] = [{name: [] for name in ERROR_NAMES} for _ in range(count)]
    outcome: list[tuple[int, int] | None] = [None] * count  # (reason code, step) once ended
    obs = batch.observe()
    while any(o is None for o in outcome):
        result = batch.step(act(obs))
        truncated = batch.truncated()
        for k in range(count):
            if outcome[k] is not None:
                continue
            qpos[k].append(batch.datas[k].qpos.copy())
            contacts[k].append(_feet_on_floor(batch.datas[k], side, floor))
            for name in ERROR_NAMES:
                errors[k][name].append(result.errors[name][k])
            if result.reason[k] or truncated[k]:
                outcome[k] = (int(result.reason[k]), int(batch.frames[k] - starts[k]))
                batch.reset([k], [starts[k]])  # keeps the finished robot's reference in range
        obs = batch.observe()
    rollouts = []
    for k in range(count):
        ended = outcome[k]
        assert ended is not None  # the loop runs until every clip has ended
        code, step = ended
        errs = {name: np.array(v) for name, v in errors[k].items()}
        rollouts.append(
            ClipRollout(
                clip=ref.clip_names[k],
                dt=batch.dt,
                success=tracked_to_success(code != 0, errs["body_pos_global"]),
                termination=REASONS[code] if code else None,
                failure_frame=step if code else None,
                qpos=np.array(qpos[k]),
                contacts=np.array(contacts[k]),
                errors=errs,
                reference_frames=len(ref.clip_frames(k)),
            )
        )
    return rollouts


def _foot_geoms(model: mujoco.MjModel, feet: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Per collision geom: which foot it belongs to (0 left, 1 right, -1 none), and the floor's geoms."""
    side = np.full(model.ngeom, -1)
    for i, body in enumerate(feet):
        side[model.geom_bodyid == model.body(body).id] = i
    return side, np.flatnonzero(model.geom_bodyid == 0)


def _feet_on_floor(data: mujoco.MjData, side: np.ndarray, floor: np.ndarray) -> np.ndarray:
    out = np.zeros(2, dtype=bool)
    n = data.ncon
    if n:
        g1, g2 = data.contact.geom1[:n], data.contact.geom2[:n]
        for a, b in ((g1, g2), (g2, g1)):
            hits = side[a[np.isin(b, floor)]]
            out[hits[hits >= 0]] = True
    return out
