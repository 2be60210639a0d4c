"""The API on the tiny model: shapes, pass-through of guard fields, errors, ops endpoints."""

from __future__ import annotations

import re
from typing import Any

import pytest

from srllm.engine.protocol import WrappedEngine
from srllm.rewrite import RewriteResult


def test_rewrite_returns_one_result_per_text_with_model_details(make_client, make_settings):
    client = make_client(make_settings())
    texts = ["Women are too emotional to lead.", "That idiot broke the printer."]
    response = client.post("/v1/rewrite", json={"texts": texts})
    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    assert [item["text"] for item in body["results"]] == texts
    for index, item in enumerate(body["results"]):
        assert item["index"] == index
        assert isinstance(item["rewrite"], str)
        assert item["status"] == "ok" and item["scores"] == {} and item["reasons"] == []
        assert item["model"] and item["prompt_version"] and item["method"] == "zero-shot"


def test_rewrite_is_the_same_as_the_library_call(make_client, make_settings, tiny_rewriter):
    text = "Old people can't learn new software."
    direct = tiny_rewriter.rewrite([text])[0].rewrite
    served = make_client(make_settings()).post("/v1/rewrite", json={"texts": [text]}).json()
    assert served["results"][0]["rewrite"] == direct


class FlaggingGuard(WrappedEngine):
    """Stands in for the guard that wraps a Rewriter: adds status, scores and reasons to each result.
    Like srllm.rewrite.guard.GuardedRewriter, its model, adapter, method and prompt version are the Rewriter's."""

    def __init__(self, rewriter: Any) -> None:
        self.rewriter = rewriter

    def rewrite(self, texts: list[str], *, batch_size: int = 8) -> list[dict[str, Any]]:
        out = []
        for result in self.rewriter.rewrite(texts, batch_size=batch_size):
            row: dict[str, Any] = RewriteResult.to_dict(result)
            flagged = "idiot" in result.text
            row.update(status="flagged" if flagged else "ok", scores={"toxicity": 0.9 if flagged else 0.1},
                       reasons=["still toxic after 2 tries"] if flagged else [])
            out.append(row)
        return out


def test_status_scores_and_reasons_pass_through_from_the_rewrite_call(make_client, make_settings, tiny_rewriter):
    client = make_client(make_settings(), engine=FlaggingGuard(tiny_rewriter))
    results = client.post("/v1/rewrite", json={"texts": ["You idiot.", "Hello there."]}).json()["results"]
    assert results[0]["status"] == "flagged" and results[0]["reasons"] == ["still toxic after 2 tries"]
    assert results[0]["scores"] == {"toxicity": 0.9}
    assert results[1]["status"] == "ok" and results[1]["reasons"] == []
    assert results[0]["model"] == results[1]["model"]  # details found on the wrapped Rewriter
    assert client.get("/v1/models").json()["data"][0]["prompt_version"] == tiny_rewriter.prompt_version
    metrics = client.get("/metrics").text
    assert 'srllm_texts_total{status="flagged"} 1.0' in metrics
    assert "srllm_flagged_rate 0.5" in metrics


def test_rewrite_with_score_fills_in_scores(make_client, make_settings, tiny_rewriter):
    client = make_client(make_settings(rewrite_scorers=["profanity"]), engine=FlaggingGuard(tiny_rewriter))
    # FlaggingGuard gives scores, so nothing is added; a plain Rewriter's results get the server's scorers.
    assert client.post("/v1/rewrite", json={"texts": ["You idiot."], "score": True}).json()[
        "results"][0]["scores"] == {"toxicity": 0.9}


def test_score_runs_single_and_pairwise_scorers(make_client, make_settings):
    client = make_client(make_settings(scorers=["profanity", "sentiment"]))
    body = client.post("/v1/score", json={"texts": ["you stupid idiot", "have a nice day"]}).json()
    assert body["scorers"] == ["profanity", "sentiment"]
    first, second = body["results"]
    assert first["scores"]["profanity"] > second["scores"]["profanity"]
    assert set(first["details"]["sentiment"]) >= {"compound", "pos", "neg"}


def test_score_with_the_judge_returns_spans_and_a_status(make_client, make_settings):
    client = make_client(make_settings(scorers=["judge"]))
    text = "Listen, you worthless idiot, the Porto shipment is late."
    body = client.post("/v1/score", json={"texts": [text, "🙂"]}).json()
    insult, emoji = body["results"]
    assert insult["status"] == "ok" and insult["scores"]["judge"] > 0.5
    assert insult["spans"] and all(text[s["start"]:s["end"]] == s["text"] for s in insult["spans"])
    assert any("idiot" in s["text"] for s in insult["spans"])
    assert emoji["status"] == "no_words" and emoji["spans"] == []


