"""Control steps per second of the manipulation tasks, state-only and with both cameras rendered
every 4th step (a policy executing 4 actions per chunk), and episodes per minute per core at each
task's step limit, with each task's physics step and contact count after the timed steps. Prints a
table. The robot holds still while timed, so pour's beads rest in the cup and unfold's cloth lies
folded: the contact load of a settled scene.

    python benchmarks/task_speed.py [--steps 40]
"""

from __future__ import annotations

import argparse
import time

from mimicsim.envs.manipulation.pick_place import PickPlaceEnv
from mimicsim.envs.manipulation.pour import PourEnv
from mimicsim.envs.manipulation.unfold import UnfoldEnv
from mimicsim.rendering import gl_backend

TASKS = {"pick-place": PickPlaceEnv, "pour": PourEnv, "unfold": UnfoldEnv}


def _steps_per_second(env_cls, steps: int, **kwargs) -> tuple[float, float, int]:
    env = env_cls(**kwargs)
    start = time.perf_counter()
    obs, _ = env.reset(seed=0)
    reset_seconds = time.perf_counter() - start
    action = obs["state"].copy()
    start = time.perf_counter()
    for _ in range(steps):
        obs, *_ = env.step(action)
    rate = steps / (time.perf_counter() - start)
    contacts = int(env.data.ncon)
    env.close()
    return rate, reset_seconds, contacts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="control steps timed per configuration")
    args = parser.parse_args()
    print(f"rendering backend: {gl_backend()}; images 224x224, cameras third_person + wrist")
    print(
        f"{'task':<11} {'physics ms':>10} {'contacts':>8} {'state-only steps/s':>19} {'cameras/4 steps/s':>18} "
        f"{'reset s':>8} {'max steps':>9} {'episodes/min/core':>18}"
    )
    for name, env_cls in TASKS.items():
        state_rate, reset_s, contacts = _steps_per_second(env_cls, args.steps, cameras=())
        camera_rate, _, _ = _steps_per_second(env_cls, args.steps, render_every=4)
        episode_seconds = reset_s + env_cls.max_steps / state_rate
        print(
            f"{name:<11} {env_cls.physics_dt * 1000:>10.1f} {contacts:>8d} {state_rate:>19.1f} {camera_rate:>18.1f} "
            f"{reset_s:>8.2f} {env_cls.max_steps:>9d} {60.0 / episode_seconds:>18.2f}"
        )


if __name__ == "__main__":
    main()
