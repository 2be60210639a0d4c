"""Fault injection (issue 15): `kill -9` the CLI and the server at seeded random points, several
times over, resume, and check that every input row comes out exactly once, in input order.

Each kill aims at a random number of finished rows (distinct targets from "none yet" to "all but
one", in increasing order) plus a random delay of up to 0.2 s, so kills land while the model loads,
mid-batch, between two saves and around the final write. The seed is printed; replay a failing run
with SRLLM_FAULT_SEED=<seed>. Timing still varies, so a seed fixes where the kills aim, not to the
millisecond where they land. Each part starts its process at most four times (bounded).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from srllm.rewrite.jobs import manifest_path, partial_path

KILLS = 3
ROWS = [{"id": f"r{i:03d}", "text": f"Row {i}: those people are all lazy and dumb.", "team": "qa"}
        for i in range(30)]
# One torch thread: on a busy 2-core box spinning OpenMP threads make generation ~10x slower.
ENV = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
       "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture
def rng() -> random.Random:
    seed = int(os.environ.get("SRLLM_FAULT_SEED", "15"))
    print(f"fault injection seed: {seed} (replay with SRLLM_FAULT_SEED={seed})")
    return random.Random(seed)


def _write_rows(path: Path) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    return path


def _kill_at_random_points(start: Callable[[], subprocess.Popen], rows_done: Callable[[], int],
                           rng: random.Random, timeout: float = 60) -> list[int]:
    """Start a process and SIGKILL it once `rows_done()` reaches a random target (+ a random delay),
    KILLS times or until a run finishes first. The rows saved after each kill."""
    # Distinct targets in increasing order spread the kills over the job; one already passed when
    # a process starts kills it while it loads (a point worth hitting too).
    targets = sorted(rng.sample(range(len(ROWS)), KILLS))
    saved: list[int] = []
    for target in targets:
        delay = rng.uniform(0, 0.2)
        process = start()
        try:
            deadline = time.monotonic() + timeout
            while rows_done() < target and process.poll() is None:
                assert time.monotonic() < deadline, f"no progress to {target} rows in {timeout:g} s"
                time.sleep(0.005)
            time.sleep(delay)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        assert process.returncode in (0, -signal.SIGKILL), f"the process failed by itself ({process.returncode})"
        saved.append(rows_done())
        print(f"aimed at {target} rows + {delay:.3f} s; {saved[-1]} rows saved")
        if saved[-1] == len(ROWS):
            break
    return saved


# --- the CLI: `srllm rewrite --input --output --resume` -------------------------------------------


def _partial_rows(output: Path) -> int:
    """Rows the CLI has saved: complete lines of the partial file after its header (all, once finished)."""
    try:
        data = partial_path(output).read_bytes()
    except FileNotFoundError:
        return len(ROWS) if manifest_path(output).exists() else 0
    return max(data.count(b"\n") - 1, 0)


def test_the_cli_killed_at_random_points_resumes_to_every_row_once(tmp_path: Path, tiny_llama_dir: Path,
                                                                   rng: random.Random) -> None:
    src, out, log = _write_rows(tmp_path / "in.jsonl"), tmp_path / "out.jsonl", tmp_path / "cli.log"
    # Batches of one text (two rows per save) and 32 tokens each: ~15 saves spread over seconds.
    command = [sys.executable, "-m", "srllm.cli.main", "rewrite", "--input", str(src), "--output", str(out),
               "--id-field", "id", "--model", str(tiny_llama_dir), "--no-adapter", "--no-guard",
               "--max-new-tokens", "32", "--batch-size", "1", "--resume"]
    env = {**os.environ, **ENV}

    def start() -> subprocess.Popen:
        with open(log, "ab") as handle:
            return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)

    saved = _kill_at_random_points(start, lambda: _partial_rows(out), rng)
    assert any(0 < n < len(ROWS) for n in saved), f"no kill landed mid-job ({saved}); the test proved nothing"

    before = _partial_rows(out)
    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stdout + final.stderr
    report = re.search(r"done: (\d+) rewritten, (\d+) resumed, (\d+) rows", final.stderr)
    assert report, final.stderr
    # Only the missing rows were rewritten: the saved ones were kept, not redone.
    assert tuple(map(int, report.groups())) == (len(ROWS) - before, before, len(ROWS))
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == [row["id"] for row in ROWS]  # none lost, none twice, in order
    assert [row["text"] for row in rows] == [row["text"] for row in ROWS]
    assert all(isinstance(row["rewrite"], str) and row["team"] == "qa" for row in rows)
    assert not partial_path(out).exists() and manifest_path(out).exists()


# --- the server: /v1/jobs in jobs.sqlite, `srllm serve` killed and started again ------------------


def _saved_results(db: Path, job_id: str) -> dict[int, str]:
    with sqlite3.connect(db, timeout=10) as conn:
        return dict(conn.execute("SELECT idx, result FROM job_rows WHERE job_id = ? AND result IS NOT NULL",
                                 (job_id,)).fetchall())


def _job_rows_metric(url: str) -> float:
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("srllm_job_rows_total "):
            return float(line.split()[1])
    return 0.0


def test_the_server_killed_at_random_points_finishes_the_job_with_every_row_once(
        tmp_path: Path, tiny_llama_dir: Path, server_process, rng: random.Random) -> None:
    db = tmp_path / "jobs.sqlite"
    args = ["--model", str(tiny_llama_dir), "--no-adapter", "--no-guard", "--jobs-db", str(db),
            "--job-chunk-rows", "2", "--max-new-tokens", "32", "--max-batch-size", "2", "--scorers", "profanity",
            "--rate-limit", "0"]
    env = {**ENV, "SRLLM_CACHE": str(tmp_path / "cache")}
    # The job is uploaded to a first server (which starts on it at once); kills start from there.
    process, url = server_process(args, env=env, log=tmp_path / "server.log")
    data = "".join(json.dumps(row) + "\n" for row in ROWS).encode()
    job = httpx.post(url + "/v1/jobs", files={"file": ("rows.jsonl", data)}, data={"id_field": "id"},
                     timeout=30).json()
    servers = iter([process])  # the running one is the first one the kills use

    def start() -> subprocess.Popen:
        return next(servers, None) or server_process(args, env=env, log=tmp_path / "server.log")[0]

    first_seen: dict[int, str] = {}

    def rows_done() -> int:
        saved = _saved_results(db, job["id"])
        for idx, result in saved.items():  # a saved result is never replaced (no row rewritten twice)
            assert first_seen.setdefault(idx, result) == result, f"row {idx} was saved twice"
        return len(saved)

    saved = _kill_at_random_points(start, rows_done, rng)
    assert any(0 < n < len(ROWS) for n in saved), f"no kill landed mid-job ({saved}); the test proved nothing"

    before = _saved_results(db, job["id"])
    _, url = server_process(args, env=env, log=tmp_path / "server.log")
    deadline = time.monotonic() + 60
    while (status := httpx.get(f"{url}/v1/jobs/{job['id']}", timeout=10).json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, f"the job did not finish after the restart: {status}"
        time.sleep(0.1)
    assert status["status"] == "done" and status["rows_done"] == len(ROWS), status
    # The last server rewrote only the rows no earlier one had saved, and no saved result changed.
    assert _job_rows_metric(url) == len(ROWS) - len(before)
    assert rows_done() == len(ROWS)
    out = [json.loads(line) for line in httpx.get(url + status["results_url"], timeout=10).text.splitlines()]
    assert [row["id"] for row in out] == [row["id"] for row in ROWS]  # none lost, none twice, in order
    assert all(isinstance(row["rewrite"], str) and row["team"] == "qa" for row in out)
