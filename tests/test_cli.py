import subprocess
import sys

from mimicsim.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "mimicsim.cli", *args], capture_output=True, text=True, check=False)


def test_help_lists_verbs(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "robots" in out and "render-robot" in out


def test_user_error_is_one_line_and_exit_status_2():
    result = run("render-robot", "atlas", "--out", "never.png")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["mimicsim: error: unknown robot 'atlas'; valid robots: g1, h1, h1_2"]


def test_debug_shows_the_traceback():
    result = run("--debug", "render-robot", "atlas")
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "ConfigError" in result.stderr


def test_unknown_verb_is_a_user_error(capsys):
    assert main(["fly"]) == 2
    assert "unknown command 'fly'" in capsys.readouterr().err


def test_robots_table(capsys):
    assert main(["robots"]) == 0
    out = capsys.readouterr().out
    for name in ("g1", "h1", "h1_2"):
        assert name in out
