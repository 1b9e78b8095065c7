"""SMPL, SMPL-H and SMPL-X parameter files through the user's own body models (synthetic ones here)."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from body_models import smplx_joints, synthetic_model, walking_poses, write_model
from scipy.sparse import csc_matrix
from scipy.spatial.transform import Rotation

from mimicsim.errors import ConfigError, InputFileError
from mimicsim.retarget.human.formats import load_motion
from mimicsim.retarget.human.formats.body_model import ENV_VAR, load_body_model
from mimicsim.retarget.human.normalize import axes_rotation

Z_UP = Rotation.from_euler("x", 90, degrees=True)
"""AMASS's root orientation convention: the body models stand along +y, AMASS's world is z-up."""


@pytest.fixture(autouse=True)
def _no_env_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("body_models")
    for i, model_type in enumerate(("smpl", "smplh", "smplx")):
        write_model(directory, model_type, "neutral", seed=i)
    write_model(directory, "smplh", "male", layout="amass", seed=7)
    return directory


def _params(path: Path, kind: str, frames: int = 40, **extra: object) -> tuple[Path, dict]:
    poses, trans = walking_poses(kind, frames, 30.0)
    data = {"poses": poses, "trans": trans, "betas": np.random.default_rng(3).normal(size=10), "fps": 30.0}
    data.update(extra)
    np.savez(path, **data)
    return path, data


@pytest.mark.parametrize("model_type", ["smpl", "smplh", "smplx"])
def test_joints_equal_the_smplx_forward_pass(models: Path, tmp_path: Path, model_type: str) -> None:
    path, data = _params(tmp_path / "clip.npz", model_type)
    motion = load_motion(path, body_models=models, up="y")
    model_file = models / model_type / f"{model_type.upper()}_NEUTRAL.npz"
    reference = smplx_joints(model_file, model_type, data["poses"], data["trans"], data["betas"])
    expected = reference @ axes_rotation("y").T
    assert motion.source.format == "smpl"
    assert np.abs(motion.positions - expected).max() < 1e-6


def test_zero_pose_gives_the_rest_joints(models: Path, tmp_path: Path) -> None:
    model = synthetic_model("smplx", seed=2)
    rest = model["J_regressor"][:22] @ model["v_template"]
    frames = 3
    np.savez(
        tmp_path / "rest.npz", poses=np.zeros((frames, 165)), trans=np.zeros((frames, 3)), betas=np.zeros(10), fps=30.0
    )
    motion = load_motion(tmp_path / "rest.npz", body_models=models, up="y")
    assert np.abs(motion.positions - rest @ axes_rotation("y").T).max() < 1e-9


def test_trans_moves_the_root_exactly(models: Path, tmp_path: Path) -> None:
    base, data = _params(tmp_path / "a.npz", "smplh", model_type="smplh")
    shift = np.array([0.7, -0.2, 1.3])
    moved, _ = _params(tmp_path / "b.npz", "smplh", trans=data["trans"] + shift)
    a, b = (load_motion(p, body_models=models, up="y").positions for p in (base, moved))
    assert np.abs((b - a) - axes_rotation("y") @ shift).max() < 1e-12


def test_betas_shape_the_body(models: Path, tmp_path: Path) -> None:
    """Every beta the file holds counts (AMASS's SMPL+H fits carry 16), not only the first 10."""
    thin, _ = _params(tmp_path / "a.npz", "smplh", betas=np.zeros(16))
    wide, _ = _params(tmp_path / "b.npz", "smplh", betas=np.eye(16)[13] * 3.0)
    a, b = (load_motion(p, body_models=models, up="y").positions for p in (thin, wide))
    assert np.abs(a - b).max() > 1e-3


def test_y_up_and_z_up_files_both_land_z_up(models: Path, tmp_path: Path) -> None:
    y_up, data = _params(tmp_path / "y.npz", "smplh")
    poses = data["poses"].copy()
    poses[:, :3] = Z_UP.as_rotvec()
    z_up, _ = _params(tmp_path / "z.npz", "smplh", poses=poses, trans=Z_UP.apply(data["trans"]))
    for path, axis in ((y_up, "y"), (z_up, "z")):
        motion = load_motion(path, body_models=models)
        assert motion.source.details["up"] == f"{axis} (detected)"
        assert (motion.joint("head")[:, 2] > motion.joint("pelvis")[:, 2] + 0.3).all()


def test_amass_layout_with_gender_from_the_file(models: Path, tmp_path: Path) -> None:
    poses, trans = walking_poses("smplh", 50, 120.0)
    poses[:, :3] = Z_UP.as_rotvec()
    path = tmp_path / "amass.npz"
    np.savez(
        path,
        poses=poses,
        trans=Z_UP.apply(trans),
        betas=np.zeros(16),
        gender=np.array("male"),
        mocap_framerate=np.array(120.0),
        dmpls=np.zeros((50, 8)),
    )
    motion = load_motion(path, body_models=models)
    assert motion.fps == 120.0
    assert motion.source.details["layout"] == "AMASS"
    assert "SMPL-H male" in motion.source.details["model"]
    with pytest.raises(ConfigError, match=r"no SMPL-H female body model: expected smplh/SMPLH_FEMALE.npz"):
        load_motion(path, body_models=models, gender="female")


def test_split_pose_keys_and_the_environment_variable(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    poses, trans = walking_poses("smpl", 30)
    path = tmp_path / "video.npz"
    np.savez(
        path, global_orient=poses[:, :3], body_pose=poses[:, 3:72], transl=trans, betas=np.zeros((30, 10)), fps=30.0
    )
    monkeypatch.setenv(ENV_VAR, str(models))
    motion = load_motion(path)
    assert "SMPL neutral" in motion.source.details["model"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"poses": np.zeros((40, 100))}, "100 pose values per frame"),
        ({"poses": np.full((40, 156), np.nan)}, "NaN or infinite values in 'poses'"),
        ({"trans": np.zeros((39, 3))}, r"'trans' must have shape \(40, 3\)"),
        ({"fps": 0.0}, "not a plausible mocap rate"),
        ({"fps": 1e6}, "not a plausible mocap rate"),
        ({"fps": np.nan}, "not a plausible mocap rate"),
        ({"model_type": "smplx"}, "156 pose values per frame do not fit SMPL-X"),
        ({"gender": "other"}, "gender 'other' is not one of"),
    ],
)
def test_malformed_parameter_files_are_refused(models: Path, tmp_path: Path, change: dict, message: str) -> None:
    path, _ = _params(tmp_path / "bad.npz", "smplh", **change)
    with pytest.raises(InputFileError, match=message) as info:
        load_motion(path, body_models=models)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("drop", "message"), [("trans", "no root translation"), ("betas", "no 'betas'"), ("fps", "no frame rate")]
)
def test_missing_keys_are_refused(models: Path, tmp_path: Path, drop: str, message: str) -> None:
    path, data = _params(tmp_path / "bad.npz", "smplh")
    np.savez(path, **{k: v for k, v in data.items() if k != drop})
    with pytest.raises(InputFileError, match=message):
        load_motion(path, body_models=models)


