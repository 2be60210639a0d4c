"""API keys, limits, rate limiting, timeouts and what the logs may say."""

from __future__ import annotations

import logging
import sqlite3
import time

import httpx
import pytest

from srllm.errors import SrllmError
from srllm.serve import create_app
from srllm.serve.keys import KeyStore

TEXT = {"texts": ["Immigrants are stealing our jobs."]}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_keys_are_required_on_a_public_address_unless_explicitly_disabled(make_settings):
    assert make_settings(host="0.0.0.0").auth_required()
    assert make_settings(host="10.1.2.3").auth_required()
    assert not make_settings(host="0.0.0.0", insecure_no_auth=True).auth_required()
    assert not make_settings(host="127.0.0.1").auth_required()
    assert not make_settings(host="::1").auth_required()
    assert make_settings(host="127.0.0.1", require_key=True).auth_required()


def test_missing_wrong_and_revoked_keys_get_the_same_401(make_client, make_settings, tmp_path):
    settings = make_settings(require_key=True)
    store = KeyStore(settings.keys_path)
    good, info = store.create("ci")
    other, other_info = store.create("to revoke")
    client = make_client(settings)
    assert client.post("/v1/rewrite", json=TEXT, headers=_auth(good)).status_code == 200
    assert client.post("/v1/rewrite", json=TEXT, headers=_auth(other)).status_code == 200
    store.revoke(other_info.key_id)  # while the server runs, as `srllm keys revoke` would
    wrong_secret = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    refused = [
        client.post("/v1/rewrite", json=TEXT),
        client.post("/v1/rewrite", json=TEXT, headers=_auth(wrong_secret)),
        client.post("/v1/rewrite", json=TEXT, headers=_auth("srk_000000000000_nope")),
        client.post("/v1/rewrite", json=TEXT, headers=_auth(other)),
        client.post("/v1/rewrite", json=TEXT, headers={"Authorization": f"Basic {good}"}),
    ]
    assert [r.status_code for r in refused] == [401] * 5
    messages = {r.json()["error"]["message"] for r in refused}
    assert len(messages) == 1  # no hint whether the key exists, is wrong or was revoked
    assert all(r.headers["www-authenticate"] == "Bearer" for r in refused)
    assert client.get("/healthz").status_code == 200  # probes stay open


@pytest.fixture
def hash_checks(monkeypatch) -> list[str]:
    """Every argon2 verification the real hasher runs (the spy calls through to it)."""
    from argon2 import PasswordHasher

    calls: list[str] = []
    real = PasswordHasher.verify

    def counted(self, stored, secret):
        calls.append(secret)
        return real(self, stored, secret)

    monkeypatch.setattr(PasswordHasher, "verify", counted)
    return calls


def test_failed_keys_are_limited_per_address_before_any_hash_check(make_settings, hash_checks):
    from fastapi.testclient import TestClient

    settings = make_settings(require_key=True, auth_failures_per_minute=1, auth_failure_burst=3)
    good, _ = KeyStore(settings.keys_path).create("friend")
    app = create_app(settings)  # /v1/jobs needs no model
    attacker = TestClient(app, client=("203.0.113.9", 40000))
    friend = TestClient(app, client=("198.51.100.7", 40000))
    # Distinct bad keys, so no cached answer helps: only the address limit can stop the hashing.
    codes = [attacker.get("/v1/jobs", headers=_auth(f"srk_{i:012x}_guess{i}")).status_code for i in range(12)]
    assert codes == [401] * 3 + [429] * 9
    assert len(hash_checks) == 3  # refused requests never reached argon2
    refused = attacker.get("/v1/jobs", headers=_auth("srk_0123456789ab_more"))
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert attacker.get("/v1/jobs", headers=_auth(good)).status_code == 429  # the address, not the key
    assert friend.get("/v1/jobs", headers=_auth(good)).status_code == 200  # other addresses are served
    assert friend.get("/v1/jobs", headers=_auth(good)).status_code == 200
    assert len(hash_checks) == 4  # the friend's key was checked once, then remembered
    # A key that passed before costs no argon2, so a legitimate client behind the same address (a NAT, a
    # proxy) keeps being served while guesses from that address are refused.
    assert attacker.get("/v1/jobs", headers=_auth(good)).status_code == 200
    assert attacker.get("/v1/jobs", headers=_auth("srk_0123456789ab_again")).status_code == 429
    assert len(hash_checks) == 4


