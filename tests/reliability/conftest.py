"""Fixtures for the reliability probes (issue 15): cheap stand-ins, no real model.

- `echo_rewrite`: a `rewrite(texts)` for `run_file_job` whose results echo each text back.
- `job_client`: a started TestClient on an app whose engine echoes each text (no model, no scorers
  loaded); its `jobs_db` lies in tmp_path.
- `wait_done(client, job_id)`: poll a job until it is done or failed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass
class FakeResult:
    rewrite: str
    model: str = "m"
    adapter: str | None = None
    method: str = "zero-shot"
    prompt_version: str = "v"


@dataclass
class FakeGuardedResult(FakeResult):
    """Shape of the guard's result: the fields a file job copies into a row."""

    status: str = "ok"
    scores: dict = field(default_factory=dict)
    reasons: list = field(default_factory=list)


@pytest.fixture
def result_classes() -> tuple[type[FakeResult], type[FakeGuardedResult]]:
    return FakeResult, FakeGuardedResult


def fake_result(text: str) -> FakeResult:
    return FakeResult(rewrite=text)


@pytest.fixture
def echo_rewrite() -> Callable[[list[str]], list[FakeResult]]:
    return lambda texts: [fake_result(text) for text in texts]


class EchoEngine:
    """A service engine that answers each text with itself (so what a client sends comes back)."""

    backend, model, adapter, method, prompt_version = "fake", "fake", None, "zero-shot", "v"

    def rewrite(self, texts: Sequence[str], *, batch_size: int = 8) -> list[dict[str, Any]]:
        return [{"rewrite": text} for text in texts]


@pytest.fixture
def job_client(tmp_path: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from srllm.serve import ServeSettings, create_app

    settings = ServeSettings(keys_path=tmp_path / "keys.sqlite", jobs_db=tmp_path / "jobs.sqlite",
                             scorers=["profanity"], rewrite_scorers=["profanity"], rate_limit_per_minute=0)
    with contextlib.ExitStack() as stack:
        yield stack.enter_context(TestClient(create_app(settings, EchoEngine()), raise_server_exceptions=False))


def _wait_done(client: Any, job_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture
def wait_done() -> Callable[..., dict[str, Any]]:
    return _wait_done
