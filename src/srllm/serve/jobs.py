"""Batch jobs over HTTP, kept in SQLite (WAL): every row has one result slot, filled once.

A job's rows are stored when it is uploaded; a worker thread fills the empty result slots a chunk
at a time, each chunk in one transaction. A server killed at any point (kill -9) and restarted
picks the job up at its first empty slot: no row is lost, none is rewritten twice.
"""

from __future__ import annotations

import io
import json
import secrets
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srllm.errors import InputError, SrllmError
from srllm.rewrite.guard import SCORE_KEYS
from srllm.rewrite.inputs import read_rows
from srllm.serve.logs import service_log
from srllm.serve.sqlite import make_private
from srllm.text.writers import write_csv, write_rows

log = service_log()  # control characters in what it logs are escaped (no forged lines)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    filename TEXT NOT NULL,
    id_field TEXT,
    rows_total INTEGER NOT NULL,
    rows_done INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS job_rows (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    row_id TEXT NOT NULL,
    text TEXT NOT NULL,
    fields TEXT NOT NULL,
    result TEXT,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created);
"""

UPLOAD_FORMATS = ("jsonl", "json", "csv", "tsv", "txt", "parquet")  # what parse_upload reads (srllm.text.readers)
DOWNLOAD_FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv",
                    "parquet": "application/vnd.apache.parquet"}  # results_body's formats and media types


@dataclass
class JobInfo:
    id: str
    owner: str
    status: str  # queued | running | done | failed
    filename: str
    rows_total: int
    rows_done: int
    created: float
    updated: float
    error: str | None

    @property
    def progress(self) -> float:
        return self.rows_done / self.rows_total if self.rows_total else 1.0


class JobStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        make_private(self.path)  # it holds every uploaded text
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a finished chunk survives a crash, not only a kill
        return db

    def create(self, owner: str, filename: str, data: bytes, *, fmt: str | None, text_field: str,
               id_field: str | None, max_rows: int) -> JobInfo:
        """Parse an upload (any of UPLOAD_FORMATS) and store its rows; bad rows are reported, never guessed."""
        rows = parse_upload(filename, data, fmt=fmt, text_field=text_field, id_field=id_field)
        if len(rows) > max_rows:
            raise InputError(f"the file has {len(rows)} rows; this server takes at most {max_rows} per job",
                             field="file")
        now = time.time()
        job_id = secrets.token_hex(8)
        with self._connect() as db:
            db.execute("INSERT INTO jobs (id, owner, status, filename, id_field, rows_total, created, updated) "
                       "VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)",
                       (job_id, owner, filename, id_field, len(rows), now, now))
            db.executemany("INSERT INTO job_rows (job_id, idx, row_id, text, fields) VALUES (?, ?, ?, ?, ?)",
                           [(job_id, row.index, row.id, row.text, json.dumps(row.fields, ensure_ascii=False))
                            for row in rows])
        info = self.get(job_id)
        assert info is not None
        return info

    def get(self, job_id: str, owner: str | None = None) -> JobInfo | None:
        with self._connect() as db:
            row = db.execute("SELECT id, owner, status, filename, rows_total, rows_done, created, updated, error "
                             "FROM jobs WHERE id = ?", (job_id,)).fetchone()
        info = JobInfo(*row) if row else None
        if info is not None and owner is not None and info.owner != owner:
            return None  # someone else's job does not exist for you
        return info

    def list(self, owner: str, limit: int = 100) -> list[JobInfo]:
        with self._connect() as db:
            rows = db.execute("SELECT id, owner, status, filename, rows_total, rows_done, created, updated, error "
                              "FROM jobs WHERE owner = ? ORDER BY created DESC LIMIT ?", (owner, limit)).fetchall()
        return [JobInfo(*row) for row in rows]

    def next_job(self) -> JobInfo | None:
        """The oldest unfinished job; a 'running' one was interrupted and resumes first."""
        with self._connect() as db:
            row = db.execute("SELECT id FROM jobs WHERE status IN ('running', 'queued') "
                             "ORDER BY status = 'running' DESC, created LIMIT 1").fetchone()
        return self.get(row[0]) if row else None

    def pending(self, job_id: str, limit: int) -> list[tuple[int, str]]:
        with self._connect() as db:
            return db.execute("SELECT idx, text FROM job_rows WHERE job_id = ? AND result IS NULL "
                              "ORDER BY idx LIMIT ?", (job_id, limit)).fetchall()

    def set_status(self, job_id: str, status: str, error: str | None = None) -> None:
        with self._connect() as db:
            db.execute("UPDATE jobs SET status = ?, error = ?, updated = ? WHERE id = ?",
                       (status, error, time.time(), job_id))

    def save_results(self, job_id: str, results: dict[int, dict[str, Any]]) -> int:
        """Fill empty slots (never overwrite one) and the done count, in one transaction."""
        with self._connect() as db:
            filled = 0
            for idx, result in results.items():
                filled += db.execute("UPDATE job_rows SET result = ? WHERE job_id = ? AND idx = ? AND result IS NULL",
                                     (json.dumps(result, ensure_ascii=False), job_id, idx)).rowcount
            db.execute("UPDATE jobs SET rows_done = (SELECT COUNT(*) FROM job_rows WHERE job_id = ? AND "
                       "result IS NOT NULL), updated = ? WHERE id = ?", (job_id, time.time(), job_id))
        return filled

    def results(self, job_id: str) -> Iterator[dict[str, Any]]:
        with self._connect() as db:
            id_field = db.execute("SELECT id_field FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
            rows = db.execute("SELECT row_id, fields, result FROM job_rows WHERE job_id = ? ORDER BY idx",
                              (job_id,)).fetchall()
        for row_id, fields, result in rows:
            out = json.loads(fields)
            out.setdefault(id_field or "id", row_id)
            out.update(json.loads(result) if result else {})
            yield out


def parse_upload(filename: str, data: bytes, *, fmt: str | None, text_field: str, id_field: str | None) -> list:
    """Rows of an uploaded file, with the same reader (and error messages) as `srllm rewrite -i`."""
    name = Path(filename or "upload").name or "upload"
    suffix = "." + (fmt or Path(name).suffix.lstrip(".") or "jsonl")
    with tempfile.TemporaryDirectory(prefix="srllm-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            rows, errors = read_rows(path, fmt=fmt, text_field=text_field, id_field=id_field)
        except InputError as exc:
            # Say the user's file name, never our temporary path.
            raise InputError(exc.message.replace(str(path), name), path=name if exc.path else None,
                             line=exc.line, field=exc.field or "file") from None
    if errors:
        first = errors[0]
        more = f" ({len(errors) - 1} more bad rows)" if len(errors) > 1 else ""
        raise InputError(f"{first.message}{more}", path=name, line=first.line, field=first.field)
    if not rows:
        raise InputError(f"file {name} has no rows to rewrite", field="file")
    return rows


def to_parquet(rows: Iterator[dict[str, Any]]) -> bytes:
    """The rows as one Parquet file (nested values stay nested: `scores` is a struct, `spans` a list)."""
    with tempfile.TemporaryDirectory(prefix="srllm-download-") as tmp:
        path = Path(tmp) / "results.parquet"
        write_rows(path, list(rows), "parquet")
        return path.read_bytes()


def results_body(rows: Iterator[dict[str, Any]], fmt: str, csv_escape: bool = True) -> tuple[bytes | str, str]:
    """A finished job's rows in `fmt` (one of DOWNLOAD_FORMATS) and the media type to send them with."""
    if fmt not in DOWNLOAD_FORMATS:
        raise InputError(f"cannot download results as {fmt!r}; use one of {', '.join(DOWNLOAD_FORMATS)}",
                         field="format")
    body = to_parquet(rows) if fmt == "parquet" else to_csv(rows, csv_escape) if fmt == "csv" else to_jsonl(rows)
    return body, DOWNLOAD_FORMATS[fmt]


