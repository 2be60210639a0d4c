"""The service's SQLite files (API keys, jobs) are readable by their owner only: they hold key hashes
and every uploaded text."""

from __future__ import annotations

import os
from pathlib import Path


def sidecars(path: Path) -> list[Path]:
    """The database file and the -wal/-shm files SQLite keeps beside it in WAL mode."""
    return [path, Path(f"{path}-wal"), Path(f"{path}-shm")]


def make_private(path: Path) -> None:
    """Create `path` 0600 before SQLite opens it (SQLite creates -wal and -shm with the database
    file's mode, so they follow), and tighten files an older version left world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for file in sidecars(path):
        if file.exists():
            file.chmod(0o600)
