"""The read options (`--format --fps --up --units --mapping ...`) at every verb that reads motion."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from mimicsim.cli import main
from mimicsim.errors import ConfigError
from mimicsim.manifest import MANIFEST
from mimicsim.retarget.batch import run_batch
from mimicsim.retarget.human.normalize import axes_rotation
from mimicsim.retarget.human.procedural import Stand, Walk, generate
from mimicsim.retarget.human.read_options import ReadOptions
from mimicsim.retarget.retargeter import RetargetConfig, config_to_dict
from mimicsim.retarget.robot_motion import load


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A 30 fps walk saved as a y-up joint array in centimetres: nothing in the file says so."""
    root = tmp_path_factory.mktemp("arrays")
    walk = generate([Stand(0.3), Walk(duration=0.7)], name="walk", fps=30.0)
    np.save(root / "walk.npy", (100.0 * walk.positions @ axes_rotation("y")).astype(np.float32))
    return root, walk.num_frames


def test_retarget_takes_the_file_frame_rate_up_axis_and_units(folder, tmp_path, capsys):
    root, frames = folder
    out = tmp_path / "walk.npz"
    assert (
        main(["retarget", str(root / "walk.npy"), "--fps", "30", "--up", "y", "--units", "cm", "--out", str(out)]) == 0
    )
    motion = load(out)
    assert (motion.fps, motion.num_frames) == (30.0, frames)
    assert motion.source["details"]["up"] == "y" and motion.source["details"]["units"] == "cm"
    assert motion.quality["passes"]["keypoint_error_mm"]
    # Without --fps the array is read at the joint-array default, 20 fps: the clip lasts 1.5x longer.
    assert main(["retarget", str(root / "walk.npy"), "--up", "y", "--units", "cm", "--out", str(out)]) == 0
    assert load(out).fps == 20.0
    assert main(["retarget", str(root / "walk.npy"), "--mapping", str(root / "walk.npy")]) == 2
    assert "does not apply to format 'joints'" in capsys.readouterr().err


def test_retarget_batch_passes_the_read_options_to_every_clip(folder, tmp_path):
    root, frames = folder
    out = tmp_path / "batch"
    assert main(["retarget-batch", str(root), "--out", str(out), "--fps", "30", "--up", "y", "--units", "cm"]) == 0
    motion = load(out / "walk.npz")
    assert (motion.fps, motion.num_frames) == (30.0, frames)
    with sqlite3.connect(out / MANIFEST) as db:
        job = json.loads(db.execute("SELECT value FROM meta WHERE key = 'job'").fetchone()[0])
    assert job["read"] == {"fps": 30.0, "up": "y", "units": "cm"}
    with pytest.raises(ConfigError, match=r"different settings \(read\)"):
        read = ReadOptions(fps=20.0, up="y", units="cm").to_dict()
        run_batch(root, out, "g1", config_to_dict(RetargetConfig()), progress=False, read=read)


def test_read_options_round_trip_as_json(tmp_path):
    options = ReadOptions(format="joints", fps=30.0, up="y", units="cm", mapping=tmp_path / "map.json")
    values = json.loads(json.dumps(options.to_dict()))
    assert values["mapping"] == str((tmp_path / "map.json").resolve())
    assert ReadOptions.from_dict(values) == options
    with pytest.raises(ConfigError, match="unknown read option frame_rate"):
        ReadOptions.from_dict({"frame_rate": 30})
