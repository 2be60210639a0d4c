"""The real default model, end to end (a few seconds of generation on CPU)."""

import pytest

from srllm.models import DEFAULT_MODEL, default_adapter_for
from srllm.models.pull import is_pulled
from srllm.rewrite import Rewriter

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rewriter() -> Rewriter:
    if not is_pulled(DEFAULT_MODEL):
        pytest.skip("default model not pulled (scripts/setup.sh pulls it)")
    return Rewriter.load()


def test_default_model_rewrites_two_sentences(rewriter: Rewriter) -> None:
    texts = ["Women are too emotional to lead engineering teams like Maria's.", "I enjoy painting on Sundays."]
    results = rewriter.rewrite(texts, batch_size=2)
    assert [r.text for r in results] == texts
    assert all(r.rewrite.strip() for r in results)
    assert all("<|im_" not in r.rewrite and "<text>" not in r.rewrite for r in results)
    assert results[0].model == DEFAULT_MODEL
    expected_adapter = default_adapter_for(DEFAULT_MODEL)
    assert (results[0].adapter is not None) == (expected_adapter is not None)
