"""Finger retargeting onto the Inspire hand: human keypoints -> six driver angles per frame.

Each Inspire finger is one driver moving a coupled linkage, and the thumb two (yaw, pitch), so the
vector optimisation of dex-retargeting (match wrist->fingertip and thumb->fingertip vectors, the
human's scaled by the ratio of the two hands' lengths) has a small exact form: every finger's cost
is evaluated over a fine table of its driver's range (`inspire.finger_tables`, computed through the
model's own coupling), the thumb's over a (yaw, pitch) table. Instead of warm-starting a local
solver from the previous frame, each driver takes the cheapest path through its table over the
whole clip among those whose steps stay within its speed limit (`paths.py`: the warm start's
intent, continuity, without its local minima), refined between table entries with a parabola.
Joint ranges and speed limits hold by construction: no entry lies outside the range and no step
beyond the speed limit.

A first estimate takes each frame's best entries: the fingers alone, then the thumb against them.
Then the fingers again, their thumb->fingertip vectors now pulling towards that thumb (a pinch needs
the finger at an angle the thumb can reach), and the thumb: its wrist->tip vector, the
thumb->fingertip vectors weighted up as the human's thumb nears a finger (DexPilot's pinch
weighting), the thumb-index distance itself, and a cost on its links coming nearer than
`clearance` to a finger's (capsule tables, `inspire.finger_tables`), the finger's of this frame and
of the one before, and the same cost on the fingers: neither passes through the other between two
frames (without it the replayed thumb caught behind a closing index and stayed there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimicsim.errors import ConfigError
from mimicsim.retarget.hand.inspire import FINGER_NAMES, FingerTables, finger_tables
from mimicsim.retarget.hand.keypoints import FINGERS, TIPS, WRIST, HandMotion, palm_frames
from mimicsim.retarget.hand.paths import cheapest_path_1d, cheapest_path_2d

PINCH_FINGERS = ("index",)
"""Fingers whose distance to the thumb tip is matched as a distance too: the thumb-index pinch."""
HAND_LENGTH_CHAIN = (WRIST, *FINGERS["middle"])
"""Wrist, middle MCP, PIP, DIP, tip: a hand's length is the sum of these segments (pose-independent)."""


