"""A retargeted hand trajectory replayed through the manipulation scene's PD controllers.

`HandReplayEnv` is the table scene of the manipulation tasks with nothing on the table: the same
robot, physics options, cameras, 20 Hz control and observations, so a replayed human demonstration
looks to a policy exactly like a task episode. `replay_hand` resamples the trajectory's Being-H0
vectors to the control rate, starts the robot at the first one, steps through them, holds the last
one for `hold_seconds`, and reports:

- `stable`: no NaN, no MuJoCo fault, no exploding speed (the env's own checks);
- `settled_error_deg`: per driver (MuJoCo order), its distance from its target at the end of the
  hold; `blocked`: the drivers whose finger then rests on the palm (a closed fist's target lies
  beyond where the palm's collision box stops the finger, so it cannot be reached in contact);
  `settled_error_deg_max` over all drivers and `settled_error_deg_max_free` over the others;
- `finger_collision_steps`: control steps during which geoms of two different fingers touch;
- `held`: along the whole clip, per driver, the steps at which its target has stayed within 1° for
  `HELD_SECONDS` (a settled target mid-clip), how many of them end more than 5° away from it, and
  the largest such error (a finger stopped by the palm, or by another finger in its way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np
from tqdm import tqdm

from mimicsim.assets.franka_inspire import HAND_BODY, HAND_PREFIX
from mimicsim.assets.hand_mapping import MUJOCO_HAND_ORDER, being_h0_to_mujoco
from mimicsim.envs.manipulation.base import CONTROL_HZ, ManipulationEnv
from mimicsim.envs.manipulation.scene import DEFAULT_IMAGE_SIZE

FINGER_GROUPS = ("thumb", "index", "middle", "ring", "pinky")
HELD_SECONDS = 0.5
HELD_TOLERANCE = 1.0  # degrees
SETTLED_TOLERANCE = 5.0  # degrees
DEFAULT_TASK = "move the hand as the human hand moves"


class HandReplayEnv(ManipulationEnv):
    """The table scene without objects, started at a given Being-H0 vector."""

    max_steps = 100_000

    def __init__(self, start: np.ndarray, instruction: str = DEFAULT_TASK, **kwargs: Any) -> None:
        self._start = np.asarray(start, dtype=np.float64)
        self._instruction = instruction
        super().__init__(**kwargs)
        self._palm = self.model.body(HAND_BODY).id
        self._finger_of_geom = np.full(self.model.ngeom, -1)
        for g in range(self.model.ngeom):
            body = self.model.body(self.model.geom_bodyid[g]).name
            if body.startswith(HAND_PREFIX):
                for k, name in enumerate(FINGER_GROUPS):
                    if f"_{name}_" in body:
                        self._finger_of_geom[g] = k

    def _build_task(self, spec: mujoco.MjSpec) -> None:
        """Nothing on the table."""

    def _reset_task(self, rng: np.random.Generator) -> str:
        radians = being_h0_to_mujoco(self._start)
        self.data.qpos[self._arm_qpos] = radians[:7]
        self.data.qpos[self._hand_qpos] = radians[7:]
        self.data.ctrl[:] = radians
        return self._instruction

    def _privileged_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    def _privileged(self) -> dict[str, np.ndarray]:
        return {}

    def _evaluate(self) -> tuple[bool, float, dict[str, Any]]:
        return False, 0.0, {}

    def fingers_touching(self) -> bool:
        """Whether geoms of two different fingers are in contact."""
        contact = self.data.contact[: self.data.ncon]
        a, b = self._finger_of_geom[contact.geom1], self._finger_of_geom[contact.geom2]
        return bool(np.any((a >= 0) & (b >= 0) & (a != b)))

    def fingers_on_palm(self) -> set[int]:
        """Finger groups (indices into `FINGER_GROUPS`) touching the palm."""
        contact = self.data.contact[: self.data.ncon]
        touching = set()
        for g1, g2 in zip(contact.geom1, contact.geom2, strict=True):
            for a, b in ((g1, g2), (g2, g1)):
                if self.model.geom_bodyid[b] == self._palm and self._finger_of_geom[a] >= 0:
                    touching.add(int(self._finger_of_geom[a]))
        return touching

    def hand_drivers(self) -> np.ndarray:
        """Driver joint angles (6,) in MuJoCo order."""
        return self.data.qpos[self._hand_qpos].copy()


@dataclass
class Replay:
    """What a replay recorded, one row per control step: `state` and `action` (Being-H0 13-D),
    `qpos` (the whole scene's), `images` per camera (uint8 (K, H, W, 3)) when cameras were asked,
    and the `report` of the module docstring."""

    fps: float
    state: np.ndarray
    action: np.ndarray
    qpos: np.ndarray
    images: dict[str, np.ndarray] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


def resample(values: np.ndarray, fps: float, rate: float = CONTROL_HZ) -> np.ndarray:
    """Rows of `values` sampled at `fps`, linearly interpolated at `rate` over the same duration."""
    source_times = np.arange(len(values)) / fps
    times = np.arange(int(np.floor(source_times[-1] * rate + 1e-9)) + 1) / rate
    return np.stack([np.interp(times, source_times, column) for column in values.T], axis=1)


def replay_hand(
    being_h0: np.ndarray,
    fps: float,
    *,
    cameras: tuple[str, ...] = (),
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    hold_seconds: float = 1.0,
    instruction: str = DEFAULT_TASK,
) -> Replay:
    """Replay Being-H0 vectors (T, 13) sampled at `fps` (see the module docstring). Images are
    recorded for the trajectory's steps, not the hold."""
    actions = resample(np.asarray(being_h0, dtype=np.float64), fps)
    env = HandReplayEnv(actions[0], instruction, cameras=cameras, image_size=image_size)
    try:
        obs, _ = env.reset(seed=0)
        states, qpos, reached, collisions = [], [], [], 0
        images: dict[str, list[np.ndarray]] = {camera: [] for camera in cameras}
        stable = True
        # Rendering the cameras is the slow part; without them there is nothing to wait for.
        for action in tqdm(actions, desc="replay with cameras", leave=False, disable=not cameras):
            states.append(obs["state"].copy())
            for camera in cameras:
                images[camera].append(obs["image"][camera])
            obs, _, _, _, info = env.step(action)
            qpos.append(env.data.qpos.copy())
            reached.append(env.hand_drivers())
            collisions += env.fingers_touching()
            if info["invalid"]:
                stable = False
                break
        for _ in range(round(hold_seconds * CONTROL_HZ)):
            if not stable:
                break
            _, _, _, _, info = env.step(actions[-1])
            stable = not info["invalid"]
        target = being_h0_to_mujoco(actions[-1])[7:]
        settled = np.degrees(np.abs(env.hand_drivers() - target))
        on_palm = {FINGER_GROUPS[k] for k in env.fingers_on_palm()}
    finally:
        env.close()
    steps = len(states)
    # A driver is blocked when its finger (the thumb's two drivers: the thumb) rests on the palm.
    blocked = [name for name in MUJOCO_HAND_ORDER if name.split("_")[0] in on_palm]
    report = {
        "fps": CONTROL_HZ,
        "steps": steps,
        "stable": bool(stable and np.all(np.isfinite(qpos))),
        "settled_error_deg": dict(zip(MUJOCO_HAND_ORDER, (float(e) for e in settled), strict=True)),
        "settled_error_deg_max": float(np.max(settled)),
        "blocked": blocked,
        "settled_error_deg_max_free": float(
            max([e for n, e in zip(MUJOCO_HAND_ORDER, settled, strict=True) if n not in blocked], default=0.0)
        ),
        "finger_collision_steps": int(collisions),
        "held": _held_errors(being_h0_to_mujoco(actions[:steps])[:, 7:], np.array(reached)),
    }
    return Replay(
        fps=CONTROL_HZ,
        state=np.array(states),
        action=actions[:steps],
        qpos=np.array(qpos),
        images={camera: np.array(frames) for camera, frames in images.items()},
        report=report,
    )


def _held_errors(targets: np.ndarray, reached: np.ndarray) -> dict[str, dict[str, float]]:
    """Per driver: held steps (target within `HELD_TOLERANCE` over the last `HELD_SECONDS`), how
    many of them end farther than `SETTLED_TOLERANCE` from the target, and the largest error."""
    window = round(HELD_SECONDS * CONTROL_HZ)
    errors = np.degrees(np.abs(reached - targets))
    report = {}
    for d, name in enumerate(MUJOCO_HAND_ORDER):
        held = np.zeros(len(targets), dtype=bool)
        if len(targets) > window:  # a clip shorter than the window holds nothing that long
            spans = np.lib.stride_tricks.sliding_window_view(np.degrees(targets[:, d]), window + 1)
            held[window:] = np.ptp(spans, axis=1) < HELD_TOLERANCE
        worst = errors[held, d]
        report[name] = {
            "steps": int(held.sum()),
            "over_5deg": int(np.count_nonzero(worst > SETTLED_TOLERANCE)),
            "max_deg": float(worst.max()) if worst.size else 0.0,
        }
    return report
