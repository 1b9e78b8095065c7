"""Training a motion-tracking policy with stable-baselines3 PPO (`mimicsim train-tracker`).

Robots are simulated in batches by worker processes, one per core (`TrackingVecEnv`); observations
are normalised by running statistics (VecNormalize); the learning rate adapts to keep the policy's
KL divergence per update near a target (the schedule of rsl_rl, which BeyondMimic trains with).
Every `eval_every` steps the deterministic policy is rolled out on each clip from its first frame
and judged by PHC's success rule; results go to `eval.csv` (appended across resumes), SB3's
`progress.csv` (`progress_from_<step>.csv` after a resume) and TensorBoard.
Checkpoints (`checkpoints/*.npz`, see `checkpoint.py`) are written periodically and at the end;
`--resume` continues from one with the same settings.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import CSVOutputFormat, Logger, TensorBoardOutputFormat
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize
from tqdm import tqdm

from mimicsim.atomic import write_text_atomic
from mimicsim.envs.tracking.batch import load_motions
from mimicsim.envs.tracking.config import ActionCfg, ObservationCfg, StartCfg, TrackingEnvCfg
from mimicsim.errors import ConfigError
from mimicsim.policies.tracking.checkpoint import read_checkpoint, restore_training, save_checkpoint
from mimicsim.policies.tracking.rollout import ClipRollout, rollout_clips
from mimicsim.policies.tracking.tracker import ACTIVATIONS, tracker_metadata
from mimicsim.policies.tracking.vec_env import TrackingVecEnv


def training_env() -> TrackingEnvCfg:
    """The environment `train-tracker` uses unless told otherwise: BeyondMimic's, changed where a
    policy meant to refine motions in simulation can afford it and a few CPU-minutes of training
    cannot afford the recipe's cost:

    - actions are residuals around the reference's joint positions (`ActionCfg.offset`), so the
      untrained policy already replays the motion under PD and learning starts from balance;
    - the pelvis's linear velocity is observed (simulation knows it; a robot would estimate it);
    - start-state noise is 0.3 x BeyondMimic's (the refinement rollout starts noise-free).
    """
    recipe = StartCfg()
    return TrackingEnvCfg(
        action=ActionCfg(offset="reference"),
        observation=ObservationCfg(base_lin_vel=True),
        start=dataclasses.replace(
            recipe,
            position_noise=_scaled(recipe.position_noise, 0.3),
            orientation_noise=_scaled(recipe.orientation_noise, 0.3),
            linear_velocity_noise=_scaled(recipe.linear_velocity_noise, 0.3),
            angular_velocity_noise=_scaled(recipe.angular_velocity_noise, 0.3),
            joint_position_noise=0.3 * recipe.joint_position_noise,
        ),
    )


def _scaled(values: tuple[float, float, float], factor: float) -> tuple[float, float, float]:
    x, y, z = values
    return (factor * x, factor * y, factor * z)


@dataclass(frozen=True)
class PPOConfig:
    """PPO settings. BeyondMimic's (rsl_rl) where they carry over (epochs, clipping, discount, GAE,
    entropy, loss weights, KL-adaptive rate, ELU); changed for a few dozen CPU-simulated robots
    instead of thousands on a GPU: smaller rollouts and networks, a lower start rate and a looser
    KL target (small batches make each update's KL noisier), less initial exploration noise."""

    learning_rate: float = 3e-4
    """Initial learning rate; it then adapts to `desired_kl`."""
    desired_kl: float = 0.02
    """Adaptive schedule: the rate is divided by 1.5 when an update's KL exceeds twice this and
    multiplied by 1.5 when it falls below half; 0 keeps the rate fixed."""
    n_steps: int = 64
    """Steps per robot per rollout (rollout size = n_steps x num_envs)."""
    batch_size: int = 1024
    n_epochs: int = 5
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.005
    vf_coef: float = 1.0
    max_grad_norm: float = 1.0
    log_std_init: float = -0.7
    """Initial exploration noise: log of the standard deviation in action units (one unit is a
    quarter of a joint's torque limit through its PD gain); e^-0.7 = 0.5."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layers of the actor and of the critic."""
    activation: Literal["elu", "relu", "tanh"] = "elu"


@dataclass(frozen=True)
class TrainConfig:
    env: TrackingEnvCfg = field(default_factory=training_env)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    steps: int = 20_000_000
    """Total environment steps (over all robots), including those of a resumed checkpoint."""
    num_envs: int = 64
    """Robots simulated in parallel."""
    workers: int | None = None
    """Worker processes simulating the robots: None = one per available core, 0 = none (all in
    the training process)."""
    seed: int = 0
    checkpoint_every: int = 1_000_000
    eval_every: int = 250_000
    stop_on_success: int = 0
    """Stop after this many consecutive evaluations in which every clip is tracked to success
    (0: train for all `steps`)."""
    max_minutes: float = 0.0
    """Stop once the run's wall-clock time (including that of a resumed checkpoint) exceeds this
    (0: no limit)."""


@dataclass
class TrainResult:
    out: Path
    checkpoint: Path
    num_timesteps: int
    wall_seconds: float
    success_rate: float
    first_success_seconds: float | None
    """Wall-clock time of the first evaluation with every clip tracked to success."""


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def build_model(venv, cfg: TrainConfig) -> PPO:
    ppo = cfg.ppo
    if ppo.batch_size > ppo.n_steps * cfg.num_envs:
        raise ConfigError(
            f"ppo.batch_size {ppo.batch_size} exceeds the rollout size "
            f"{ppo.n_steps} x {cfg.num_envs} robots; lower it or raise n_steps/num_envs"
        )
    return PPO(
        "MlpPolicy",
        venv,
        learning_rate=AdaptiveRate(ppo.learning_rate),
        n_steps=ppo.n_steps,
        batch_size=ppo.batch_size,
        n_epochs=ppo.n_epochs,
        gamma=ppo.gamma,
        gae_lambda=ppo.gae_lambda,
        clip_range=ppo.clip_range,
        ent_coef=ppo.ent_coef,
        vf_coef=ppo.vf_coef,
        max_grad_norm=ppo.max_grad_norm,
        policy_kwargs={
            "net_arch": {"pi": list(ppo.hidden), "vf": list(ppo.hidden)},
            "activation_fn": ACTIVATIONS[ppo.activation],
            "log_std_init": ppo.log_std_init,
        },
        seed=cfg.seed,
        device="cpu",
        verbose=0,
    )


class AdaptiveRate:
    """A learning-rate 'schedule' whose value the KL callback moves (SB3 reads it before each update)."""

    def __init__(self, value: float):
        self.value = value

    def __call__(self, progress_remaining: float) -> float:
        return self.value


def _adaptive_rate(model: PPO) -> AdaptiveRate:
    """The model's learning rate, which `build_model` made an `AdaptiveRate`."""
    rate = model.learning_rate
    if not isinstance(rate, AdaptiveRate):
        raise TypeError(f"expected a PPO model built by build_model, its learning rate is {rate!r}")
    return rate


class _AdaptiveKL(BaseCallback):
    def __init__(self, rate: AdaptiveRate, desired_kl: float):
        super().__init__()
        self.rate, self.desired_kl = rate, desired_kl

    def _on_rollout_start(self) -> None:
        kl = self.model.logger.name_to_value.get("train/approx_kl")  # from the update just made
        if self.desired_kl > 0 and kl is not None:
            if kl > 2.0 * self.desired_kl:
                self.rate.value = max(1e-5, self.rate.value / 1.5)
            elif kl < 0.5 * self.desired_kl:
                self.rate.value = min(1e-2, self.rate.value * 1.5)

    def _on_step(self) -> bool:
        return True


class _ThreadsPerPhase(BaseCallback):
    """Torch gets one thread while the worker processes simulate (OpenMP threads spin-waiting on
    the cores they need slow both sides down by orders of magnitude) and every core for the
    update, while the workers wait: the update then takes about a third less time on 2 cores."""

    def __init__(self, update_threads: int):
        super().__init__()
        self.update_threads = update_threads

    def _on_rollout_start(self) -> None:
        torch.set_num_threads(1)

    def _on_rollout_end(self) -> None:
        torch.set_num_threads(self.update_threads)

    def _on_step(self) -> bool:
        return True


class _Periodic(BaseCallback):
    """Evaluation, checkpoints, progress bar, stopping rules."""

    def __init__(self, trainer: _Trainer):
        super().__init__()
        self.t = trainer
        self.bar: tqdm | None = None
        self._next_eval = self._next_ckpt = 0

    def _on_training_start(self) -> None:
        cfg, n = self.t.cfg, self.model.num_timesteps
        self.bar = tqdm(
            total=cfg.steps, initial=n, unit="step", unit_scale=True, desc="train-tracker", dynamic_ncols=True
        )
        self._next_eval = n + cfg.eval_every
        self._next_ckpt = n + cfg.checkpoint_every

    def _on_rollout_end(self) -> None:
        n, cfg = self.model.num_timesteps, self.t.cfg
        assert self.bar is not None  # made at training start
        self.bar.update(n - self.bar.n)
        if n >= self._next_eval:
            self._next_eval = n + cfg.eval_every
            self.t.evaluate()
            self.bar.set_postfix(success=f"{self.t.last_success:.2f}", err=f"{self.t.last_error:.3f}m")
        if n >= self._next_ckpt:
            self._next_ckpt = n + cfg.checkpoint_every
            self.t.save(f"step_{n:010d}.npz")

    def _on_step(self) -> bool:
        cfg = self.t.cfg
        if cfg.stop_on_success and self.t.success_streak >= cfg.stop_on_success:
            return False
        return not (cfg.max_minutes and self.t.elapsed() > 60.0 * cfg.max_minutes)

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Trainer:
    def __init__(self, motions: list[Path], out: Path, cfg: TrainConfig, resume: Path | None, start_time: float):
        self.motions, self.out, self.cfg, self.start_time = motions, out, cfg, start_time
        checkpoint = None if resume is None else read_checkpoint(resume)
        if checkpoint is not None and (checkpoint.env_cfg != cfg.env or checkpoint.header["ppo"] != _jsonable(cfg.ppo)):
            raise ConfigError(
                f"{resume}: was trained with other environment or PPO settings; resume "
                "with the same settings (see config.json of its run)"
            )
        workers = available_cores() if cfg.workers is None else cfg.workers
        self.venv = VecNormalize(
            VecMonitor(TrackingVecEnv(motions, cfg.env, cfg.num_envs, workers, cfg.seed)),
            norm_obs=True,
            norm_reward=False,
            clip_obs=10.0,
            gamma=cfg.ppo.gamma,
        )
        self.model = build_model(self.venv, cfg)
        if checkpoint is not None:
            restore_training(checkpoint, self.model, self.venv.obs_rms)
            self.start_time -= checkpoint.header.get("wall_seconds", 0.0)  # wall-clock time continues
            _adaptive_rate(self.model).value = checkpoint.header["learning_rate"]
        # SB3's CSV log is rewritten when opened, so a resumed run logs to its own file.
        csv_name = "progress.csv" if checkpoint is None else f"progress_from_{self.model.num_timesteps}.csv"
        self.model.set_logger(
            Logger(str(out), [CSVOutputFormat(str(out / csv_name)), TensorBoardOutputFormat(str(out))])
        )
        self.last_success, self.last_error, self.success_streak = 0.0, math.inf, 0
        self.first_success: float | None = None
        self.eval_csv = out / "eval.csv"
        if not self.eval_csv.exists():
            with open(self.eval_csv, "w", newline="") as fh:
                csv.writer(fh).writerow(
                    [
                        "timesteps",
                        "wall_seconds",
                        "success_rate",
                        "tracked_fraction",
                        "mean_body_error_m",
                        "max_body_error_m",
                        "mean_joint_error_rad",
                        "failures",
                    ]
                )

    def elapsed(self) -> float:
        return time.perf_counter() - self.start_time

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.model.predict(self.venv.normalize_obs(obs), deterministic=True)[0]

    def evaluate(self) -> list[ClipRollout]:
        rollouts = rollout_clips(self.act, self.motions, self.cfg.env)
        self.last_success = float(np.mean([r.success for r in rollouts]))
        tracked = float(np.mean([(len(r.qpos) - 1) / max(1, r.reference_frames - 1) for r in rollouts]))
        body = np.concatenate([r.errors["body_pos_global"] for r in rollouts])
        joint = np.concatenate([r.errors["joint_pos"] for r in rollouts])
        self.last_error = float(body.mean())
        self.success_streak = self.success_streak + 1 if self.last_success == 1.0 else 0
        if self.last_success == 1.0:
            # Keep the exact policy that succeeded: the next update (even of the normalisation
            # statistics alone) can tip a clip tracked with little margin.
            self.save(f"success_{self.model.num_timesteps:010d}.npz", latest=False)
            if self.first_success is None:
                self.first_success = self.elapsed()
        failures = "; ".join(
            f"{Path(r.clip).name}: {r.termination} at step {r.failure_frame}"
            for r in rollouts
            if not r.success and r.termination
        )
        logger = self.model.logger
        logger.record("eval/success_rate", self.last_success)
        logger.record("eval/tracked_fraction", tracked)
        logger.record("eval/mean_body_error_m", self.last_error)
        logger.record("eval/mean_joint_error_rad", float(joint.mean()))
        logger.record("time/wall_seconds", self.elapsed())
        with open(self.eval_csv, "a", newline="") as fh:
            csv.writer(fh).writerow(
                [
                    self.model.num_timesteps,
                    f"{self.elapsed():.1f}",
                    f"{self.last_success:.3f}",
                    f"{tracked:.3f}",
                    f"{self.last_error:.4f}",
                    f"{body.max():.4f}",
                    f"{joint.mean():.4f}",
                    failures,
                ]
            )
        return rollouts

    def save(self, name: str, latest: bool = True) -> Path:
        header = {
            "tracker": tracker_metadata(self.cfg.env, motions=[str(m) for m in self.motions]),
            "ppo": _jsonable(self.cfg.ppo),
            "learning_rate": _adaptive_rate(self.model).value,
            "obs_clip": self.venv.clip_obs,
            "obs_epsilon": self.venv.epsilon,
            "wall_seconds": self.elapsed(),
            "seed": self.cfg.seed,
        }
        path = save_checkpoint(self.out / "checkpoints" / name, self.model, self.venv.obs_rms, header)
        if latest:
            save_checkpoint(self.out / "checkpoints" / "latest.npz", self.model, self.venv.obs_rms, header)
        return path

    def close(self) -> None:
        self.venv.close()


def train_tracker(
    motions: list[Path],
    out: Path,
    cfg: TrainConfig = TrainConfig(),
    resume: Path | None = None,
    start_time: float | None = None,
) -> TrainResult:
    """Train a tracker on `motions` (RobotMotion files of `cfg.env.robot`), writing into `out`."""
    start_time = time.perf_counter() if start_time is None else start_time
    load_motions(motions)  # every clip (and the checkpoint) valid, or one clear error, before anything is written
    if resume is not None:
        read_checkpoint(resume)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        out / "config.json", json.dumps({"motions": [str(m) for m in motions], "config": _jsonable(cfg)}, indent=2)
    )
    trainer = _Trainer(motions, out, cfg, resume, start_time)
    try:
        model = trainer.model
        remaining = cfg.steps - model.num_timesteps
        if remaining > 0:
            callbacks = CallbackList(
                [
                    _ThreadsPerPhase(available_cores()),
                    _AdaptiveKL(_adaptive_rate(model), cfg.ppo.desired_kl),
                    _Periodic(trainer),
                ]
            )
            try:
                model.learn(total_timesteps=remaining, callback=callbacks, reset_num_timesteps=resume is None)
            except KeyboardInterrupt:
                print(f"interrupted; resume with --resume {trainer.save(f'step_{model.num_timesteps:010d}.npz')}")
                raise
        trainer.evaluate()
        checkpoint = trainer.save(f"step_{model.num_timesteps:010d}.npz")
    finally:
        trainer.close()
    return TrainResult(
        out=out,
        checkpoint=checkpoint,
        num_timesteps=int(trainer.model.num_timesteps),
        wall_seconds=trainer.elapsed(),
        success_rate=trainer.last_success,
        first_success_seconds=trainer.first_success,
    )


def _jsonable(config: Any) -> Any:
    return json.loads(json.dumps(dataclasses.asdict(config)))
