"""Error types. Every error a user can fix is a `MimicsimError`; the CLI prints its message on
one line and exits with status 2 (the traceback only with --debug)."""

from __future__ import annotations

from pathlib import Path


class MimicsimError(Exception):
    """A problem with the user's input or environment, explained in the message."""


class ConfigError(MimicsimError):
    """An invalid option, name or combination of settings."""


class InputFileError(MimicsimError):
    """A file that cannot be used as given. The message names the file and what is wrong."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)


class RenderingError(MimicsimError):
    """No headless OpenGL backend could be used."""


class SimulationError(MimicsimError):
    """The physics became invalid (NaN or exploding state)."""
