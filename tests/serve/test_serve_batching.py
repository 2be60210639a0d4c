"""Dynamic batching: concurrent requests are merged into one generation call."""

from __future__ import annotations

import asyncio
import re

import httpx

from srllm.serve import create_app

TEXTS = [f"Request number {i}: people like that should not be hired." for i in range(8)]


async def _fire(url: str, texts: list[str]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return await asyncio.gather(*(client.post("/v1/rewrite", json={"texts": [t]}) for t in texts))


def _batches(metrics: str) -> tuple[float, float]:
    calls = float(re.search(r"^srllm_batches_total (\S+)$", metrics, re.M).group(1))
    texts = float(re.search(r"^srllm_batch_size_texts_sum (\S+)$", metrics, re.M).group(1))
    return calls, texts


def test_concurrent_requests_share_batches(make_settings, tiny_rewriter, serve_live):
    app = create_app(make_settings(max_batch_size=8, max_wait_ms=200), tiny_rewriter)
    with serve_live(app) as url:
        responses = asyncio.run(_fire(url, TEXTS))
        metrics = httpx.get(url + "/metrics").text
    assert [r.status_code for r in responses] == [200] * 8
    # Each request gets its own text back, whatever batch it ran in.
    assert [r.json()["results"][0]["text"] for r in responses] == TEXTS
    calls, texts = _batches(metrics)
    assert texts == 8
    assert calls <= 2, f"8 concurrent requests ran in {calls} generation calls"
    assert app.state.srllm.batcher.batches_run == calls


def test_max_batch_size_one_runs_each_request_alone(make_settings, tiny_rewriter, serve_live):
    app = create_app(make_settings(max_batch_size=1, max_wait_ms=200), tiny_rewriter)
    with serve_live(app) as url:
        responses = asyncio.run(_fire(url, TEXTS[:4]))
        metrics = httpx.get(url + "/metrics").text
    assert [r.status_code for r in responses] == [200] * 4
    assert _batches(metrics) == (4, 4)


def test_a_bad_text_fails_only_its_own_request(make_settings, tiny_rewriter, serve_live):
    # Over the tiny model's context but under the character limit: only the model can tell.
    too_long = " ".join(["antidisestablishmentarianism"] * 400)
    app = create_app(make_settings(max_batch_size=8, max_wait_ms=200, max_chars=20_000), tiny_rewriter)
    with serve_live(app) as url:
        good, bad = asyncio.run(_fire(url, [TEXTS[0], too_long]))
    assert good.status_code == 200
    assert bad.status_code == 422 and "context" in bad.json()["error"]["message"]