def to_jsonl(rows: Iterator[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def to_csv(rows: Iterator[dict[str, Any]], escape: bool = True) -> str:
    """escape=False: formula-like cells verbatim, for machine consumers (see text.writers.csv_cell)."""
    rows = [{key: json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
             for key, value in row.items()} for row in rows]
    buffer = io.StringIO()
    write_csv(buffer, rows, escape=escape)
    return buffer.getvalue()


class JobRunner:
    """One thread working through unfinished jobs, a chunk of rows at a time."""

    def __init__(self, store: JobStore, rewrite: Callable[[list[str]], list[dict[str, Any]]], *,
                 chunk_rows: int, on_rows: Callable[[int], None] | None = None) -> None:
        self.store, self.rewrite, self.chunk_rows = store, rewrite, chunk_rows
        self.on_rows = on_rows
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="srllm-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            job = self.store.next_job()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                self._work(job)
            except Exception as exc:  # the job fails; the server and other jobs go on
                if self._stop.is_set():
                    return  # shutting down mid-chunk: the job resumes on the next start
                log.exception("job %s failed", job.id)
                self.store.set_status(job.id, "failed", _public_error(exc))

    def _work(self, job: JobInfo) -> None:
        self.store.set_status(job.id, "running")
        while not self._stop.is_set():
            pending = self.store.pending(job.id, self.chunk_rows)
            if not pending:
                self.store.set_status(job.id, "done")
                return
            outputs = self._rewrite_chunk([text for _, text in pending])
            self.store.save_results(job.id, {idx: out for (idx, _), out in zip(pending, outputs, strict=True)})
            if self.on_rows:
                self.on_rows(len(pending))

    def _rewrite_chunk(self, texts: list[str]) -> list[dict[str, Any]]:
        try:
            return self.rewrite(texts)
        except InputError as exc:
            if len(texts) == 1:
                return [_error_row(exc)]
        # A row the model cannot take (e.g. too long) becomes an error row; the others go on.
        out = []
        for text in texts:
            try:
                out.extend(self.rewrite([text]))
            except InputError as exc:
                out.append(_error_row(exc))
        return out


def _error_row(exc: InputError) -> dict[str, Any]:
    # The guard's score keys, all null: an error row has the shape of the others (SCORE_KEYS).
    return {"rewrite": None, "status": "error", "scores": dict.fromkeys(SCORE_KEYS), "reasons": [str(exc)]}


def _public_error(exc: Exception) -> str:
    return str(exc) if isinstance(exc, SrllmError) else "internal error while rewriting; see the server log"
