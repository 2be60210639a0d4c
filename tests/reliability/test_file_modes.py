"""Probe: file permissions. The service's jobs.sqlite (and its -wal/-shm files) held every uploaded
text readable by all users (0644); keys.sqlite was 0600, its -wal/-shm were not. And files the CLI
writes atomically came out 0600 whatever the umask (tempfile's mode), unlike any other tool's output."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from srllm.serve.jobs import JobStore
from srllm.serve.keys import KeyStore
from srllm.text.writers import atomic_open


@pytest.fixture
def umask() -> Iterator[Callable[[int], int]]:
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _sqlite_files(path: Path) -> list[Path]:
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def test_the_job_store_and_its_wal_files_are_private(tmp_path: Path, umask) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.create("me", "rows.txt", b"a text\n", fmt=None, text_field="text", id_field=None, max_rows=10)
    db = store._connect()  # an open connection keeps -wal and -shm on disk
    try:
        db.execute("SELECT COUNT(*) FROM jobs").fetchone()
        files = _sqlite_files(store.path)
        assert len(files) == 3, files
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    finally:
        db.close()


def test_an_old_world_readable_job_store_is_tightened(tmp_path: Path, umask) -> None:
    path = tmp_path / "jobs.sqlite"
    JobStore(path)
    for p in _sqlite_files(path):
        p.chmod(0o644)
    JobStore(path)
    assert all(_mode(p) == 0o600 for p in _sqlite_files(path))


def test_the_key_store_wal_files_are_private(tmp_path: Path, umask) -> None:
    store = KeyStore(tmp_path / "keys.sqlite")
    store.create("ci")
    db = store._connect()
    try:
        db.execute("SELECT COUNT(*) FROM api_keys").fetchone()
        assert all(_mode(p) == 0o600 for p in _sqlite_files(store.path)), _sqlite_files(store.path)
    finally:
        db.close()


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_follow_the_umask(tmp_path: Path, umask, mask: int, expected: int) -> None:
    umask(mask)
    target = tmp_path / "out.jsonl"
    with atomic_open(target) as handle:
        handle.write("{}\n")
    assert _mode(target) == expected
