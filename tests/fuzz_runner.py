"""Malformed inputs for every verb that reads a file, run in one process (see test_fuzz_inputs.py).

`python fuzz_runner.py make DIR FAMILY` writes valid seed files into DIR and damages them in many
ways (truncations, wrong dtypes and shapes, out-of-range header numbers, NaN/inf, bad JSON fields,
wrong types, unwritable outputs); `python fuzz_runner.py run DIR` then runs `mimicsim.cli.main` on
each case in a fresh empty working folder, in a process that did nothing else, and prints one JSON
line per case (argv, exit status, stderr, files left behind, the process's peak memory so far).
Valid seeds are run too: they must succeed, so every failure comes from the damage.
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from mimicsim.cli import main

Case = tuple[str, list[str]]  # (name, argv); paths in argv are absolute


def _npy_with_header(path: Path, header: str, body: bytes = b"") -> Path:
    text = header.encode("latin1")
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + body)
    return path


def _bytes_cuts(data: bytes) -> list[int]:
    return sorted({0, 1, 7, 20, len(data) // 3, len(data) // 2, len(data) - 1})


def human_motion_files(root: Path) -> Iterator[tuple[str, Path]]:  # noqa: PLR0915 - one flat list of cases
    """A valid (T, 22, 3) y-up joints .npy, an npz and a BVH, then damaged versions of each."""
    from mimicsim.retarget.human.formats.bvh import write_bvh
    from mimicsim.retarget.human.formats.npz import save_npz
    from mimicsim.retarget.human.procedural import Stand, Walk, generate

    motion = generate([Stand(0.3), Walk(duration=0.7)], name="seed")
    joints = motion.positions[:, :, [1, 2, 0]].astype(np.float32)  # z-up -> y-up, as generators write
    seed = root / "seed_joints.npy"
    np.save(seed, joints)
    yield "valid joints", seed
    data = seed.read_bytes()
    for cut in _bytes_cuts(data):
        (p := root / f"cut{cut}.npy").write_bytes(data[:cut])
        yield f"npy truncated at {cut}", p
    for name, array in {
        "nan": np.where(np.arange(joints.size).reshape(joints.shape) == 5, np.nan, joints),
        "inf": joints + np.inf,
        "complex": joints.astype(np.complex64),
        "strings": joints.astype(str),
        "bool": joints > 0,
        "one frame": joints[:1],
        "no frames": joints[:0],
        "two axes": joints[:, :, :2],
        "five dims": joints[None, None],
        "flat": joints.reshape(-1),
        "huge values": joints * 1e30,
        "giant person": joints * 40,
        "tiny person": joints * 1e-4,
        "all zeros": np.zeros_like(joints),
        "scalar": np.float32(3.0),
        "wrong joint count": joints[:, :13],
    }.items():
        p = root / f"{name.replace(' ', '_')}.npy"
        np.save(p, array)
        yield f"npy {name}", p
    yield "npy pickled object", _pickled(root / "object.npy")
    yield (
        "npy shape overflows",
        _npy_with_header(
            root / "overflow.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 22, 3), }"
        ),
    )
    yield (
        "npy claims terabytes",
        _npy_with_header(
            root / "tera.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000, 22, 3), }", b"\0" * 64
        ),
    )
    yield (
        "npy negative shape",
        _npy_with_header(root / "negative.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-5, 22, 3), }"),
    )
    yield "npy header not a dict", _npy_with_header(root / "notdict.npy", "[1, 2, 3]")
    yield "npy header code", _npy_with_header(root / "code.npy", "__import__('os').system('touch /tmp/pwned')")
    yield "npy unknown version", _version(root / "version.npy", data)
    (p := root / "random.npy").write_bytes(np.random.default_rng(0).bytes(4096))
    yield "npy random bytes", p
    (p := root / "empty.npy").write_bytes(b"")
    yield "npy empty", p
    (p := root / "folder.npy").mkdir()
    yield "npy is a folder", p
    yield "npy missing", root / "missing.npy"

    npz = root / "seed.npz"
    save_npz(motion, npz)
    yield "valid npz", npz
    with np.load(npz) as archive:
        fields = dict(archive.items())
    for name, change in {
        "fps text": {"fps": np.str_("fast")},
        "fps array": {"fps": np.array([30.0, 20.0])},
        "fps zero": {"fps": np.float64(0.0)},
        "fps negative": {"fps": np.float64(-30.0)},
        "fps 1e9": {"fps": np.float64(1e9)},
        "fps 1e-6": {"fps": np.float64(1e-6)},
        "fps nan": {"fps": np.float64(np.nan)},
        "positions 2-d": {"positions": fields["positions"][:, :, 0]},
        "positions nan": {"positions": fields["positions"] * np.nan},
        "positions text": {"positions": fields["positions"].astype(str)},
        "joint names short": {"joint_names": fields["joint_names"][:3]}
        if "joint_names" in fields
        else {"joint_names": np.array(["a"])},
        "up axis nonsense": {"up": np.str_("sideways")},
        "units nonsense": {"units": np.str_("furlongs")},
    }.items():
        p = root / f"npz_{name.replace(' ', '_')}.npz"
        np.savez(p, **{**fields, **change})
        yield f"npz {name}", p
    for key in ("positions", "fps"):
        p = root / f"npz_no_{key}.npz"
        np.savez(p, **{k: v for k, v in fields.items() if k != key})
        yield f"npz without {key}", p
    yield "npz pickled member", _pickled_npz(root / "pickled.npz")
    yield "npz zip bomb header", _bomb_npz(root / "bomb.npz")
    data = npz.read_bytes()
    for cut in _bytes_cuts(data)[1:]:
        (p := root / f"npz_cut{cut}.npz").write_bytes(data[:cut])
        yield f"npz truncated at {cut}", p

    bvh = root / "seed.bvh"
    write_bvh(motion, bvh)
    yield "valid bvh", bvh
    text = bvh.read_text()
    frame_time = next(line for line in text.splitlines() if line.startswith("Frame Time:"))
    frames = next(line for line in text.splitlines() if line.startswith("Frames:"))
    for name, damaged in {
        "frame time 1e-9": text.replace(frame_time, "Frame Time: 0.000000001"),
        "frame time zero": text.replace(frame_time, "Frame Time: 0"),
        "frame time negative": text.replace(frame_time, "Frame Time: -0.03"),
        "frame time nan": text.replace(frame_time, "Frame Time: nan"),
        "frame time 1e6": text.replace(frame_time, "Frame Time: 1000000"),
        "frames huge": text.replace(frames, "Frames: 99999999999"),
        "frames negative": text.replace(frames, "Frames: -4"),
        "frames text": text.replace(frames, "Frames: many"),
        "no motion": text.split("MOTION")[0],
        "non-numeric values": text.rsplit("\n", 3)[0] + "\n" + "x " * 80 + "\n",
        "nan values": text.replace(frame_time, frame_time + "\n" + "nan " * 5, 1),
        "channels wrong": text.replace("CHANNELS 3", "CHANNELS 7", 1),
        "offset text": text.replace("OFFSET", "OFFSET a b c", 1),
        "unbalanced braces": text.replace("}", "", 3),
        "binary junk": text[:200] + "\x00\xff\xfe" * 50,
    }.items():
        p = root / f"bvh_{name.replace(' ', '_')}.bvh"
        p.write_text(damaged, errors="surrogateescape")
        yield f"bvh {name}", p
    for cut in (10, len(text) // 3, len(text) // 2, len(text) - 40):
        (p := root / f"bvh_cut{cut}.bvh").write_text(text[:cut])
        yield f"bvh truncated at {cut}", p
    (p := root / "motion.pkl").write_bytes(b"\x80\x04K\x01.")
    yield "pickle extension", p
    (p := root / "motion.txt").write_text("1 2 3")
    yield "unknown extension", p


def _pickled(path: Path) -> Path:
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return path


def _pickled_npz(path: Path) -> Path:
    np.savez(path, positions=np.array([{"a": 1}], dtype=object), fps=np.float64(30))
    return path


def _version(path: Path, data: bytes) -> Path:
    path.write_bytes(data[:6] + b"\x09\x00" + data[8:])
    return path


def _bomb_npz(path: Path) -> Path:
    """An npz whose member header promises 10^12 float64 values."""
    header = io.BytesIO()
    text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    header.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + b"\0" * 4096)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("positions.npy", header.getvalue())
        archive.writestr("fps.npy", header.getvalue())
    return path


def robot_motion_files(root: Path) -> Iterator[tuple[str, Path]]:
    """A valid G1 RobotMotion, then damaged versions."""
    from mimicsim.assets import load_robot
    from mimicsim.envs.tracking.reference_clips import squat_clip
    from mimicsim.retarget.robot_motion import save

    seed = save(squat_clip(load_robot("g1"), seconds=1.0), root / "seed_robot.npz")
    yield "valid robot motion", seed
    with np.load(seed) as npz:
        fields = dict(npz.items())
    t, n = fields["joint_pos"].shape
    for name, change in {
        "fps text": {"fps": np.str_("fast")},
        "fps array": {"fps": np.array([30.0, 30.0])},
        "fps 1e9": {"fps": np.float64(1e9)},
        "fps 1e-6": {"fps": np.float64(1e-6)},
        "source JSON": {"source": np.str_("{nope")},
        "quality JSON list": {"quality": np.str_("[]")},
        "robot foo": {"robot": np.str_("foo")},
        "robot number": {"robot": np.float64(1.0)},
        "kind": {"kind": np.str_("imagined")},
        "schema": {"schema": np.str_("mimicsim.robot_motion/0")},
        "zero quaternions": {"root_quat_wxyz": np.zeros((t, 4))},
        "body zero quaternions": {"body_quat_wxyz": np.zeros_like(fields["body_quat_wxyz"])},
        "nan joints": {"joint_pos": np.full((t, n), np.nan)},
        "inf root": {"root_pos": np.full((t, 3), np.inf)},
        "text joints": {"joint_pos": np.full((t, n), "x")},
        "joints short": {"joint_pos": fields["joint_pos"][:, :5]},
        "one frame": {
            k: v[:1]
            for k, v in fields.items()
            if k in ("root_pos", "root_quat_wxyz", "joint_pos", "joint_vel", "body_pos", "body_quat_wxyz", "contacts")
        },
        "names number": {"joint_names": np.float64(2.0)},
        "metric wrong length": {"metric__body_pos_global": np.zeros(3)},
    }.items():
        p = root / f"robot_{name.replace(' ', '_')}.npz"
        np.savez(p, **{**fields, **change})
        yield f"robot motion {name}", p
    for key in ("joint_pos", "fps", "robot", "schema"):
        p = root / f"robot_no_{key}.npz"
        np.savez(p, **{k: v for k, v in fields.items() if k != key})
        yield f"robot motion without {key}", p
    data = seed.read_bytes()
    for cut in _bytes_cuts(data)[1:]:
        (p := root / f"robot_cut{cut}.npz").write_bytes(data[:cut])
        yield f"robot motion truncated at {cut}", p
    (p := root / "robot_random.npz").write_bytes(b"\x80" + np.random.default_rng(1).bytes(2000))
    yield "robot motion random bytes", p


def checkpoint_files(root: Path) -> Iterator[tuple[str, Path]]:
    """A valid (untrained) G1 tracker checkpoint, then damaged versions."""
    from mimicsim.envs.tracking.config import TrackingEnvCfg
    from mimicsim.policies.tracking.checkpoint import SCHEMA
    from mimicsim.policies.tracking.tracker import tracker_metadata

    tracker = tracker_metadata(TrackingEnvCfg(robot="g1"))
    obs = sum(size for _, size in tracker["observation_layout"])
    joints = len(tracker["joint_names"])
    rng = np.random.default_rng(0)
    policy = {
        "mlp_extractor.policy_net.0.weight": rng.normal(size=(32, obs)) * 0.01,
        "mlp_extractor.policy_net.0.bias": np.zeros(32),
        "action_net.weight": rng.normal(size=(joints, 32)) * 0.01,
        "action_net.bias": np.zeros(joints),
    }
    header = {
        "schema": SCHEMA,
        "tracker": tracker,
        "ppo": {"activation": "elu"},
        "obs_clip": 10.0,
        "obs_epsilon": 1e-8,
        "num_timesteps": 0,
        "optimizer_param_groups": [],
    }

    def write(name: str, header: dict | str = header, policy: dict = policy, **stats: np.ndarray) -> Path:
        arrays = {f"policy/{k}": v for k, v in policy.items()}
        stats = {"obs_mean": np.zeros(obs), "obs_var": np.ones(obs), "obs_count": np.float64(1.0), **stats}
        text = header if isinstance(header, str) else json.dumps(header)
        np.savez(path := root / f"ckpt_{name.replace(' ', '_')}.npz", header=np.str_(text), **arrays, **stats)
        return path

    yield "valid checkpoint", write("valid")
    yield "checkpoint header not JSON", write("bad json", "{oops")
    yield "checkpoint schema", write("schema", {**header, "schema": "other/1"})
    yield (
        "checkpoint robot foo",
        write(
            "robot foo", {**header, "tracker": {**tracker, "robot": "foo", "env": {**tracker["env"], "robot": "foo"}}}
        ),
    )
    yield "checkpoint no tracker", write("no tracker", {k: v for k, v in header.items() if k != "tracker"})
    yield (
        "checkpoint env unknown key",
        write("env key", {**header, "tracker": {**tracker, "env": {**tracker["env"], "warp": 9}}}),
    )
    yield "checkpoint activation", write("activation", {**header, "ppo": {"activation": "sparkle"}})
    yield "checkpoint no actor", write("no actor", policy={})
    yield "checkpoint nan weights", write("nan", policy={**policy, "action_net.bias": np.full(joints, np.nan)})
    yield "checkpoint wrong shapes", write("shapes", policy={**policy, "action_net.weight": np.zeros((joints, 7))})
    yield (
        "checkpoint wrong output",
        write("outputs", policy={**policy, "action_net.weight": np.zeros((3, 32)), "action_net.bias": np.zeros(3)}),
    )
    yield "checkpoint stats shape", write("stats", obs_mean=np.zeros(3))
    yield "checkpoint nan stats", write("nan stats", obs_var=np.full(obs, np.nan))
    yield "checkpoint negative variance", write("negative", obs_var=-np.ones(obs))
    yield "checkpoint text weights", write("text", policy={**policy, "action_net.bias": np.full(joints, "w")})
    data = write("cut source").read_bytes()
    for cut in _bytes_cuts(data)[1:]:
        (p := root / f"ckpt_cut{cut}.npz").write_bytes(data[:cut])
        yield f"checkpoint truncated at {cut}", p
    (p := root / "ckpt_random.onnx").write_bytes(np.random.default_rng(2).bytes(3000))
    yield "onnx random bytes", p


def _blocked(root: Path) -> str:
    """An output path under a plain file: it can never be written."""
    (blocked := root / "a_file").write_text("")
    return str(blocked / "out")


def human_cases(root: Path) -> list[Case]:
    found: list[Case] = []
    for name, path in human_motion_files(root):
        found += [
            (f"motion info: {name}", ["motion", "info", str(path)]),
            (f"retarget: {name}", ["retarget", str(path), "--robot", "g1", "--out", "out.npz"]),
        ]
        if not name.startswith(("npy", "npz truncated", "bvh truncated")):  # one render verb is enough there
            found.append((f"motion render: {name}", ["motion", "render", str(path), "--out", "out.mp4"]))
        if not name.startswith("valid") and path.suffix in (".npy", ".npz"):  # no body motion is a hand
            found.append((f"retarget-hand: {name}", ["retarget-hand", str(path), "--out", "out.npz"]))
    valid, out = found[0][1][2], _blocked(root)
    return [
        *found,
        ("retarget: unwritable --out", ["retarget", valid, "--out", out + ".npz"]),
        ("retarget: unwritable --video", ["retarget", valid, "--out", "ok.npz", "--video", out + ".mp4"]),
        ("retarget-hand: unwritable --out", ["retarget-hand", valid, "--out", out + ".npz"]),
        ("retarget-hand: unwritable --dataset", ["retarget-hand", valid, "--out", "h.npz", "--dataset", out]),
        ("motion render: unwritable --out", ["motion", "render", valid, "--out", out + ".mp4"]),
        ("motion render: width 0", ["motion", "render", valid, "--out", "v.mp4", "--width", "0"]),
        ("motion render: height -5", ["motion", "render", valid, "--out", "v.mp4", "--height", "-5"]),
        ("motion render: video fps 0", ["motion", "render", valid, "--out", "v.mp4", "--video-fps", "0"]),
        ("render-robot: unwritable --out", ["render-robot", "g1", "--out", out + ".png"]),
        ("render-robot: width 0", ["render-robot", "g1", "--out", "r.png", "--width", "0"]),
        ("retarget-batch: unwritable --out", ["retarget-batch", str(root), "--out", out]),
        ("retarget-batch: not a folder", ["retarget-batch", valid, "--out", "batch"]),
        ("demo: unwritable --out", ["demo", "--out", out]),
        ("eval: unwritable --out", ["eval", "--task", "pick-place", "--episodes", "1", "--out", out]),
        ("eval: unknown task", ["eval", "--task", "juggle", "--out", "e"]),
        ("eval: bad policy", ["eval", "--task", "pick-place", "--policy", "no.such:module", "--out", "e"]),
    ]


def tracking_cases(root: Path) -> list[Case]:
    robot = list(robot_motion_files(root))
    checkpoints = list(checkpoint_files(root))
    valid_robot, valid_checkpoint = str(robot[0][1]), str(checkpoints[0][1])
    found: list[Case] = []
    for name, path in robot:
        found += [
            (f"retarget-eval: {name}", ["retarget-eval", str(path)]),
            (f"refine: {name}", ["refine", str(path), "--policy", valid_checkpoint, "--out", "out.npz"]),
            (f"eval-tracking: {name}", ["eval-tracking", str(path), "--policy", valid_checkpoint, "--out", "r.json"]),
        ]
        if not name.startswith("valid"):  # a valid one would start training
            found.append((f"train-tracker: {name}", ["train-tracker", str(path), "--out", "run", "--steps", "10"]))
    for name, path in checkpoints:
        found += [
            (f"export-tracker: {name}", ["export-tracker", str(path), "--out", "p.onnx"]),
            (f"refine --policy: {name}", ["refine", valid_robot, "--policy", str(path), "--out", "out.npz"]),
        ]
    out = _blocked(root)
    return [
        *found,
        ("refine: unwritable --out", ["refine", valid_robot, "--policy", valid_checkpoint, "--out", out + ".npz"]),
        ("export-tracker: unwritable --out", ["export-tracker", valid_checkpoint, "--out", out + ".onnx"]),
        ("eval-tracking: unwritable --out", ["eval-tracking", valid_robot, "--policy", valid_checkpoint, "--out", out]),
        ("train-tracker: unwritable --out", ["train-tracker", valid_robot, "--out", out, "--steps", "10"]),
        (
            "train-tracker: --resume damaged",
            ["train-tracker", valid_robot, "--out", "run", "--resume", str(checkpoints[5][1])],
        ),
        ("refine-batch: unwritable --out", ["refine-batch", str(root), "--policy", valid_checkpoint, "--out", out]),
        ("refine-batch: damaged policy", ["refine-batch", str(root), "--policy", str(checkpoints[3][1]), "--out", "b"]),
    ]


FAMILIES: dict[str, Callable[[Path], list[Case]]] = {"human": human_cases, "tracking": tracking_cases}


def run(argv: list[str], workdir: Path) -> dict:
    """Run the CLI on `argv` in `workdir`: its exit status, stderr and the files it left there."""
    stderr = io.StringIO()
    with contextlib.chdir(workdir), contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            status: int | str = main(argv)
        except SystemExit as exc:  # tyro's own parse errors
            status = exc.code if isinstance(exc.code, int) else 1
        except Exception as exc:
            status = f"uncaught {type(exc).__name__}: {exc}"
    left = sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*"))
    return {"status": status, "stderr": stderr.getvalue(), "left": left}


def make(root: Path, family: str) -> None:
    """Write the family's input files under `root` and its cases to `root/cases.json`: damaged inputs
    first, the valid seeds last (a valid case keeps its robot and policy loaded; run first, it would
    stand in the way of measuring the damaged ones)."""
    (inputs := root / "inputs").mkdir(parents=True)
    found = FAMILIES[family](inputs)
    found.sort(key=lambda case: case[0].split(": ", 1)[-1].startswith("valid"))
    (root / "cases.json").write_text(json.dumps(found))


def _peak_mb() -> float:
    """This process's peak resident memory. Not `getrusage`'s ru_maxrss: Linux carries that over
    from the parent across fork and exec, so a runner started by a large pytest process would
    report the parent's size."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def run_all(root: Path) -> None:
    """Run the cases of `root/cases.json`, one JSON line each, then the process's peak memory."""
    for i, (name, argv) in enumerate(json.loads((root / "cases.json").read_text())):
        (workdir := root / f"case{i:04d}").mkdir()
        result = run(argv, workdir)
        peak_mb = _peak_mb()
        print(json.dumps({"name": name, "argv": argv, "peak_mb": peak_mb, **result}), flush=True)


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    if sys.argv[1] == "make":
        make(Path(sys.argv[2]), sys.argv[3])
    else:
        run_all(Path(sys.argv[2]))