def test_missing_or_wrong_model_folder(models: Path, tmp_path: Path) -> None:
    path, _ = _params(tmp_path / "clip.npz", "smplx")
    with pytest.raises(InputFileError, match=f"pass --body-models DIR .* or set {ENV_VAR}"):
        load_motion(path)
    with pytest.raises(ConfigError, match="no such folder"):
        load_motion(path, body_models=tmp_path / "nowhere")
    with pytest.raises(
        ConfigError, match=r"expected smplx/SMPLX_NEUTRAL.npz, SMPLX_NEUTRAL.npz, smplx/neutral/model.npz"
    ):
        load_motion(path, body_models=tmp_path)
    wrong = tmp_path / "wrong"
    (wrong / "smplx").mkdir(parents=True)
    (wrong / "smplx" / "SMPLX_NEUTRAL.npz").write_bytes((models / "smplh" / "SMPLH_NEUTRAL.npz").read_bytes())
    with pytest.raises(InputFileError, match=r"this is an SMPL-H model \(52 joints\), but the motion needs SMPL-X"):
        load_motion(path, body_models=wrong)


def test_model_files_never_run_pickle_code(tmp_path: Path) -> None:
    model = synthetic_model("smpl")
    folder = tmp_path / "smpl"
    folder.mkdir()
    # An .npz whose needed array is a pickled object is refused (np.load would unpickle it).
    np.savez(folder / "SMPL_NEUTRAL.npz", **{**model, "J_regressor": np.array([object()], dtype=object)})
    with pytest.raises(InputFileError, match="pickled Python object"):
        load_body_model(tmp_path, "smpl", "neutral")
    (folder / "SMPL_NEUTRAL.npz").unlink()

    # A chumpy-free SMPL .pkl with its sparse joint regressor loads through the allow-list...
    pkl = folder / "SMPL_MALE.pkl"
    pkl.write_bytes(pickle.dumps({**model, "J_regressor": csc_matrix(model["J_regressor"])}, protocol=2))
    loaded = load_body_model(tmp_path, "smpl", "male")
    assert np.allclose(loaded.joint_template, model["J_regressor"][:22] @ model["v_template"])

    # ...and anything else in a pickle is refused without running it.
    class Exploit:
        def __reduce__(self) -> tuple:
            return (subprocess.call, (["touch", str(tmp_path / "pwned")],))

    pkl = folder / "SMPL_FEMALE.pkl"
    pkl.write_bytes(pickle.dumps({**model, "weights": Exploit()}))
    with pytest.raises(InputFileError, match=r"refusing to load subprocess\.call"):
        load_body_model(tmp_path, "smpl", "female")
    assert not (tmp_path / "pwned").exists()


