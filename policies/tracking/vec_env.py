"""`TrackingVecEnv`: stable-baselines3's vectorised-environment interface over `TrackingBatch`
engines, one per worker process (one process per core).

SB3's SubprocVecEnv would run one Gymnasium environment per process and pay a pipe round trip per
robot per step; here each worker steps a whole batch of robots with one message each way and the
tracking math vectorised over the batch (see envs/tracking_batch.py), so almost all of a worker's
time goes to physics.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from mimicsim.envs.tracking.batch import MotionInput, TrackingBatch
from mimicsim.envs.tracking.config import TrackingEnvCfg
from mimicsim.envs.tracking.terms import REASONS
from mimicsim.errors import SimulationError


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _serve(batch: TrackingBatch, command: str, payload: Any) -> Any:
    """One request of the worker protocol: ("step", actions) or ("reset", seed)."""
    if command == "step":
        t = batch.advance(payload)
        return t.obs, t.reward, t.terminated, t.truncated, t.reason, t.ended, t.final_obs
    batch.rng = np.random.default_rng(payload)
    batch.reset(np.arange(batch.num_envs))
    return batch.observe()


def _worker(conn, motions: Sequence[MotionInput], cfg: dict[str, Any], num_envs: int, seed: int) -> None:
    batch = TrackingBatch(motions, TrackingEnvCfg.from_dict(cfg), num_envs, seed)
    while True:
        command, payload = conn.recv()
        if command == "close":
            conn.close()
            return
        conn.send(_serve(batch, command, payload))


class _LocalWorker:
    """The worker protocol without a process (num_workers=0: tests, debugging)."""

    def __init__(self, motions: Sequence[MotionInput], cfg: dict[str, Any], num_envs: int, seed: int):
        self.batch = TrackingBatch(motions, TrackingEnvCfg.from_dict(cfg), num_envs, seed)
        self._reply = None

    def send(self, message: tuple[str, Any]) -> None:
        if message[0] != "close":
            self._reply = _serve(self.batch, *message)

    def recv(self) -> Any:
        return self._reply

    def close(self) -> None:
        pass


class TrackingVecEnv(VecEnv):
    def __init__(
        self, motions: Sequence[MotionInput], cfg: TrackingEnvCfg, num_envs: int, num_workers: int, seed: int = 0
    ):
        """`num_envs` robots split over `num_workers` processes (0: all in this process)."""
        probe = TrackingBatch(motions, cfg, 1)
        observation_space = gym.spaces.Box(-np.inf, np.inf, (probe.obs_size,), dtype=np.float32)
        action_space = gym.spaces.Box(
            probe.action_low.astype(np.float32), probe.action_high.astype(np.float32), dtype=np.float32
        )
        super().__init__(num_envs, observation_space, action_space)
        self.layout, self.cfg = probe.layout, cfg
        self._sizes = _split(num_envs, max(1, num_workers))
        self._offsets = np.cumsum([0, *self._sizes])
        cfg_dict = cfg.to_dict()
        self._workers: list[Any] = []  # a _LocalWorker, or the pipes to worker processes (same send/recv)
        self._processes: list[Any] = []
        if num_workers == 0:
            self._workers.append(_LocalWorker(motions, cfg_dict, num_envs, seed))
        else:
            context = mp.get_context("forkserver")
            for i, size in enumerate(self._sizes):
                parent, child = context.Pipe()
                process = context.Process(
                    target=_worker, args=(child, list(motions), cfg_dict, size, seed + i), daemon=True
                )
                process.start()
                child.close()
                self._workers.append(parent)
                self._processes.append(process)
        self._actions: np.ndarray | None = None
        self._base_seed = seed

    def reset(self):
        base = self._seeds[0] if self._seeds and self._seeds[0] is not None else self._base_seed
        for i, worker in enumerate(self._workers):
            worker.send(("reset", base + i))
        obs = np.concatenate([self._receive(w) for w in self._workers])
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        for worker, start, stop in zip(self._workers, self._offsets[:-1], self._offsets[1:], strict=True):
            worker.send(("step", actions[start:stop]))

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones = [], [], []
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for worker, start in zip(self._workers, self._offsets[:-1], strict=True):
            o, r, terminated, truncated, reason, ended, final_obs = self._receive(worker)
            obs.append(o)
            rewards.append(r)
            dones.append(terminated | truncated)
            for row, k in enumerate(ended):
                info = infos[start + k]
                info["terminal_observation"] = final_obs[row]
                info["TimeLimit.truncated"] = bool(truncated[k])
                if terminated[k]:
                    info["termination"] = REASONS[reason[k]]
        return (np.concatenate(obs), np.concatenate(rewards).astype(np.float32), np.concatenate(dones), infos)

    def _receive(self, worker):
        try:
            return worker.recv()
        except EOFError:
            raise SimulationError("a tracking worker process died; see its error above") from None

    def close(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(BrokenPipeError, OSError):
                worker.send(("close", None))
            worker.close()
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
        self._workers, self._processes = [], []

    # The remaining VecEnv methods address individual Gymnasium environments, which this
    # vectorised engine does not have.
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        if attr_name == "render_mode":
            return [None for _ in self._get_indices(indices)]
        raise AttributeError(f"TrackingVecEnv robots have no attribute {attr_name!r}")

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError(f"TrackingVecEnv robots have no settable attribute {attr_name!r}")

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        raise AttributeError(f"TrackingVecEnv robots have no method {method_name!r}")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]
