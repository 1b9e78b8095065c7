"""Failure-weighted start frames (BeyondMimic's adaptive sampling).

Each clip is cut into bins of `bin_seconds`. Every finished episode updates an exponential moving
average of how often episodes failed in each bin; start bins are drawn in proportion to that rate
plus a uniform floor, smoothed so the bins just before a failure are favoured too (a policy must
approach the hard part to learn it). With several clips, bins of all clips compete in one table.
"""

from __future__ import annotations

import numpy as np

from mimicsim.envs.tracking.config import StartCfg


class StartSampler:
    def __init__(self, clip_first: np.ndarray, clip_last: np.ndarray, dt: float, cfg: StartCfg):
        self.cfg = cfg
        bin_frames = max(1, round(cfg.bin_seconds / dt))
        starts, ends, clip_of_bin = [], [], []
        for clip, first in enumerate(clip_first):
            last = int(clip_last[first])  # an episode needs one step, so the last frame never starts one
            for start in range(int(first), last, bin_frames):
                starts.append(start)
                ends.append(min(start + bin_frames, last))
                clip_of_bin.append(clip)
        self.bin_start = np.array(starts)
        self.bin_end = np.array(ends)  # exclusive
        self.clip_first = np.asarray(clip_first)
        self.failure_rate = np.zeros(len(starts))
        kernel = cfg.kernel_decay ** np.arange(cfg.kernel_size)
        self._kernel = kernel / kernel.sum()

    @property
    def num_bins(self) -> int:
        return len(self.bin_start)

    def probabilities(self) -> np.ndarray:
        weights = self.failure_rate + self.cfg.uniform_ratio / self.num_bins
        # Bin i also takes the (decayed) weight of bins i+1..i+K-1: start before the failure.
        padded = np.concatenate([weights, np.full(len(self._kernel) - 1, weights[-1])])
        smoothed = np.convolve(padded, self._kernel[::-1], mode="valid")
        return smoothed / smoothed.sum()

    def sample(self, rng: np.random.Generator) -> int:
        """A start frame: a failure-weighted bin and a uniform frame within it, or the first frame of
        a uniformly chosen clip when random starts are off."""
        if not self.cfg.random_start:
            return int(self.clip_first[rng.integers(len(self.clip_first))])
        b = int(rng.choice(self.num_bins, p=self.probabilities()))
        return int(rng.integers(self.bin_start[b], self.bin_end[b]))

    def record(self, frame: int, failed: bool) -> None:
        """Account for an episode that ended at `frame`, by failure or not."""
        self.failure_rate *= 1.0 - self.cfg.failure_ema
        if failed:
            b = int(np.searchsorted(self.bin_start, frame, side="right") - 1)
            self.failure_rate[max(b, 0)] += self.cfg.failure_ema
