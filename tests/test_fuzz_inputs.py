"""Hostile input for every verb that reads a file: each damaged input ends in exit status 2 with one
line on stderr, writes nothing, and is handled within 1 GB of memory (the cases and how they are
run: fuzz_runner.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).with_name("fuzz_runner.py")
FAMILIES = ("human", "tracking")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> list[dict]:
    roots = {family: tmp_path_factory.mktemp(f"fuzz_{family}") for family in FAMILIES}
    for family, root in roots.items():
        subprocess.run([sys.executable, str(RUNNER), "make", str(root / "work"), family], check=True, timeout=300)
    # The families run side by side, each in a process that does nothing else.
    runs = [
        subprocess.Popen([sys.executable, str(RUNNER), "run", str(root / "work")], stdout=subprocess.PIPE, text=True)
        for root in roots.values()
    ]
    rows = []
    for family, process in zip(FAMILIES, runs, strict=True):
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0
        rows += [{**json.loads(line), "family": family} for line in out.splitlines()]
    return rows


def _damaged(rows: list[dict]) -> list[dict]:
    return [r for r in rows if not r["name"].split(": ", 1)[1].startswith("valid")]


def test_there_are_hundreds_of_damaged_inputs_across_the_verbs(results):
    damaged = _damaged(results)
    verbs = {r["name"].split(":")[0] for r in damaged}
    assert len(damaged) >= 200
    assert verbs >= {
        "motion info",
        "motion render",
        "retarget",
        "retarget-eval",
        "retarget-hand",
        "refine",
        "eval-tracking",
        "train-tracker",
        "export-tracker",
        "retarget-batch",
        "refine-batch",
        "eval",
        "render-robot",
    }


def test_every_damaged_input_is_one_line_exit_2_and_nothing_written(results):
    wrong = []
    for r in _damaged(results):
        lines = r["stderr"].strip().splitlines()
        if r["status"] != 2 or len(lines) != 1 or not lines[0].startswith("mimicsim: error: ") or r["left"]:
            wrong.append(f"{r['name']}: status {r['status']}, stderr {lines[-3:]}, left {r['left']}")
    assert not wrong, "\n".join(wrong)


def test_the_valid_seeds_work(results):
    """So that every failure above comes from the damage, not from a broken seed."""
    valid = [r for r in results if r not in _damaged(results)]
    assert len(valid) >= 8
    assert all(r["status"] == 0 for r in valid), [(r["name"], r["stderr"][-300:]) for r in valid if r["status"]]


def test_damaged_inputs_are_handled_within_1_gb(results):
    # Damaged cases run first in each process; the peak after the last of them bounds them all.
    for family in FAMILIES:
        peaks = [r["peak_mb"] for r in _damaged(results) if r["family"] == family]
        assert peaks and max(peaks) < 1024, (family, max(peaks))
