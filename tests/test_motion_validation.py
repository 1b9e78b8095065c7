"""Malformed motion files, generated here: each gives the intended error naming the file, and
nothing is written (no traceback, no output file), through the API and the CLI."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mimicsim.cli import main
from mimicsim.errors import ConfigError, InputFileError
from mimicsim.retarget.human import procedural
from mimicsim.retarget.human.formats import load_motion
from mimicsim.retarget.human.formats.bvh import write_bvh
from mimicsim.retarget.human.normalize import axes_rotation
from mimicsim.retarget.human.skeleton import SMPL_JOINTS

CLIP = procedural.generate([procedural.Stand(0.3), procedural.Walk(1.0)], fps=20.0)
Y_UP_JOINTS = CLIP.positions @ axes_rotation("y")  # the clip as a y-up (HumanML3D-style) array


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], Path]
    """Writes the bad input into a folder and returns its path."""
    message: str
    """A fragment the error message must contain."""
    options: tuple[tuple[str, object], ...] = ()
    cli_args: tuple[str, ...] = ()
    blame: str | None = None
    """The file the message must name, when it is not the motion file (e.g. a mapping)."""


def npy(name: str, array: np.ndarray) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        np.save(folder / name, array)
        return folder / name

    return make


def raw(name: str, data: bytes | str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        return path

    return make


def npz(name: str, **arrays: object) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        np.savez(folder / name, **arrays)
        return folder / name

    return make


def joints_with(edit: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return edit(Y_UP_JOINTS.copy())


def bvh_text(scale: float = 1.0) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        text = write_bvh(CLIP, Path(tmp) / "c.bvh").read_text()
    if scale == 1.0:
        return text
    head, _, motion = text.partition("MOTION\n")
    head = "\n".join(_scale_offset(line, scale) for line in head.splitlines()) + "\n"
    rows = motion.splitlines()
    data = [" ".join(f"{float(v) * scale:.9f}" if k < 3 else v for k, v in enumerate(row.split())) for row in rows[2:]]
    return head + "MOTION\n" + "\n".join(rows[:2] + data) + "\n"


def _scale_offset(line: str, scale: float) -> str:
    if "OFFSET" not in line:
        return line
    indent, _, numbers = line.partition("OFFSET ")
    return indent + "OFFSET " + " ".join(f"{float(v) * scale:.9f}" for v in numbers.split())


BVH = bvh_text()
HEAD, _, BODY = BVH.partition("MOTION\n")
ROWS = BODY.splitlines()


def bvh_rows(edit: Callable[[list[str]], list[str]]) -> str:
    return HEAD + "MOTION\n" + "\n".join(edit(list(ROWS))) + "\n"


def mdm(motion: object, **extra: object) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        np.save(folder / "results.npy", np.array({"motion": motion, **extra}, dtype=object), allow_pickle=True)
        return folder / "results.npy"

    return make


def mapping_file(name: str, mapping: dict, bvh: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / name).write_text(json.dumps(mapping))
        (folder / "m.bvh").write_text(bvh)
        return folder / "m.bvh"

    return make


RENAMED = {name: f"Bone{j:02d}" for j, name in enumerate(SMPL_JOINTS)}
RENAMED_BVH = BVH
for _name in sorted(SMPL_JOINTS, key=len, reverse=True):
    RENAMED_BVH = RENAMED_BVH.replace(f"JOINT {_name}\n", f"JOINT {RENAMED[_name]}\n").replace(
        f"ROOT {_name}\n", f"ROOT {RENAMED[_name]}\n"
    )
STATS = np.zeros(263)
TILT = Rotation.align_vectors([[1.0, 1.0, 1.0]], [[0.0, 1.0, 0.0]])[0].as_matrix()  # y-up body up -> the diagonal
NORMALISED_263 = np.random.default_rng(0).normal(size=(40, 263))
NORMALISED_272 = np.random.default_rng(1).normal(size=(40, 272))

CASES = [
    # .npy arrays
    Case("empty npy", raw("empty.npy", b""), "the file is empty"),
    Case("binary junk npy", raw("junk.npy", bytes(range(256)) * 8), "not a NumPy .npy file"),
    Case(
        "truncated npy", lambda d: raw("t.npy", (npy("full.npy", Y_UP_JOINTS)(d)).read_bytes()[:3000])(d), "truncated"
    ),
    Case("pickled object npy", npy("obj.npy", np.array({"a": 1}, dtype=object)), "pickled Python object"),
    Case("pickle file", raw("clip.pkl", pickle.dumps({"motion": [1, 2]})), "pickles"),
    Case("NaN joints", npy("nan.npy", joints_with(lambda a: (a.__setitem__((5, 3, 1), np.nan), a)[1])), "NaN"),
    Case("inf joints", npy("inf.npy", joints_with(lambda a: (a.__setitem__((7, 0, 0), np.inf), a)[1])), "infinite"),
    Case("one frame", npy("one.npy", Y_UP_JOINTS[:1]), "at least 2 frames"),
    Case("zero frames", npy("zero.npy", Y_UP_JOINTS[:0]), "at least 2 frames"),
    Case("2-D coordinates", npy("xy.npy", Y_UP_JOINTS[..., :2]), "is not joint positions"),
    Case("joints-first axes", npy("jt.npy", Y_UP_JOINTS.transpose(1, 0, 2)), "transpose it to (T, J, 3)"),
    Case("coordinates-first axes", npy("tcj.npy", Y_UP_JOINTS.transpose(0, 2, 1)), "transpose it to (T, J, 3)"),
    Case("hand keypoints", npy("hand.npy", np.zeros((30, 21, 3))), "a hand"),
    Case("unknown joint count", npy("j17.npy", np.zeros((30, 17, 3))), "17 joints per frame"),
    Case("unknown feature width", npy("w100.npy", np.zeros((30, 100))), "cannot tell the format"),
    Case("statistics vector", npy("Mean.npy", STATS), "normalisation statistics"),
    Case("joints in centimetres", npy("cm.npy", Y_UP_JOINTS * 100), "centimetres"),
    Case("joints in millimetres", npy("mm.npy", Y_UP_JOINTS * 1000), "millimetres"),
    Case(
        "scrambled joints",
        npy("scr.npy", np.random.default_rng(2).permutation(Y_UP_JOINTS.reshape(-1, 3)).reshape(Y_UP_JOINTS.shape)),
        "do not form a skeleton",
    ),
    Case(
        "a body tilted 55 degrees from every axis", npy("tilt.npy", Y_UP_JOINTS @ TILT.T), "cannot detect the up axis"
    ),
    Case("NaN features", npy("nanf.npy", np.full((20, 263), np.nan)), "NaN or infinite features"),
    Case("normalised 263 features", npy("n263.npy", NORMALISED_263), "look normalised"),
    Case("normalised 272 features", npy("n272.npy", NORMALISED_272), "look normalised"),
    Case(
        "mean of the wrong size",
        npy("f.npy", NORMALISED_263),
        "std has 10 values",
        (("mean", np.zeros(263)), ("std", np.ones(10))),
    ),
    Case(
        "mean without std",
        npy("f.npy", NORMALISED_263),
        "give both mean= and std=",
        (("mean", np.zeros(263)),),
    ),
    # .npz files
    Case("npz without positions", npz("np.npz", fps=30.0), "no 'positions' array"),
    Case("npz without fps", npz("nf.npz", positions=CLIP.positions), "no 'fps' value"),
    Case("npz with fps 0", npz("f0.npz", positions=CLIP.positions, fps=0.0), "fps must lie in 1-1000"),
    Case("npz with negative fps", npz("fn.npz", positions=CLIP.positions, fps=-30.0), "fps must lie in 1-1000"),
    Case(
        "npz holding a pickle",
        npz("pk.npz", positions=np.array([{"x": 1}], dtype=object), fps=30.0),
        "pickled Python object",
    ),
    Case("npz that is not a zip", raw("bad.npz", b"PK\x03\x04 not really a zip archive at all"), "not an .npz archive"),
    Case(
        "AMASS parameters without body models",
        npz("amass.npz", poses=np.zeros((10, 156)), trans=np.zeros((10, 3)), betas=np.zeros(16), mocap_framerate=60.0),
        "need the licensed body model",
    ),
    Case(
        "joint names of the wrong length",
        npz("jn.npz", positions=CLIP.positions, fps=30.0, joint_names=np.array(SMPL_JOINTS[:5])),
        "5 joint_names for 22 joints",
    ),
    Case(
        "npz of an unknown skeleton",
        npz("uk.npz", positions=CLIP.positions, fps=30.0, joint_names=np.array([f"j{i}" for i in range(22)])),
        "unknown skeleton",
    ),
    Case(
        "y-up data in a z-up npz", npz("yz.npz", positions=Y_UP_JOINTS, fps=20.0, up="z"), "lying down in every frame"
    ),
    # BVH
    Case("empty bvh", raw("e.bvh", ""), "the file is empty"),
    Case("binary bvh", raw("b.bvh", b"\x00\x01\x02BVH" * 50), "binary data"),
    Case("not a bvh", raw("n.bvh", "hello world\n"), "does not start with HIERARCHY"),
    Case("truncated bvh data", raw("td.bvh", BVH[: len(BVH) - 2000]), "truncated"),
    Case("truncated bvh hierarchy", raw("th.bvh", BVH[:400]), "no MOTION section"),
    Case(
        "non-numeric bvh value",
        raw("nn.bvh", bvh_rows(lambda r: [*r[:5], "1.0 abc " + r[5], *r[6:]])),
        "'abc' is not a number",
    ),
    Case("extra bvh values", raw("ex.bvh", bvh_rows(lambda r: [*r, "1 2 3"])), "extra values"),
    Case(
        "zero frame time",
        raw("ft.bvh", bvh_rows(lambda r: [r[0], "Frame Time: 0", *r[2:]])),
        "Frame Time must be positive",
    ),
    Case("one-frame bvh", raw("of.bvh", bvh_rows(lambda r: ["Frames: 1", r[1], r[2]])), "at least 2 frames"),
    Case(
        "unknown channel",
        raw("uc.bvh", BVH.replace("Xrotation Yrotation", "Xrotation Wrotation", 1)),
        "unknown channel 'Wrotation'",
    ),
    Case("bad offset", raw("bo.bvh", BVH.replace("OFFSET 0.000000000", "OFFSET zero", 1)), "expected a number"),
    Case(
        "NaN in bvh frames", raw("nan.bvh", bvh_rows(lambda r: [*r[:4], "nan " + r[4].split(" ", 1)[1], *r[5:]])), "NaN"
    ),
    Case(
        "centimetre bvh read as metres",
        raw("cm.bvh", bvh_text(100.0)),
        "centimetres",
        (("units", "m"),),
        ("--units", "m"),
    ),
    Case("bvh of no known units", raw("u4.bvh", bvh_text(4.0)), "cannot tell the units"),
    Case("bvh of an unknown skeleton", raw("us.bvh", RENAMED_BVH), "pass mapping=FILE.json"),
    Case(
        "mapping missing joints",
        mapping_file("map.json", {"pelvis": "Bone00"}, RENAMED_BVH),
        "missing: left_hip",
        (("mapping", "MAP"),),
        ("--mapping", "MAP"),
        blame="map.json",
    ),
    Case(
        "mapping naming absent joints",
        mapping_file("map.json", dict(RENAMED, head="Skull"), RENAMED_BVH),
        "names joints this file lacks: Skull",
        (("mapping", "MAP"),),
        ("--mapping", "MAP"),
    ),
    # anything else
    Case("unknown extension", raw("clip.fbx", b"Kaydara FBX Binary"), "unknown file type '.fbx'"),
    Case("missing file", lambda d: d / "nowhere.bvh", "no such file"),
    Case("a directory", lambda d: (d / "dir.npy").mkdir() or d / "dir.npy", "is a directory"),
    Case(
        "mdm format on a plain array",
        npy("plain.npy", Y_UP_JOINTS),
        "not an MDM results.npy",
        (("format", "mdm"),),
        ("--format", "mdm"),
    ),
    Case(
        "mdm dict without motion",
        mdm(None, text=["x"]),
        "MDM results need 'motion'",
        (("format", "mdm"),),
        ("--format", "mdm"),
    ),
    Case(
        "mdm sample out of range",
        mdm(Y_UP_JOINTS.transpose(1, 2, 0)[None]),
        "sample=3 but the file holds 1",
        (("format", "mdm"), ("sample", 3)),
        ("--format", "mdm", "--sample", "3"),
    ),
]


def _options(case: Case, folder: Path) -> dict[str, object]:
    return {k: (folder / "map.json" if isinstance(v, str) and v == "MAP" else v) for k, v in case.options}


def _cli_args(case: Case, folder: Path) -> list[str]:
    return [str(folder / "map.json") if a == "MAP" else a for a in case.cli_args]


def test_there_are_at_least_thirty_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input_gives_a_clear_error_naming_the_file(case, tmp_path):
    path = case.make(tmp_path)
    options = _options(case, tmp_path)
    fmt = options.pop("format", None)
    with pytest.raises(InputFileError) as info:
        load_motion(path, fmt, **options)
    assert str(tmp_path / case.blame if case.blame else path) in str(info.value)
    assert case.message in str(info.value)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_cli_prints_one_line_exits_2_and_writes_nothing(case, tmp_path, capsys):
    path = case.make(tmp_path)
    before = set(tmp_path.rglob("*"))
    out = tmp_path / "out" / "clip.mp4"
    for verb in (["motion", "info", str(path)], ["motion", "render", str(path), "--out", str(out)]):
        assert main(verb + _cli_args(case, tmp_path)) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mimicsim: error: ")
        assert str(tmp_path / case.blame if case.blame else path) in lines[0]
        assert "Traceback" not in captured.err
    assert set(tmp_path.rglob("*")) == before, "the failed command left files behind"


def test_cli_subprocess_exit_status_and_single_line(tmp_path):
    bad = tmp_path / "bad.bvh"
    bad.write_text(BVH[:400])
    result = subprocess.run(
        [sys.executable, "-m", "mimicsim.cli", "motion", "info", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    expected = f"mimicsim: error: {bad}: malformed BVH: no MOTION section (truncated?)"
    assert result.stderr.strip().splitlines() == [expected]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"up": "sideways"}, "up='sideways'"),
        ({"units": "furlongs"}, "units='furlongs'"),
        ({"units": -1.0}, "units=-1.0"),
        ({"format": "fbx"}, "unknown format 'fbx'"),
        ({"format": "rep272", "units": "cm"}, "option units does not apply to format 'rep272'"),
    ],
)
def test_bad_options_are_config_errors(options, message, tmp_path):
    path = npy("j.npy", Y_UP_JOINTS)(tmp_path)
    fmt = options.pop("format", None)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_motion(path, fmt, **options)
