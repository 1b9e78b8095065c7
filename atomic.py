"""Atomic file writes: a killed job never leaves a half-written file that looks complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mimicsim.errors import ConfigError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`.

    The temporary file keeps `path`'s suffix so writers that choose a format by extension
    (numpy, imageio) behave as if writing the real file. On error it is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes 0600 files; outputs get the permissions any new file would (umask applied).
    umask = os.umask(0)
    os.umask(umask)
    tmp_path.chmod(0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def check_writable(path: str | Path, *, folder: bool = False) -> Path:
    """Fail now, before any work, when `path` (a file, or a folder with `folder=True`) cannot be
    written: a `ConfigError` naming it. Nothing is created."""
    path = Path(path)
    if path.is_dir() and not folder:
        raise ConfigError(f"{path}: is a folder; give a file name to write")
    if path.exists() and folder and not path.is_dir():
        raise ConfigError(f"{path}: is a file; give a folder to write into")
    existing = path if folder and path.exists() else path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{path}: cannot be written ({existing} is a file, not a folder)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{path}: cannot be written (no permission to write in {existing})")
    return path