def test_a_repeated_bad_key_is_not_hashed_again_but_new_and_revoked_keys_still_count(make_settings, hash_checks,
                                                                                     monkeypatch):
    import types

    from srllm.serve import keys

    store = KeyStore(make_settings().keys_path)
    token = "srk_abc123abc123_chosen-secret"
    assert [store.verify(token) for _ in range(5)] == [None] * 5
    assert len(hash_checks) == 1  # an unknown key id: one dummy check, then the remembered answer
    wrong = store.create("someone")[0].rsplit("_", 1)[0] + "_wrong"
    assert [store.verify(wrong) for _ in range(5)] == [None] * 5
    assert len(hash_checks) == 2
    # A key created later with exactly that id and secret must work: the cache saw no such row.
    monkeypatch.setattr(keys, "secrets", types.SimpleNamespace(token_hex=lambda n: "abc123abc123",
                                                               token_urlsafe=lambda n: "chosen-secret"))
    created, info = store.create("later")
    assert created == token and store.verify(token) == "abc123abc123"
    store.revoke(info.key_id)  # a revoked key fails at once, remembered or not
    assert store.verify(token) is None and store.verify(token) is None


def test_the_memory_of_bad_keys_is_bounded(make_settings, monkeypatch):
    from srllm.serve import keys

    monkeypatch.setattr(keys, "REJECTED_KEPT", 4)
    store = KeyStore(make_settings().keys_path)
    for i in range(10):
        assert store.verify(f"srk_{i:012x}_guess") is None
    assert len(store._rejected) == 4


def test_a_request_without_a_valid_key_gets_401_before_its_body_is_parsed(make_client, make_settings):
    settings = make_settings(require_key=True, max_body_bytes=2048, max_upload_bytes=4096)
    good, _ = KeyStore(settings.keys_path).create("ci")
    client = make_client(settings)
    json_type = {"content-type": "application/json"}
    broken, huge = b'{"texts": [', b'{"texts": ["' + b"y" * 50_000 + b'"]}'
    for headers in ({}, _auth("srk_000000000000_nope")):
        assert client.post("/v1/rewrite", content=broken, headers={**json_type, **headers}).status_code == 401
        assert client.post("/v1/rewrite", content=huge, headers={**json_type, **headers}).status_code == 401
        assert client.post("/v1/chat/completions", content=huge, headers={**json_type, **headers}).status_code == 401
        upload = client.post("/v1/jobs", files={"file": ("big.txt", b"z" * 100_000)}, headers=headers)
        assert upload.status_code == 401 and upload.json()["error"]["code"] == "unauthorized"
    # With the key, the body is read and judged as before.
    assert client.post("/v1/rewrite", content=broken, headers={**json_type, **_auth(good)}).status_code == 422
    too_big = client.post("/v1/rewrite", content=huge, headers={**json_type, **_auth(good)})
    assert too_big.status_code == 413 and "50015 bytes" in too_big.json()["error"]["message"]


def test_a_rate_limited_client_gets_429_before_its_body_is_parsed(make_client, make_settings):
    client = make_client(make_settings(rate_limit_per_minute=1, rate_limit_burst=1))
    broken = {"content": b'{"texts": [', "headers": {"content-type": "application/json"}}
    assert client.post("/v1/rewrite", **broken).status_code == 422
    assert client.post("/v1/rewrite", **broken).status_code == 429


def test_only_salted_hashes_are_stored(make_settings):
    store = KeyStore(make_settings().keys_path)
    token, info = store.create("someone")
    secret = token.split("_", 2)[2]
    raw = store.path.read_bytes() + b"".join(p.read_bytes() for p in store.path.parent.glob("keys.sqlite-*"))
    assert secret.encode() not in raw
    stored = sqlite3.connect(store.path).execute("SELECT secret_hash FROM api_keys").fetchone()[0]
    assert stored.startswith("$argon2id$")
    assert store.verify(token) == info.key_id and store.verify(token + "x") is None


def test_too_many_texts_and_too_long_texts_name_the_field(make_client, make_settings):
    client = make_client(make_settings(max_texts=3, max_chars=50))
    many = client.post("/v1/rewrite", json={"texts": ["a"] * 4})
    assert many.status_code == 422 and many.json()["error"]["field"] == "texts"
    long = client.post("/v1/rewrite", json={"texts": ["ok", "x" * 51]})
    assert long.status_code == 422 and long.json()["error"]["field"] == "texts[1]"
    assert "50 characters" in long.json()["error"]["message"]