@dataclass(frozen=True)
class FingerConfig:
    """Settings of the finger retargeter."""

    finger_speed: float = 6.0
    """Speed limit of the four finger drivers, rad/s (their whole 1.47 rad range in 0.25 s)."""
    thumb_speed: float = 6.0
    """Speed limit of the thumb's yaw and pitch drivers, rad/s."""
    pinch_weight: float = 100.0
    """Extra weight of a thumb->fingertip vector when the human's thumb touches that finger."""
    pinch_distance: float = 0.03
    """Human thumb-fingertip distance (m) over which the pinch weight fades (exp(-d / this))."""
    thumb_weight: float = 1.0
    """Weight of the wrist->thumb-tip vector against each thumb->fingertip vector's base weight 1."""
    distance_weight: float = 20.0
    """Weight of the thumb-fingertip distance itself (for `PINCH_FINGERS`) beside the vectors."""
    collision_weight: float = 10.0
    """Cost per metre by which the thumb's links come nearer than `clearance` to a finger's."""
    clearance: float = 0.005
    """Distance (m) the thumb's links keep from the fingers' (their capsules). The links are boxes
    and capsules fitted around the real ones; with less, the replayed thumb closing onto a fist
    comes to rest against the index more than 5 degrees short of its target (3 mm: 5.6 degrees,
    5 mm: 4.2), with more, the index gives way to the thumb in a fist (7 mm: closure 0.80)."""
    scale: float | None = None
    """Robot hand length / human hand length; None measures both hands."""
    finger_steps: int = 1024
    thumb_steps: int = 48

    def __post_init__(self) -> None:
        for name in ("finger_speed", "thumb_speed", "pinch_distance"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number, got {value}")
        if not (np.isfinite(self.pinch_weight) and self.pinch_weight >= 0):
            raise ConfigError(f"pinch_weight must be >= 0, got {self.pinch_weight}")
        if self.scale is not None and not (np.isfinite(self.scale) and self.scale > 0):
            raise ConfigError(f"scale must be a positive number, got {self.scale}")
        if self.finger_steps < 16 or self.thumb_steps < 8:
            raise ConfigError("finger_steps must be >= 16 and thumb_steps >= 8")


@dataclass(frozen=True)
class FingerSolution:
    """`drivers (T, 6)` radians in MuJoCo order (thumb yaw, thumb pitch, index, middle, ring,
    pinky); `human (T, 21, 3)` the human's keypoints in its palm frame, scaled by `scale`."""

    drivers: np.ndarray
    human: np.ndarray
    scale: float


def hand_length(keypoints: np.ndarray) -> np.ndarray:
    """(...,) wrist -> middle fingertip along the bones."""
    chain = keypoints[..., HAND_LENGTH_CHAIN, :]
    return np.linalg.norm(np.diff(chain, axis=-2), axis=-1).sum(axis=-1)


def in_palm_frame(keypoints: np.ndarray) -> np.ndarray:
    """Keypoints (T, 21, 3) relative to the wrist, in each frame's palm frame."""
    return np.einsum("tkj,tji->tki", keypoints - keypoints[:, WRIST : WRIST + 1], palm_frames(keypoints))


def retarget_fingers(motion: HandMotion, config: FingerConfig = FingerConfig()) -> FingerSolution:
    """Driver angles for every frame of `motion` (see the module docstring)."""
    tables = finger_tables(finger_steps=config.finger_steps, thumb_steps=config.thumb_steps)
    local = in_palm_frame(motion.keypoints)
    scale = config.scale
    if scale is None:
        scale = float(hand_length(tables.open_keypoints) / np.median(hand_length(motion.keypoints)))
    human = local * scale
    dt = 1.0 / motion.fps
    thumb_human = human[:, TIPS["thumb"]]
    # How much of a pinch each finger is in, from the human's own (unscaled) thumb-tip distance.
    pinch = np.stack(
        [
            config.pinch_weight
            * np.exp(-np.linalg.norm(human[:, TIPS[name]] - thumb_human, axis=-1) / scale / config.pinch_distance)
            for name in FINGER_NAMES
        ],
        axis=-1,
    )  # (T, 4)
    drivers = np.empty((local.shape[0], 6))
    thumb_robot = thumb_entry = None
    finger_bins = _nearest(tables.finger_grid, tables.clearance_grid)
    # A first estimate frame by frame: the fingers alone, the thumb to them. Then the fingers again
    # with their pinch vectors to that thumb (a pinch needs the finger at an angle the thumb can
    # reach), and the thumb to them, both along the cheapest paths within the speed limits.
    for limited in (False, True):
        for f, name in enumerate(FINGER_NAMES):
            target, weight = human[:, TIPS[name]], np.ones(len(human))
            if thumb_robot is not None:
                # |h - x|^2 + w |(h - h_thumb) - (x - r_thumb)|^2 = (1 + w) |x - target|^2 + const.
                w = pinch[:, f]
                target = (target + w[:, None] * (target - thumb_human + thumb_robot)) / (1.0 + w[:, None])
                weight = 1.0 + w
            cost = _quadratic_cost(target, weight, tables.finger_tips[f])
            if thumb_entry is not None:
                # Against the thumb of this frame and of the one before: the fingers move together
                # and neither may pass through the other on the way.
                for entry in (thumb_entry, np.r_[thumb_entry[:1], thumb_entry[:-1]]):
                    clearance = tables.clearance[f][entry][:, finger_bins]  # (T, G)
                    cost += config.collision_weight * np.maximum(config.clearance - clearance, 0.0)
            speed = config.finger_speed * dt if limited else None
            drivers[:, 2 + f] = _track_1d(cost, tables.finger_grid, speed)
        thumb_speed = config.thumb_speed * dt if limited else None
        drivers[:, :2], thumb_robot, thumb_entry = _solve_thumb(
            human, pinch, fingers=drivers[:, 2:], tables=tables, config=config, max_step=thumb_speed
        )
    return FingerSolution(drivers=drivers, human=human, scale=scale)


def _solve_thumb(
    human: np.ndarray,
    pinch: np.ndarray,
    *,
    fingers: np.ndarray,
    tables: FingerTables,
    config: FingerConfig,
    max_step: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thumb (yaw, pitch) per frame, its tip, and its nearest table entry. The thumb tip x minimises
    thumb_weight |h_thumb - x|^2 + sum_f (1 + pinch_f) |(h_f - h_thumb) - (r_f - x)|^2, a quadratic
    in x: every term is |x - c|^2 with c = h_thumb, or r_f - h_f + h_thumb; plus the thumb-index
    distance term and the collision penalty."""
    thumb_human = human[:, TIPS["thumb"]]
    total = np.full(len(human), config.thumb_weight)
    weighted = config.thumb_weight * thumb_human
    tips = {}
    for f, name in enumerate(FINGER_NAMES):
        tips[name] = np.stack(
            [np.interp(fingers[:, f], tables.finger_grid, tables.finger_tips[f][:, k]) for k in range(3)], axis=-1
        )
        w = 1.0 + pinch[:, f]
        weighted = weighted + w[:, None] * (tips[name] - human[:, TIPS[name]] + thumb_human)
        total = total + w
    grid_tips = tables.thumb_tips.reshape(-1, 3)
    grid_norms = np.einsum("gk,gk->g", grid_tips, grid_tips)
    cost = _quadratic_cost(weighted / total[:, None], total, grid_tips, grid_norms)
    for name in PINCH_FINGERS:
        # (|r_f - x| - |h_f - h_thumb|)^2: the distances themselves, which the vectors alone keep
        # only as well as the two hands' shapes agree.
        f = FINGER_NAMES.index(name)
        reach = np.sqrt(
            np.maximum(
                _quadratic_cost(tips[name], np.ones(len(human)), grid_tips, grid_norms)
                + np.einsum("tk,tk->t", tips[name], tips[name])[:, None],
                0.0,
            )
        )
        human_distance = np.linalg.norm(human[:, TIPS[name]] - thumb_human, axis=-1)
        cost += (config.distance_weight * (1.0 + pinch[:, f]))[:, None] * (reach - human_distance[:, None]) ** 2
    bins = _nearest(fingers, tables.clearance_grid)
    for f in range(len(FINGER_NAMES)):
        for finger_bins in (bins[:, f], np.r_[bins[:1, f], bins[:-1, f]]):  # this frame's and the last
            clearance = tables.clearance[f][:, finger_bins].T  # (T, Y*P)
            cost += config.collision_weight * np.maximum(config.clearance - clearance, 0.0)
    angles = _track_2d(cost.reshape(-1, *tables.thumb_tips.shape[:2]), tables.yaw_grid, tables.pitch_grid, max_step)
    entry = _nearest(angles[:, 0], tables.yaw_grid) * len(tables.pitch_grid) + _nearest(angles[:, 1], tables.pitch_grid)
    tip = np.stack(
        [
            _bilinear(tables.thumb_tips[..., k], tables.yaw_grid, tables.pitch_grid, angles[:, 0], angles[:, 1])
            for k in range(3)
        ],
        axis=-1,
    )
    return angles, tip, entry


def _nearest(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Index of the nearest entry of the evenly spaced `grid` for each value."""
    index = np.rint((values - grid[0]) / (grid[1] - grid[0])).astype(np.int64)
    return np.clip(index, 0, len(grid) - 1)


def _quadratic_cost(
    target: np.ndarray, weight: np.ndarray, grid: np.ndarray, grid_norms: np.ndarray | None = None
) -> np.ndarray:
    """(T, G) weight_t |grid_g - target_t|^2 less weight_t |target_t|^2: weight (|x|^2 - 2 x.target),
    one matrix product instead of T*G differences."""
    if grid_norms is None:
        grid_norms = np.einsum("gk,gk->g", grid, grid)
    return weight[:, None] * (grid_norms[None] - 2.0 * target @ grid.T)


def _bilinear(table: np.ndarray, grid_a: np.ndarray, grid_b: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`table (A, B)` interpolated at (a, b)."""
    fa = np.clip((a - grid_a[0]) / (grid_a[1] - grid_a[0]), 0, len(grid_a) - 1.000001)
    fb = np.clip((b - grid_b[0]) / (grid_b[1] - grid_b[0]), 0, len(grid_b) - 1.000001)
    i, j = fa.astype(int), fb.astype(int)
    u, v = fa - i, fb - j
    return (
        table[i, j] * (1 - u) * (1 - v)
        + table[i + 1, j] * u * (1 - v)
        + table[i, j + 1] * (1 - u) * v
        + table[i + 1, j + 1] * u * v
    )


def _track_1d(cost: np.ndarray, grid: np.ndarray, max_step: float | None) -> np.ndarray:
    """The grid path of least total cost whose steps stay within `max_step` (None: each frame's
    own best), each frame then refined by a parabola and kept within the step and the range."""
    step = grid[1] - grid[0]
    if max_step is None:
        path = np.argmin(cost, axis=1)
        max_step = np.inf
    else:
        path = cheapest_path_1d(cost, max(int(np.floor(max_step / step)), 1))
    n = cost.shape[0]
    out = np.empty(n)
    previous = None
    for t in range(n):
        index = int(path[t])
        value = grid[index] + _parabola(cost[t], index) * step
        if previous is not None:
            value = min(max(value, previous - max_step), previous + max_step)
        out[t] = previous = min(max(value, grid[0]), grid[-1])
    return out


def _track_2d(cost: np.ndarray, grid_a: np.ndarray, grid_b: np.ndarray, max_step: float | None) -> np.ndarray:
    """`_track_1d` over a (A, B) table of two joints with the same speed limit."""
    step_a, step_b = grid_a[1] - grid_a[0], grid_b[1] - grid_b[0]
    if max_step is None:
        flat = np.argmin(cost.reshape(cost.shape[0], -1), axis=1)
        path = np.stack(np.unravel_index(flat, cost.shape[1:]), axis=-1)
        max_step = np.inf
    else:
        path = cheapest_path_2d(cost, max(int(max_step / step_a), 1), max(int(max_step / step_b), 1))
    n = cost.shape[0]
    out = np.empty((n, 2))
    lower, upper = np.array([grid_a[0], grid_b[0]]), np.array([grid_a[-1], grid_b[-1]])
    previous: np.ndarray | None = None
    for t in range(n):
        i, j = (int(k) for k in path[t])
        value = np.array(
            [grid_a[i] + _parabola(cost[t, :, j], i) * step_a, grid_b[j] + _parabola(cost[t, i, :], j) * step_b]
        )
        if previous is not None:
            value = np.clip(value, previous - max_step, previous + max_step)
        out[t] = previous = np.clip(value, lower, upper)
    return out


def _parabola(values: np.ndarray, i: int) -> float:
    """Offset (in grid steps, within ±0.5) of the minimum of the parabola through entries i-1, i, i+1."""
    if i == 0 or i == values.shape[0] - 1:
        return 0.0
    left, mid, right = values[i - 1], values[i], values[i + 1]
    curvature = left - 2.0 * mid + right
    if curvature <= 0:
        return 0.0
    return float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
