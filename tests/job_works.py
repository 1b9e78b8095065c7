"""Small `Work`s for the job engine's tests (a module, so spawned workers and Ray can import them)."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mimicsim.jobs import Item, Result, Work


@dataclass
class Draw(Work):
    """A seeded draw per item, written as a file; item "crash" kills its worker, "bad" raises."""

    seconds: float = 0.0
    pid_folder: str = ""
    item_name = "draw"

    def setup(self) -> None:
        if self.pid_folder:  # tells the test which processes are workers
            Path(self.pid_folder, str(os.getpid())).touch()

    def run(self, item: Item) -> Result:
        if item.key == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        if item.key == "bad":
            raise ValueError("this item is bad")
        time.sleep(self.seconds)
        value = float(np.random.default_rng(item.args["seed"]).normal())
        return Result(item.key, True, units=1, data={"value": value}, files={f"{item.key}.txt": f"{value!r}".encode()})


@dataclass
class SpawnedDraw(Draw):
    start_method = "spawn"
