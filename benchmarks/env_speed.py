"""Tracking-environment throughput against raw mj_step at the same substeps, on one core.

For each robot and K robots per environment (K = 1: the Gymnasium `TrackingEnv` of
`gymnasium.make("mimicsim/Track-G1-v0")`; K > 1: the `TrackingVectorEnv` of `gymnasium.make_vec(...,
vectorization_mode="vector_entry_point")`, which is also what each `train-tracker` worker steps),
two loops run the same model (the environment's timestep and solver settings), the same physics
steps per policy step and the same PD targets (the reference's joints, from noise-free starts, so
both simulate a robot that stays up):

- raw: `data.ctrl = target; mj_step(model, data, nstep=decimation)` for each robot;
- env: the environment's step (actions, physics, state reading, errors, rewards, terminations,
  observations, info) including its resets at clip ends.

They alternate in short rounds so both see the same machine load. Overhead = raw rate / env rate - 1;
target <= 25 %.

Run: .venv/bin/python benchmarks/env_speed.py [--seconds 6] [--robots g1 h1] [--batch 1 16 32]
"""

from __future__ import annotations

import argparse
import os
import time

import mujoco
import numpy as np

from mimicsim.assets import load_robot, robot_names
from mimicsim.envs.tracking.config import TrackingEnvCfg
from mimicsim.envs.tracking.env import TrackingEnv
from mimicsim.envs.tracking.reference_clips import arm_wave_clip
from mimicsim.envs.tracking.vector import TrackingVectorEnv

ROUND_STEPS = 100


def measure(robot: str, num_envs: int, seconds: float) -> tuple[float, float]:
    """(raw, env) robot-steps per second."""
    cfg = TrackingEnvCfg(robot=robot).evaluation()
    clip = arm_wave_clip(load_robot(robot), seconds=20.0)
    env = TrackingEnv([clip], cfg=cfg) if num_envs == 1 else TrackingVectorEnv([clip], num_envs, cfg=cfg)
    batch = env.batch
    ref = batch.reference
    actions = ((ref.joint_pos - batch.default_joint_pos) / batch.action_scale).astype(np.float32)
    last = ref.num_frames - 1
    env.reset(seed=0)

    def env_round() -> None:
        for _ in range(ROUND_STEPS):
            target = actions[np.minimum(batch.frames + 1, last)]
            _, _, terminated, truncated, _ = env.step(target[0] if num_envs == 1 else target)
            if num_envs == 1 and (terminated or truncated):  # the vector environment restarts its own
                env.reset()

    raw_model = batch.models[0]
    raw_datas = [mujoco.MjData(raw_model) for _ in range(num_envs)]
    decimation, frame = batch.cfg.sim.decimation, last

    def raw_round() -> None:
        nonlocal frame
        for _ in range(ROUND_STEPS):
            if frame == last:  # start the clip again from its first frame, as the environment does
                frame = 0
                for d in raw_datas:
                    mujoco.mj_resetData(raw_model, d)
                    d.qpos[:], d.qvel[:] = ref.qpos[0], ref.qvel[0]
                    mujoco.mj_forward(raw_model, d)
            frame += 1
            for d in raw_datas:
                d.ctrl[:] = ref.joint_pos[frame]
                mujoco.mj_step(raw_model, d, nstep=decimation)

    env_round(), raw_round()  # warm up
    spent = {"raw": 0.0, "env": 0.0}
    rounds = 0
    while spent["raw"] + spent["env"] < seconds:
        for name, run in (("raw", raw_round), ("env", env_round)):
            start = time.perf_counter()
            run()
            spent[name] += time.perf_counter() - start
        rounds += 1
    # A fallen robot simulates at a different speed: both loops must have kept theirs up.
    for name, datas in (("raw", raw_datas), ("env", batch.datas)):
        height = min(d.qpos[2] for d in datas)
        if height < 0.5 * ref.qpos[0, 2]:
            raise SystemExit(
                f"{robot}: a robot fell in the {name} loop (root height {height:.2f} m); "
                "the comparison would not be like for like"
            )
    robot_steps = rounds * ROUND_STEPS * num_envs
    return robot_steps / spent["raw"], robot_steps / spent["env"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=6.0, help="measuring time per robot and batch size")
    parser.add_argument("--robots", nargs="*", default=robot_names())
    parser.add_argument(
        "--batch",
        nargs="*",
        type=int,
        default=[1, 16, 32],
        help="robots per environment (1: TrackingEnv, more: TrackingVectorEnv)",
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    decimation = TrackingEnvCfg().sim.decimation
    print(f"{'robot':<6} {'K':>3} {'substeps':>8} {'raw steps/s':>12} {'env steps/s':>12} {'overhead':>9}")
    for robot in args.robots:
        try:
            load_robot(robot)
        except Exception as exc:  # a robot whose model is missing is reported, not fatal
            print(f"{robot:<6} unavailable: {exc}")
            continue
        for k in args.batch:
            raw, env = measure(robot, k, args.seconds)
            print(f"{robot:<6} {k:>3} {decimation:>8} {raw:>12.0f} {env:>12.0f} {raw / env - 1:>9.1%}")


if __name__ == "__main__":
    main()
