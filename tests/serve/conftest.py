"""Fixtures for the service tests: the tiny random Llama (tests/conftest.py) behind a real app.

- `tiny_rewriter` (session): a Rewriter on the tiny model with an 8-token budget (fast, deterministic).
- `make_settings(**overrides)`: ServeSettings with files in tmp_path and cheap local scorers.
- `make_client(settings, engine=...)`: a started TestClient (lifespan runs: batcher, job runner).
- `live_server(app)`: the app on a real loopback port (uvicorn in a thread) for concurrency/browser tests.

A real `srllm serve` subprocess: the `server_process` fixture in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


@contextlib.contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a loopback port in a thread; yields the base URL."""
    import uvicorn

    # Port 0: the kernel picks a free port when uvicorn binds, so no other process can take it first.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start in 30 s")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def serve_live() -> Callable[[Any], contextlib.AbstractContextManager[str]]:
    return live_server
