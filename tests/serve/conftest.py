"""Fixtures for the service tests: the tiny random Llama (tests/conftest.py) behind a real app.

- `tiny_rewriter` (session): a Rewriter on the tiny model with an 8-token budget (fast, deterministic).
- `make_settings(**overrides)`: ServeSettings with files in tmp_path and cheap local scorers.
- `make_client(settings, engine=...)`: a started TestClient (lifespan runs: batcher, job runner).
- `live_server(app)`: the app on a real loopback port (uvicorn in a thread) for concurrency/browser tests.
- `start_server_process(...)`: `python -m srllm.cli.serve serve ...` as a real subprocess.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from srllm.serve import ServeSettings, create_app

CHEAP_SCORERS = ["profanity", "sentiment"]


@pytest.fixture(scope="session")
def tiny_rewriter(tiny_llama_dir: Path):
    from srllm.models import load_causal_lm
    from srllm.rewrite import GenerationSettings, Rewriter

    return Rewriter(load_causal_lm(str(tiny_llama_dir)), settings=GenerationSettings(max_new_tokens=8))


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., ServeSettings]:
    def build(**overrides: Any) -> ServeSettings:
        values: dict[str, Any] = dict(
            keys_path=tmp_path / "keys.sqlite", jobs_db=tmp_path / "jobs.sqlite", scorers=CHEAP_SCORERS,
            rewrite_scorers=CHEAP_SCORERS, max_chars=200, max_texts=8, rate_limit_per_minute=0,
        )
        values.update(overrides)
        return ServeSettings(**values)

    return build


@pytest.fixture
def make_client(tiny_rewriter) -> Iterator[Callable[..., Any]]:
    from fastapi.testclient import TestClient

    stack = contextlib.ExitStack()

    def build(settings: ServeSettings, engine: Any = None) -> TestClient:
        app = create_app(settings, engine if engine is not None else tiny_rewriter)
        return stack.enter_context(TestClient(app, raise_server_exceptions=False))

    with stack:
        yield build


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a loopback port in a thread; yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start in 30 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def start_server_process(args: list[str], *, env: dict[str, str] | None = None, port: int | None = None,
                         log: Path | None = None, ready_timeout: float = 120) -> tuple[subprocess.Popen, str]:
    """A real `srllm serve` process on loopback; returns once /readyz answers 200."""
    port = port or free_port()
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})}
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "srllm.cli.serve", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--no-preload-scorers", *args],
        env=full_env, stdout=out, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            detail = log.read_text(errors="replace")[-2000:] if log else ""
            raise RuntimeError(f"the server exited with {process.returncode}: {detail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return process, url
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not become ready in time")


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="session")
def serve_live() -> Callable[[Any], contextlib.AbstractContextManager[str]]:
    return live_server


@pytest.fixture
def server_process() -> Iterator[Callable[..., tuple[subprocess.Popen, str]]]:
    """Start real server processes; every one still running is stopped after the test."""
    started: list[subprocess.Popen] = []

    def start(args: list[str], **kwargs: Any) -> tuple[subprocess.Popen, str]:
        process, url = start_server_process(args, **kwargs)
        started.append(process)
        return process, url

    yield start
    for process in started:
        stop_process(process)