def test_a_body_over_the_limit_is_413_declared_or_streamed(make_client, make_settings):
    client = make_client(make_settings(max_body_bytes=2048, max_chars=4000))
    big = {"texts": ["y" * 3000]}
    declared = client.post("/v1/rewrite", json=big)
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "body_too_large"

    def chunks():  # no Content-Length: the limit is enforced while reading
        yield b'{"texts": ["'
        for _ in range(10):
            yield b"z" * 500
        yield b'"]}'

    streamed = client.post("/v1/rewrite", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_rate_limit_answers_429_with_retry_after(make_client, make_settings):
    settings = make_settings(require_key=True, rate_limit_per_minute=6, rate_limit_burst=2)
    store = KeyStore(settings.keys_path)
    first, _ = store.create("a")
    second, _ = store.create("b")
    client = make_client(settings)
    codes = [client.get("/v1/models", headers=_auth(first)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = client.get("/v1/models", headers=_auth(first))
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert client.get("/v1/models", headers=_auth(second)).status_code == 200  # limits are per key
    assert "srllm_rate_limited_total 2.0" in client.get("/metrics").text


def test_a_slow_request_times_out_with_504(make_client, make_settings):
    client = make_client(make_settings(request_timeout_s=0.001))
    response = client.post("/v1/rewrite", json={"texts": ["a fairly long sentence to rewrite"] * 4})
    assert response.status_code == 504 and response.json()["error"]["code"] == "timeout"


ENDLESS_BUDGET = 1500  # tokens per row: seconds of decoding on the tiny model


@pytest.fixture
def endless(tiny_llama_dir):
    """A Rewriter whose rows never end early (no end-of-turn token) and its model's decode loop."""
    from srllm.engine.continuous import decode_loop
    from srllm.models import load_causal_lm
    from srllm.rewrite import GenerationSettings, Rewriter

    loaded = load_causal_lm(str(tiny_llama_dir))
    loop = decode_loop(loaded.model, pad_id=loaded.tokenizer.pad_token_id, eos_ids=[])
    return Rewriter(loaded, settings=GenerationSettings(max_new_tokens=ENDLESS_BUDGET)), loop


def _settles(loop, timeout: float = 10.0) -> int:
    """The loop's step count once it is idle again."""
    deadline = time.monotonic() + timeout
    while not loop.decoder.idle() and time.monotonic() < deadline:
        time.sleep(0.02)
    return loop.decoder.steps


def test_a_timed_out_request_stops_decoding(make_client, make_settings, endless):
    rewriter, loop = endless
    client = make_client(make_settings(request_timeout_s=1.0), engine=rewriter)
    response = client.post("/v1/rewrite", json={"texts": ["Your report is garbage.", "Old people are slow."]})
    assert response.status_code == 504
    steps = _settles(loop)
    assert loop.decoder.idle() and steps < ENDLESS_BUDGET / 2, steps  # not decoded to the budget for nobody
    assert _settles(loop) == steps


def test_a_request_whose_client_went_away_stops_decoding(make_settings, serve_live, endless):
    rewriter, loop = endless
    with serve_live(create_app(make_settings(request_timeout_s=600), rewriter)) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url + "/v1/rewrite", json={"texts": ["Your report is garbage."]}, timeout=1.0)
        steps = _settles(loop)
        assert loop.decoder.idle() and steps < ENDLESS_BUDGET / 2, steps


def test_a_chat_completion_stops_at_the_next_token_when_its_caller_gives_up(tiny_llama_dir):
    import threading

    from srllm.engine.chat import chat_generate
    from srllm.engine.continuous import Cancelled, cancel_on
    from srllm.models import load_causal_lm

    loaded = load_causal_lm(str(tiny_llama_dir))
    loaded.model.generation_config.eos_token_id = None  # the reply would run its whole budget
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    started = time.monotonic()
    with cancel_on(cancel), pytest.raises(Cancelled):
        chat_generate(loaded, [{"role": "user", "content": "Say something."}], max_tokens=ENDLESS_BUDGET,
                      temperature=0.0)
    assert time.monotonic() - started < 10


def test_texts_stay_out_of_the_logs_unless_asked(make_client, make_settings, caplog):
    secret = "Maria from accounting is pregnant again"
    with caplog.at_level(logging.INFO, logger="srllm.serve"):
        make_client(make_settings()).post("/v1/rewrite", json={"texts": [secret]})
    assert secret not in caplog.text and "sha256=" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="srllm.serve"):
        make_client(make_settings(log_texts=True)).post("/v1/rewrite", json={"texts": [secret]})
    assert secret in caplog.text


def test_openai_backend_needs_a_base_url(make_settings, tiny_rewriter):
    with pytest.raises(SrllmError, match="base-url"):
        create_app(make_settings(backend="openai"))
