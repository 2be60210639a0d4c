"""Backends: `openai` against a second, real srllm server process; `llama-cpp` when installed."""

from __future__ import annotations

import importlib.util
import socket
import time

import httpx
import pytest

from srllm.serve import ServeSettings, create_app

TEXTS = ["Old people can't learn new software.", "That idiot broke the printer again."]


def test_openai_backend_rewrites_through_another_srllm_server(tmp_path, tiny_llama_dir, server_process):
    from fastapi.testclient import TestClient

    _, remote = server_process(
        ["--model", str(tiny_llama_dir), "--no-adapter", "--no-guard", "--max-new-tokens", "8", "--jobs-db",
         str(tmp_path / "remote-jobs.sqlite"), "--scorers", "profanity", "--rate-limit", "0"],
        env={"SRLLM_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}, log=tmp_path / "remote.log")
    # The remote answers only for the model it serves (404 otherwise, like vLLM): --remote-model names it.
    settings = ServeSettings(backend="openai", base_url=remote + "/v1", model="tiny-remote",
                             remote_model=tiny_llama_dir.name, max_new_tokens=8,
                             jobs_db=tmp_path / "jobs.sqlite", scorers=["profanity"], rewrite_scorers=[])
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the openai backend did not become ready"
            time.sleep(0.1)
        via_openai = client.post("/v1/rewrite", json={"texts": TEXTS}).json()["results"]
        models = client.get("/v1/models").json()["data"][0]
        # Without a decode loop here, chat takes one choice and refuses what it cannot pass on.
        hello = {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4}
        chat = client.post("/v1/chat/completions", json=hello)
        refused = client.post("/v1/chat/completions", json={**hello, "n": 2})
        text = client.post("/v1/completions", json={"prompt": "Hello"})
    assert chat.status_code == 200 and len(chat.json()["choices"]) == 1
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "n"
    assert text.status_code == 422 and "openai backend" in text.json()["error"]["message"]
    direct = httpx.post(remote + "/v1/rewrite", json={"texts": TEXTS}, timeout=60).json()["results"]
    assert models["backend"] == "openai" and models["id"] == "tiny-remote"
    assert [r["model"] for r in via_openai] == ["tiny-remote"] * 2
    # Same prompt, same greedy decoding, same cleaning: the same rewrite as the remote server's own.
    assert [r["rewrite"] for r in via_openai] == [r["rewrite"] for r in direct]
    assert via_openai[0]["prompt_version"] == direct[0]["prompt_version"]


def test_openai_backend_reports_an_unreachable_server(tmp_path):
    from fastapi.testclient import TestClient

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = ServeSettings(backend="openai", base_url=f"http://127.0.0.1:{port}/v1", model="x",
                             jobs_db=tmp_path / "jobs.sqlite", scorers=["profanity"], rewrite_scorers=[])
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        while client.get("/readyz").status_code != 200:
            time.sleep(0.05)
        response = client.post("/v1/rewrite", json={"texts": ["hello"]})
    assert response.status_code == 502
    assert "cannot be reached" in response.json()["error"]["message"]


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                    reason="llama-cpp-python is not installed (pip install 'srllm[llamacpp]')")
def test_llama_cpp_backend_rewrites_with_the_gguf_model(tmp_path):
    from fastapi.testclient import TestClient

    from srllm.engine.llama_cpp import find_gguf

    try:
        find_gguf("smollm2-135m-instruct")
    except Exception as exc:  # noqa: BLE001 - any reason the file is missing
        pytest.skip(f"the GGUF model is not pulled: {exc}")
    settings = ServeSettings(backend="llama-cpp", model="smollm2-135m-instruct", max_new_tokens=16,
                             jobs_db=tmp_path / "jobs.sqlite", scorers=["profanity"], rewrite_scorers=[])
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 120
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        results = client.post("/v1/rewrite", json={"texts": TEXTS}).json()["results"]
    assert all(isinstance(r["rewrite"], str) and r["model"].endswith(".gguf") for r in results)
