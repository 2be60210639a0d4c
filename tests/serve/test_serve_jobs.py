"""Batch jobs over HTTP: upload, progress, download, errors, and resume after kill -9."""

from __future__ import annotations

import csv
import io
import json
import signal
import sqlite3
import time
from pathlib import Path

import httpx

from srllm.serve.keys import KeyStore

ROWS = [{"id": f"r{i:03d}", "text": f"Row {i}: old people can't use computers.", "team": "qa"} for i in range(12)]


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def _wait_done(get, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_job_upload_progress_and_download(make_client, make_settings):
    client = make_client(make_settings(job_chunk_rows=5))
    created = client.post("/v1/jobs", files={"file": ("rows.jsonl", _jsonl(ROWS))}, data={"id_field": "id"})
    assert created.status_code == 202
    job = created.json()
    assert job["rows_total"] == 12 and job["status"] in ("queued", "running", "done")
    done = _wait_done(client.get, job["id"])
    assert done["status"] == "done" and done["rows_done"] == 12 and done["progress"] == 1.0
    jsonl = client.get(done["results_url"])
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [row["id"] for row in rows] == [row["id"] for row in ROWS]
    assert all(row["team"] == "qa" and "rewrite" in row and row["status"] == "ok" for row in rows)
    table = list(csv.DictReader(io.StringIO(client.get(done["results_url"] + "?format=csv").text)))
    assert [row["id"] for row in table] == [row["id"] for row in ROWS]
    assert any(job["id"] == done["id"] for job in client.get("/v1/jobs").json()["jobs"])


def test_csv_upload_with_another_text_column(make_client, make_settings):
    client = make_client(make_settings())
    data = "comment,who\nYou are useless,a\nNice work,b\n"
    job = client.post("/v1/jobs", files={"file": ("c.csv", data.encode())}, data={"text_field": "comment"}).json()
    done = _wait_done(client.get, job["id"])
    rows = [json.loads(line) for line in client.get(done["results_url"]).text.splitlines()]
    assert [row["comment"] for row in rows] == ["You are useless", "Nice work"]


def test_a_parquet_upload_through_the_route(make_client, make_settings):
    import pyarrow as pa
    import pyarrow.parquet as pq

    upload = io.BytesIO()
    pq.write_table(pa.table({"comment": ["You are useless", "Nice work"], "n": [1, 2]}), upload)
    client = make_client(make_settings())
    job = client.post("/v1/jobs", files={"file": ("c.parquet", upload.getvalue())}, data={"text_field": "comment"})
    assert job.status_code == 202, job.text
    done = _wait_done(client.get, job.json()["id"])
    rows = [json.loads(line) for line in client.get(done["results_url"]).text.splitlines()]
    assert [(row["comment"], row["n"]) for row in rows] == [("You are useless", 1), ("Nice work", 2)]
    download = client.get(done["results_url"], params={"format": "parquet"})
    assert download.status_code == 200 and download.headers["content-type"] == "application/vnd.apache.parquet"
    assert 'filename="srllm-' in download.headers["content-disposition"] and ".parquet" in \
        download.headers["content-disposition"]
    table = pq.read_table(io.BytesIO(download.content))
    assert table.column("comment").to_pylist() == ["You are useless", "Nice work"]
    assert table.column("n").to_pylist() == [1, 2] and table.column("status").to_pylist() == [r["status"] for r in rows]


def test_a_bad_upload_names_file_line_and_field_but_no_server_path(make_client, make_settings):
    client = make_client(make_settings())
    bad = b'{"text": "fine"}\n{"text": ""}\n'
    response = client.post("/v1/jobs", files={"file": ("mine.jsonl", bad)})
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "mine.jsonl" in message and "line 2" in message and "text" in message
    assert "/tmp" not in response.text and "srllm-upload" not in response.text
    missing = client.post("/v1/jobs", files={"file": ("t.csv", b"body\nhello\n")})
    assert missing.status_code == 422 and "t.csv" in missing.json()["error"]["message"]
    assert "/tmp" not in missing.text


def test_upload_limits(make_client, make_settings):
    client = make_client(make_settings(max_upload_bytes=2048, max_job_rows=3))
    assert client.post("/v1/jobs", files={"file": ("big.txt", b"word " * 1000)}).status_code == 413
    too_many = client.post("/v1/jobs", files={"file": ("rows.jsonl", _jsonl(ROWS[:4]))})
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "file"


def test_jobs_belong_to_their_key_and_results_wait_for_done(make_client, make_settings):
    settings = make_settings(require_key=True, job_chunk_rows=1, max_new_tokens=32)
    store = KeyStore(settings.keys_path)
    alice, _ = store.create("alice")
    bob, _ = store.create("bob")
    client = make_client(settings)
    as_alice = {"Authorization": f"Bearer {alice}"}
    job = client.post("/v1/jobs", files={"file": ("rows.jsonl", _jsonl(ROWS))}, headers=as_alice).json()
    early = client.get(f"/v1/jobs/{job['id']}/results", headers=as_alice)
    assert early.status_code in (200, 409)  # 409 unless the job already finished
    as_bob = {"Authorization": f"Bearer {bob}"}
    assert client.get(f"/v1/jobs/{job['id']}", headers=as_bob).status_code == 404
    assert client.get(f"/v1/jobs/{job['id']}/results", headers=as_bob).status_code == 404
    assert client.get("/v1/jobs", headers=as_bob).json() == {"jobs": []}
    assert _wait_done(lambda p: client.get(p, headers=as_alice), job["id"])["status"] == "done"


def _saved(db: Path, job_id: str) -> dict[int, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT idx, result FROM job_rows WHERE job_id = ? AND result IS NOT NULL",
                                 (job_id,)).fetchall())


