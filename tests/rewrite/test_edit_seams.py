"""The edit candidate's seam check: a cut that leaves text the default model cannot read is not offered.

Runs on the real default model (SmolLM2-135M, pulled by scripts/setup.sh): the check is only as good as
the probabilities that model gives, so a tiny random model would test nothing."""

import pytest

from srllm.rewrite.edit import edit_candidate, rough_seams
from srllm.rewrite.guard import Guard, GuardConfig
from srllm.scorers.judge import Span
from srllm.scorers.perplexity import CausalLMPerplexity


@pytest.fixture(scope="module")
def lm(default_tokenizer_dir) -> CausalLMPerplexity:  # noqa: ANN001 - skips without the pulled model
    model = CausalLMPerplexity(model_name="smollm2-135m-instruct")
    model.load()
    return model


def _span(text: str, words: str, label: str = "stereotype") -> Span:
    start = text.index(words)
    return Span(start, start + len(words), label, words, 1.0)


def test_a_cut_that_leaves_a_broken_phrase_has_a_rough_seam(lm: CausalLMPerplexity) -> None:
    source = "The person we hire for the job will be a genius. They will report to the VP of Operations."
    broken = "The for the job will be a. They will report to the VP of Operations."  # two words cut
    seams = rough_seams(source, broken, lm)
    assert any(seam.startswith("The|") or seam.startswith(" a|") for seam in seams), seams
    assert rough_seams(source, "The person we hire for the job will report to the VP of Operations.", lm) == []


def test_removing_a_vocative_insult_leaves_no_rough_seam(lm: CausalLMPerplexity) -> None:
    source = "Sam, you useless idiot, the invoice for $4,200 was due on March 3."
    edited = edit_candidate(source, [_span(source, "you useless idiot", "toxic")])
    assert edited == "Sam, the invoice for $4,200 was due on March 3."
    assert rough_seams(source, edited, lm) == []
    # The source itself has no seams: every token pair is its own.
    assert rough_seams(source, source, lm, max_nll=0.0) == []


def test_the_guard_offers_no_edit_candidate_with_a_rough_seam(default_tokenizer_dir) -> None:  # noqa: ANN001
    source = "Looking for a coding ninja with an instinct who thrives under pressure and backs himself."
    spans = [_span(source, "ninja"), _span(source, "under"), _span(source, "himself")]
    checked = Guard(GuardConfig(edit_candidate="last")).load(warm_up=False)
    unchecked = Guard(GuardConfig(edit_candidate="last", edit_max_seam_nll=None)).load(warm_up=False)
    assert unchecked.edit(source, spans)  # word-level cuts always give some text ...
    assert checked.edit(source, spans) == ""  # ... which does not read ("thrives pressure")
