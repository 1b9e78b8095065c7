"""mj_step throughput per robot on one core, holding the standing pose under PD.

Run: .venv/bin/python benchmarks/sim_speed.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import time

import mujoco

from mimicsim.assets import load_robot, robot_names


def steps_per_second(name: str, seconds: float) -> float:
    spec = load_robot(name)
    data = spec.make_data()
    mujoco.mj_step(spec.model, data, nstep=100)  # warm up
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        mujoco.mj_step(spec.model, data, nstep=500)
        steps += 500
        if data.qpos[2] < 0.3 * spec.default_qpos[2]:  # keep measuring a standing robot
            mujoco.mj_resetData(spec.model, data)
            data.qpos[:] = spec.default_qpos
            data.ctrl[:] = spec.default_joint_pos
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per robot")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    print(f"{'robot':<6} {'DoF':>4} {'timestep (s)':>12} {'mj_step/s':>10} {'x real time':>11}")
    for name in robot_names():
        spec = load_robot(name)
        rate = steps_per_second(name, args.seconds)
        print(
            f"{name:<6} {spec.dof:>4} {spec.model.opt.timestep:>12.4f} {rate:>10.0f} "
            f"{rate * spec.model.opt.timestep:>11.1f}"
        )


if __name__ == "__main__":
    main()