def test_a_job_resumes_after_kill_9_without_losing_or_repeating_rows(tmp_path, tiny_llama_dir, server_process):
    db = tmp_path / "jobs.sqlite"
    args = ["--model", str(tiny_llama_dir), "--no-adapter", "--no-guard", "--jobs-db", str(db), "--job-chunk-rows", "2",
            "--max-new-tokens", "16", "--scorers", "profanity", "--rate-limit", "0"]
    # One torch thread: on a busy 2-core CI box spinning OpenMP threads make generation 10x slower.
    env = {"SRLLM_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    rows = [{"id": f"k{i:03d}", "text": f"Line {i}: those people are all lazy and dumb."} for i in range(40)]
    process, url = server_process(args, env=env, log=tmp_path / "server1.log")
    job = httpx.post(url + "/v1/jobs", files={"file": ("rows.jsonl", _jsonl(rows))}, data={"id_field": "id"},
                     timeout=30).json()
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/v1/jobs/{job['id']}").json()["rows_done"] < 4:
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(10)

    before = _saved(db, job["id"])
    assert 4 <= len(before) < len(rows), "kill the server while the job is half done"

    process, url = server_process(args, env=env, log=tmp_path / "server2.log")
    done = _wait_done(lambda p: httpx.get(url + p, timeout=10), job["id"])
    assert done["status"] == "done" and done["rows_done"] == len(rows)
    after = _saved(db, job["id"])
    assert len(after) == len(rows)
    assert all(after[idx] == result for idx, result in before.items())  # finished rows were not redone
    out = [json.loads(line) for line in httpx.get(url + done["results_url"]).text.splitlines()]
    assert [row["id"] for row in out] == [row["id"] for row in rows]  # none lost, none twice, in order
    assert all(isinstance(row["rewrite"], str) for row in out)


def test_a_parquet_upload_comes_back_as_typed_parquet(tmp_path):
    """The store and its download body (the route passes `format=parquet` through to `results_body`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from srllm.errors import InputError
    from srllm.rewrite.guard import SCORE_KEYS
    from srllm.serve.jobs import JobStore, _error_row, results_body

    upload = io.BytesIO()
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["first", "second"], "n": [1, 2]}), upload)
    store = JobStore(tmp_path / "jobs.sqlite")
    job = store.create("me", "rows.parquet", upload.getvalue(), fmt=None, text_field="text", id_field="id",
                       max_rows=10)
    assert job.rows_total == 2
    scores = {**dict.fromkeys(SCORE_KEYS), "input_toxicity": 0.1}
    store.save_results(job.id, {0: {"rewrite": "FIRST", "status": "ok", "scores": scores, "reasons": []},
                                1: _error_row(InputError("too long"))})
    body, media = results_body(store.results(job.id), "parquet")
    assert media == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(body))
    assert table.column("n").to_pylist() == [1, 2] and table.column("rewrite").to_pylist() == ["FIRST", None]
    assert [f.name for f in table.schema.field("scores").type] == list(SCORE_KEYS)
    assert table.column("scores").to_pylist()[1] == dict.fromkeys(SCORE_KEYS)  # an error row has the same shape