def test_cli_reads_and_retargets_an_amass_file(models: Path, tmp_path: Path) -> None:
    """An AMASS-layout file retargets end to end onto G1 with the usual quality report."""
    poses, trans = walking_poses("smplh", 45, 30.0)
    poses[:, :3] = Z_UP.as_rotvec()
    clip = tmp_path / "amass.npz"
    np.savez(clip, poses=poses, trans=Z_UP.apply(trans), betas=np.zeros(16), gender="male", mocap_framerate=30.0)
    cli = [sys.executable, "-m", "mimicsim.cli"]
    info = subprocess.run(
        [*cli, "motion", "info", str(clip), "--body-models", str(models)], capture_output=True, text=True, check=False
    )
    assert info.returncode == 0, info.stderr
    assert "smpl · model SMPL-H male" in info.stdout
    out = tmp_path / "robot.npz"
    run = subprocess.run(
        [*cli, "retarget", str(clip), "--robot", "g1", "--out", str(out), "--body-models", str(models)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "kp err mm" in run.stdout and out.is_file()
    from mimicsim.retarget.robot_motion import load

    result = load(out)
    assert result.num_frames == 45 and result.quality["passes"]["ground_penetration_frames"]
    missing = subprocess.run([*cli, "motion", "info", str(clip)], capture_output=True, text=True, check=False)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "--body-models" in missing.stderr


def test_batch_reads_a_mixed_folder_with_body_models(models: Path, tmp_path: Path) -> None:
    """The body-model options reach every clip and are ignored by clips that need no model."""
    from mimicsim.retarget.batch import run_batch

    clips = tmp_path / "clips"
    clips.mkdir()
    poses, trans = walking_poses("smplh", 30, 30.0)
    poses[:, :3] = Z_UP.as_rotvec()
    np.savez(clips / "amass.npz", poses=poses, trans=Z_UP.apply(trans), betas=np.zeros(16), mocap_framerate=30.0)
    joints = load_motion(clips / "amass.npz", body_models=models).positions
    np.save(clips / "joints.npy", joints)
    summary = run_batch(clips, tmp_path / "out", "g1", read={"body_models": str(models)}, progress=False)
    assert (summary.done, summary.failed) == (2, 0), summary.failures


def test_amass_shape_files_are_named_for_what_they_are(models: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "shape.npz", betas=np.zeros(16), gender="male")
    with pytest.raises(InputFileError, match=r"a body shape without poses \(AMASS keeps one per subject"):
        load_motion(tmp_path / "shape.npz", body_models=models)
