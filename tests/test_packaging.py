"""The package installs (not editable) into a fresh venv, with one `mimicsim` namespace."""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    venv = tmp_path_factory.mktemp("venv")
    # No pip of its own: pip and setuptools come with the dependencies below.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    # Dependencies come from the project's environment (a .pth file); mimicsim itself is built
    # and installed from source as a regular wheel.
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # Build from a copy: an in-tree build would leave build/ in the checkout, and stale modules there
    # would end up in later wheels.
    source = tmp_path_factory.mktemp("src") / "mimicsim"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(".venv", ".git", "build", "out", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", str(source)],
        check=True,
        cwd=source,
    )
    return venv


def test_console_script_help_works(fresh_venv):
    result = subprocess.run(
        [str(fresh_venv / "bin" / "mimicsim"), "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "render-robot" in result.stdout


def test_only_the_mimicsim_namespace_is_installed(fresh_venv):
    code = (
        "import importlib.util as u, mimicsim.assets, mimicsim.eval, mimicsim.envs;"
        "print(mimicsim.assets.__file__);"
        "print(u.find_spec('envs'), u.find_spec('eval'), u.find_spec('assets'), u.find_spec('retarget'))"
    )
    result = subprocess.run(
        [str(fresh_venv / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd=fresh_venv, check=False
    )
    assert result.returncode == 0, result.stderr
    installed, tops = result.stdout.splitlines()
    assert str(REPO) not in installed  # a real copy, not the source tree
    assert tops == "None None None None"
    assert (Path(installed).parent / "models" / "h1_2.xml").exists()
    pretrained = Path(installed).parent.parent / "policies" / "tracking" / "pretrained"
    assert {p.name for p in pretrained.iterdir()} >= {"tracker_g1_demo.onnx", "tracker_g1_demo.json", "README.md"}


def test_every_module_of_the_source_tree_is_installed(fresh_venv):
    """A subpackage missing from pyproject.toml's package list would install silently without it."""
    result = subprocess.run(
        [str(fresh_venv / "bin" / "python"), "-c", "import mimicsim; print(mimicsim.__file__)"],
        capture_output=True,
        text=True,
        cwd=fresh_venv,
        check=True,
    )
    installed = Path(result.stdout.strip()).parent
    skip = {"tests", "benchmarks", ".venv", "build", "out", "runs"}
    source = {p.relative_to(REPO) for p in REPO.rglob("*.py") if not skip & set(p.relative_to(REPO).parts)}
    missing = sorted(str(p) for p in source if not (installed / p).is_file())
    assert not missing, f"not installed (add the package to pyproject.toml): {missing}"


def test_dm_control_works_with_the_pinned_mujoco():
    from dm_control import mjcf

    root = mjcf.RootElement()
    body = root.worldbody.add("body", name="box")
    body.add("joint", type="free")
    body.add("geom", type="box", size=[0.1, 0.1, 0.1])
    physics = mjcf.Physics.from_mjcf_model(root)
    physics.step()
    assert physics.model.nq == 7
