"""The record of a batch job kept in its output folder, and the lock that gives the folder to one run.

`manifest.sqlite` holds every item of the job with its state (pending, done, failed), its attempts,
its error and its result (JSON), plus what identifies the job; every change is one committed
transaction, so a killed run leaves a consistent record and the next run does only what is left.
`FolderLock` is an exclusive `flock` on `.mimicsim.lock` in the folder: a second run on the same
folder is refused while the first is alive, and the kernel releases the lock when its holder dies,
however it dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mimicsim.errors import ConfigError, InputFileError

MANIFEST = "manifest.sqlite"
LOCK = ".mimicsim.lock"
SCHEMA = "mimicsim.manifest/2"
_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,         -- unique within the job, e.g. a source path relative to the input folder
    args TEXT NOT NULL,           -- JSON: what the work needs to do the item
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    units INTEGER, seconds REAL, error TEXT, result TEXT, updated REAL
);
"""


class FolderLock:
    """Exclusive use of a folder by this process, held until `release()` or the process's death."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(
                f"{folder}: cannot write to the output folder ({exc.strerror}); choose another --out"
            ) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            raise ConfigError(
                f"{folder} is in use by another mimicsim run (pid {holder}); wait for it to finish or use another --out"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = -1

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def remove_partial_files(folder: Path) -> None:
    """Delete the temporary files of writes a killed run left half done (`atomic.atomic_path`
    names them `.<stem>.<random>.part<suffix>`). Only the holder of the folder's lock may call this:
    no other run can be writing there."""
    for leftover in folder.rglob(".*.part*"):
        leftover.unlink(missing_ok=True)


class Manifest:
    """The SQLite record of one job in its output folder."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_TABLES)
            row = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            claimed = self.db.execute("SELECT COUNT(*) FROM meta WHERE key = 'job'").fetchone()[0]
            if row is None and not claimed:
                self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA,))
            elif row is None or row[0] != SCHEMA:
                raise InputFileError(
                    path,
                    f"written by another mimicsim version ({row[0] if row else 'no schema'}); use another --out folder",
                )
        except sqlite3.DatabaseError as exc:
            raise InputFileError(path, f"not a mimicsim manifest ({exc}); delete it to start the job over") from None

    def close(self) -> None:
        self.db.close()

    def claim(self, job: dict[str, Any], *, replace: bool = False) -> None:
        """The folder must belong to the same job (what identifies it: robot, settings, source...);
        claim it if new. `replace`: forget another job's record instead of refusing."""
        text = json.dumps(job, sort_keys=True)
        row = self.db.execute("SELECT value FROM meta WHERE key = 'job'").fetchone()
        if row is not None and row[0] != text:
            if not replace:
                theirs = json.loads(row[0])
                diff = sorted(k for k in set(job) | set(theirs) if job.get(k) != theirs.get(k))
                raise ConfigError(
                    f"{self.path.parent} holds a batch run with different settings ({', '.join(diff)}); "
                    "use another --out folder or the same settings"
                )
            self.clear()
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('job', ?)", (text,))

    def clear(self) -> None:
        """Forget every item (a new run of the job starts over)."""
        with self._transaction():
            self.db.execute("DELETE FROM items")
            self.db.execute("DELETE FROM meta WHERE key = 'job'")

    def add(self, items: dict[str, dict[str, Any]]) -> None:
        """Add items (key -> JSON-able arguments) not yet recorded."""
        with self._transaction():
            self.db.executemany(
                "INSERT OR IGNORE INTO items (key, args, status) VALUES (?, ?, 'pending')",
                [(key, json.dumps(args, sort_keys=True)) for key, args in items.items()],
            )

    def todo(self, retry_failed: bool) -> list[tuple[str, dict[str, Any]]]:
        states = ("pending", "failed") if retry_failed else ("pending",)
        marks = ",".join("?" * len(states))
        rows = self.db.execute(f"SELECT key, args FROM items WHERE status IN ({marks}) ORDER BY key", states)
        return [(key, json.loads(args)) for key, args in rows.fetchall()]

    def count(self, status: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM items WHERE status = ?", (status,)).fetchone()[0])

    def record(self, key: str, ok: bool, *, units: int, seconds: float, error: str, result: dict[str, Any]) -> None:
        with self._transaction():
            self.db.execute(
                "UPDATE items SET status = ?, attempts = attempts + 1, units = ?, seconds = ?, error = ?, "
                "result = ?, updated = ? WHERE key = ?",
                ("done" if ok else "failed", units, seconds, error or None, json.dumps(result), time.time(), key),
            )

    def records(self) -> list[dict[str, Any]]:
        """Every item in key order: key, args, status, attempts, error and result (when recorded)."""
        rows = self.db.execute("SELECT key, args, status, attempts, error, result FROM items ORDER BY key").fetchall()
        return [
            {
                "key": key,
                "args": json.loads(args),
                "status": status,
                "attempts": attempts,
                "error": error,
                "result": json.loads(result) if result else {},
            }
            for key, args, status, attempts, error, result in rows
        ]

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
