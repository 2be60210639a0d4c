"""The hostile-input corpus (`hostile_inputs.py`) through every way in: `srllm rewrite --input`, `/v1/rewrite`,
`/v1/jobs` and `srllm data validate`, on the tiny random model. Each answer is a clear error (exit code 2
naming the file and the line or field; a 4xx with a message) or processed rows; never a traceback or a
500, and the input file is never modified."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_inputs import CORPUS, HostileInput
from typer.testing import CliRunner

from srllm.cli.main import app
from srllm.lines import split_lines

IDS = [entry.name for entry in CORPUS]
# "file X, line N" or "file X, ... field 'F'": where the problem is, as every user error says it.
_WHERE = r"file {path}(?:, line \d+)?(?:, field '[^']+')?:"


def _write(tmp_path: Path, entry: HostileInput) -> tuple[Path, str]:
    src = tmp_path / entry.filename
    src.write_bytes(entry.data)
    return src, hashlib.sha256(entry.data).hexdigest()


def _unchanged(src: Path, digest: str) -> None:
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest, f"{src} was modified"


def _output(result: Any) -> str:
    return " ".join(result.output.split())


def _no_crash(result: Any) -> None:
    # A user error ends in typer.Exit (SystemExit); anything else is a crash with a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


def _points_at(output: str, src: Path, line: int | None = None) -> bool:
    where = re.search(_WHERE.format(path=re.escape(str(src))), output)
    return where is not None and (line is None or f"line {line}" in where.group())


def _jsonl(text: str) -> list[dict[str, Any]]:
    # Split on "\n" only: a rewrite may hold U+2028 or \x85 raw, which str.splitlines() breaks at.
    return [json.loads(line) for line in split_lines(text)]


@pytest.mark.parametrize("entry", CORPUS, ids=IDS)
def test_the_cli_file_job(entry: HostileInput, tmp_path: Path, tiny_llama_dir: Path) -> None:
    src, digest = _write(tmp_path, entry)
    out = tmp_path / "out.jsonl"
    for extra in ([], ["--skip-invalid"]):
        result = CliRunner().invoke(app, ["rewrite", "--input", str(src), "--output", str(out), "--model",
                                          str(tiny_llama_dir), "--no-adapter", "--no-guard", "--max-new-tokens",
                                          "2", "--batch-size", "16", "--overwrite", *extra])
        _no_crash(result)
        output = _output(result)
        assert result.exit_code in (0, 2), output
        if result.exit_code == 2:
            assert _points_at(output, src, entry.line), output
        else:  # every row is rewritten, or (--skip-invalid) in the errors file with its line and field
            rows = _jsonl(out.read_text(encoding="utf-8"))
            errors_file = out.with_name(out.name + ".errors.jsonl")
            errors = _jsonl(errors_file.read_text(encoding="utf-8")) if errors_file.exists() else []
            assert rows or errors
            assert all(isinstance(row["rewrite"], str) for row in rows)
            assert all(e["file"] == str(src) and e["line"] >= 1 and e["field"] and e["error"] for e in errors)
        _unchanged(src, digest)


@pytest.mark.parametrize("entry", CORPUS, ids=IDS)
def test_data_validate(entry: HostileInput, tmp_path: Path) -> None:
    src, digest = _write(tmp_path, entry)
    result = CliRunner().invoke(app, ["data", "validate", str(src)])
    _no_crash(result)
    output = _output(result)
    assert result.exit_code in (0, 1, 2), output  # 1: bad records or quality findings, each listed
    if result.exit_code == 2:  # the data layer reads no .txt files: that error is about the name
        assert _points_at(output, src, None if src.suffix == ".txt" else entry.line), output
    if "bad record" in output:
        assert f"{src}:" in output or _points_at(output, src), output
    _unchanged(src, digest)


@pytest.fixture(scope="module")
def client(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from srllm.models import load_causal_lm
    from srllm.rewrite import GenerationSettings, Rewriter
    from srllm.serve import ServeSettings, create_app

    folder = tmp_path_factory.mktemp("serve")
    rewriter = Rewriter(load_causal_lm(str(tiny_llama_dir)), settings=GenerationSettings(max_new_tokens=2))
    settings = ServeSettings(keys_path=folder / "keys.sqlite", jobs_db=folder / "jobs.sqlite", scorers=["profanity"],
                             rewrite_scorers=["profanity"], rate_limit_per_minute=0, max_texts=4096)
    with contextlib.ExitStack() as stack:
        yield stack.enter_context(TestClient(create_app(settings, rewriter), raise_server_exceptions=False))


def _clear_error(response: Any) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    message = response.json()["error"]["message"]
    assert message and "Traceback" not in message


@pytest.mark.parametrize("entry", CORPUS, ids=IDS)
def test_the_rewrite_endpoint(entry: HostileInput, client: Any) -> None:
    response = client.post("/v1/rewrite", content=entry.body, headers={"content-type": "application/json"})
    if response.status_code != 200:
        _clear_error(response)
        return
    results = response.json()["results"]
    assert results and all(isinstance(item["rewrite"], str) for item in results)


@pytest.mark.parametrize("entry", CORPUS, ids=IDS)
def test_the_jobs_endpoint(entry: HostileInput, client: Any, wait_done: Any) -> None:
    response = client.post("/v1/jobs", files={"file": (entry.filename, entry.data)})
    if response.status_code != 202:
        _clear_error(response)
        message = response.json()["error"]["message"]
        assert f"file {entry.filename}" in message and (entry.line is None or f"line {entry.line}" in message)
        return
    job = wait_done(client, response.json()["id"], timeout=120)
    assert job["status"] == "done", job
    results = client.get(f"/v1/jobs/{job['id']}/results")
    assert results.status_code == 200
    rows = _jsonl(results.text)
    # A row the model cannot take (too long for its context) is an error row with its reason.
    assert rows and all(isinstance(row["rewrite"], str) or (row["status"] == "error" and row["reasons"])
                        for row in rows)


@pytest.mark.parametrize(("args", "stdin", "where"), [
    (["bad \udc80 byte"], None, "field 'text'"),  # how Python keeps an undecodable byte of argv
    ([], b"bad \xff byte\n", "field 'stdin'"),
])
def test_the_cli_text_and_stdin_refuse_what_is_not_text(args: list[str], stdin: bytes | None, where: str,
                                                          tiny_llama_dir: Path) -> None:
    result = CliRunner().invoke(app, ["rewrite", *args, "--model", str(tiny_llama_dir), "--no-adapter",
                                      "--no-guard", "--max-new-tokens", "2"], input=stdin)
    _no_crash(result)
    assert result.exit_code == 2 and where in _output(result), _output(result)
