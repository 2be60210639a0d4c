"""The shared prompt-head KV cache must change speed only, never the rewrite."""

from __future__ import annotations

from srllm.engine.prefix_cache import common_prefix_length, layout
from srllm.models import LoadedModel
from srllm.rewrite import GenerationSettings, Rewriter

TEXTS = [
    "Women are too emotional to lead the team.",
    "Old people like Mr. Chen, 78, cannot use phones and never will, says the memo from Ohio.",
    "Your report is garbage.",
]


def test_common_prefix_and_layout() -> None:
    rows = [[1, 2, 3, 4], [1, 2, 5], [1, 2, 3, 9, 9, 9]]
    assert common_prefix_length(rows) == 2
    ids, mask = layout(rows, 2, pad_id=0)
    assert ids == [[1, 2, 0, 0, 3, 4], [1, 2, 0, 0, 0, 5], [1, 2, 3, 9, 9, 9]]
    assert mask == [[1, 1, 0, 0, 1, 1], [1, 1, 0, 0, 0, 1], [1, 1, 1, 1, 1, 1]]


def test_cached_head_gives_the_same_greedy_rewrites(tiny_loaded: LoadedModel) -> None:
    # The generate() path (continuous batching off), with and without the cached head.
    cached = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=8, continuous=False))
    plain = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=8, prefix_cache=False))
    # The head is the system prompt + instruction: most of the prompt, shared by every text.
    head = cached.head_length()
    assert head > 0.6 * len(cached._prompt_ids(TEXTS[0]))
    with_cache = cached.rewrite(TEXTS, batch_size=3)
    assert cached._prefix is not None and cached._prefix._key is not None  # the cache was used
    without = plain.rewrite(TEXTS, batch_size=3)
    assert [r.rewrite for r in with_cache] == [r.rewrite for r in without]
    assert [r.prompt_tokens for r in with_cache] == [r.prompt_tokens for r in without]
    # Batch size 1 (no padding) takes the same path and agrees too.
    assert [r.rewrite for r in cached.rewrite(TEXTS, batch_size=1)] == [r.rewrite for r in without]


def test_cached_head_with_several_sampled_candidates(tiny_loaded: LoadedModel) -> None:
    for continuous in (False, True):
        settings = GenerationSettings(max_new_tokens=6, do_sample=True, num_return_sequences=3,
                                      continuous=continuous)
        out = Rewriter(tiny_loaded, settings=settings).generate(TEXTS, batch_size=2)
        assert [len(g.candidates) for g in out] == [3, 3, 3]
        assert all(g.generated_tokens > 0 for g in out)
