"""Fuzz the API from its own OpenAPI schema: no 500s, every response matches the schema.

The server requires keys (as when exposed): valid requests carry one, and schemathesis also checks
that leaving it out is refused.

Bounded and derandomized (20 examples per operation) so CI stays fast and repeatable.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install schemathesis)")
from hypothesis import HealthCheck, settings  # noqa: E402

from srllm.serve import ServeSettings, create_app  # noqa: E402
from srllm.serve.keys import KeyStore  # noqa: E402

_FOLDER = Path(tempfile.mkdtemp(prefix="srllm-fuzz-"))
SETTINGS = ServeSettings(
    keys_path=_FOLDER / "keys.sqlite", jobs_db=_FOLDER / "jobs.sqlite", scorers=["profanity", "sentiment"],
    rewrite_scorers=["profanity"], max_chars=200, max_texts=4, max_chat_tokens=8, rate_limit_per_minute=0,
    max_body_bytes=64_000, max_upload_bytes=64_000, require_key=True,
    # Schemathesis sends a bad key beside every case: this test checks the schema, not the failed-key limit
    # (tests/serve/test_serve_security.py does), so the limit is out of its way.
    auth_failures_per_minute=1_000_000, auth_failure_burst=1_000_000,
)
TOKEN = KeyStore(SETTINGS.keys_path).create("fuzz")[0]
# The schema does not need a model: create_app loads one only when the app starts.
schema = schemathesis.openapi.from_dict(create_app(SETTINGS).openapi())


@pytest.fixture(scope="module")
def live_url(tiny_rewriter, serve_live):
    with serve_live(create_app(SETTINGS, tiny_rewriter)) as url:
        yield url


# Rules JSON Schema cannot state (one original per text; an upload needs at least one row) make some
# schema-valid requests a 422, so "every valid request is accepted" is the one check left out.
EXCLUDED = [schemathesis.checks.positive_data_acceptance]


@schema.parametrize()
@settings(max_examples=20, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_api_matches_its_schema_and_never_fails(case, live_url):
    case.call_and_validate(base_url=live_url, headers={"Authorization": f"Bearer {TOKEN}"},
                          excluded_checks=EXCLUDED, timeout=60)