def test_score_refuses_a_scorer_the_server_did_not_enable(make_client, make_settings):
    response = make_client(make_settings()).post("/v1/score", json={"texts": ["x"], "scorers": ["perspective"]})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "scorers[0]"


def test_pairwise_scorers_run_with_originals_and_are_skipped_without(make_client, make_settings):
    client = make_client(make_settings(scorers=["profanity", "similarity"]))
    alone = client.post("/v1/score", json={"texts": ["a kind note"]}).json()
    assert alone["scorers"] == ["profanity"] and "similarity" in alone["skipped"]
    paired = client.post("/v1/score", json={"texts": ["a kind note"], "originals": ["a kind note"]}).json()
    assert paired["scorers"] == ["profanity", "similarity"]
    assert paired["results"][0]["scores"]["similarity"] > 0.99


def test_score_needs_one_original_per_text(make_client, make_settings):
    response = make_client(make_settings()).post("/v1/score", json={"texts": ["a", "b"], "originals": ["a"]})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "originals"


def test_models_health_ready_and_openapi(make_client, make_settings):
    client = make_client(make_settings())
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["backend"] == "transformers"
    assert "/" not in models["data"][0]["id"]  # a local model dir is shown by name, not by internal path
    assert client.get("/healthz").json() == {"status": "ok", "model": None, "backend": None}
    assert client.get("/readyz").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"/v1/rewrite", "/v1/score", "/v1/models", "/v1/jobs", "/v1/chat/completions"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_reference_pages_load_only_from_this_server_under_a_csp(make_settings, path):
    from fastapi.testclient import TestClient

    from srllm.serve import create_app

    client = TestClient(create_app(make_settings()))  # no model needed
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    # The key lives in this origin's sessionStorage: nothing may come from elsewhere (no CDN).
    assert not re.findall(r"https?://", page.text), re.findall(r"https?://\S+", page.text)
    urls = re.findall(r"""(?:src|href|spec-url)=["']([^"']+)""", page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert len(urls) >= 3  # script, favicon, schema (and the stylesheet on /docs)
    for url in urls:
        assert url.startswith("/") and client.get(url).status_code == 200, url
    csp = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["connect-src"] == "'self'"
    assert csp["script-src"].startswith("'self'") and "unsafe" not in csp["script-src"]
    assert not re.search(r"https?:|\*", page.headers["content-security-policy"])


def test_chat_completions_answers_like_openai(make_client, make_settings):
    client = make_client(make_settings())
    model = client.get("/v1/models").json()["data"][0]["id"]  # another name is a 404 (test_openai_client)
    body = client.post("/v1/chat/completions", json={
        "model": model, "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 4}).json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"]["completion_tokens"] <= 4


def test_errors_are_json_with_a_request_id_and_no_internals(make_client, make_settings):
    client = make_client(make_settings())
    for response in (client.get("/v1/nothing-here"), client.post("/v1/rewrite", content=b"{not json",
                                                                   headers={"content-type": "application/json"}),
                     client.post("/v1/rewrite", json={"texts": ["   "]}),
                     client.post("/v1/rewrite", json={"texts": ["x"], "extra": 1})):
        assert response.status_code in (404, 422)
        error = response.json()["error"]
        assert error["request_id"] == response.headers["x-request-id"]
        assert error["message"] and "Traceback" not in response.text and "/work" not in response.text


def test_an_unexpected_failure_is_a_bare_500(make_client, make_settings):
    class Broken:
        backend, model, adapter, method, prompt_version = "test", "broken", None, "none", "v0"

        def rewrite(self, texts, *, batch_size=8):
            raise RuntimeError("secret internal detail at /srv/x.py")

    client = make_client(make_settings(), engine=Broken())
    response = client.post("/v1/rewrite", json={"texts": ["hello"]})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text and "/srv" not in response.text


def test_page_is_served_with_local_assets_only(make_client, make_settings):
    client = make_client(make_settings())
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        response = client.get(asset)
        assert response.status_code == 200 and "http" not in response.text.replace("http-equiv", "")


def test_cors_is_off_by_default_and_on_for_listed_origins(make_client, make_settings):
    preflight = {"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}
    closed = make_client(make_settings()).options("/v1/rewrite", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    opened = make_client(make_settings(cors_origins=["https://example.org"])).options("/v1/rewrite",
                                                                                      headers=preflight)
    assert opened.headers["access-control-allow-origin"] == "https://example.org"


def test_chat_messages_longer_than_the_context_are_a_422(make_client, make_settings):
    client = make_client(make_settings(max_chars=4000))
    long = " ".join(["antidisestablishmentarianism"] * 500)
    response = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": long}] * 3})
    assert response.status_code == 422 and response.json()["error"]["field"] == "messages"
