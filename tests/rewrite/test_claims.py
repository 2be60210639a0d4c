"""A candidate that keeps a stereotype's claim without its group: found, ranked down, retried, never flagged."""

from dataclasses import dataclass

import pytest

from srllm.rewrite.claims import claim_kept, claim_words
from srllm.rewrite.guard import Guard, GuardConfig, best

SOURCE = "As a woman, Keiko will probably need extra help with the figures in the March audit."
CLAIM_KEPT = "Keiko will probably need extra help with the figures in the March audit."
NEUTRAL = "Keiko will present the figures in the March audit."
HEDGED = "Since she's a woman, Grace will probably get too emotional when she presents the Q3 results."


@dataclass
class Span:
    text: str
    label: str = "stereotype"


def test_claim_words_leave_out_names_numbers_function_words_hedges_and_toxic_spans() -> None:
    spans = [Span("As a woman, Keiko will probably need extra help with the figures"), Span("idiot", "toxic"),
             Span("in March")]  # a name-like word only: no claim
    assert claim_words(SOURCE, spans) == [["woman", "need", "extra", "help", "figures"]]


@pytest.mark.parametrize("candidate, share", [
    (CLAIM_KEPT, 4 / 5),
    ("I'm not sure Keiko will need extra help with the figures.", 4 / 5),  # a hedge keeps the claim
    ("Keiko needs help.", 2 / 5),
    (NEUTRAL, 0.0),  # one claim word ("figures") is the topic: under MIN_KEPT_WORDS
])
def test_claim_kept_is_the_share_of_one_claims_words_at_two_or_more(candidate: str, share: float) -> None:
    claims = claim_words(SOURCE, [Span("As a woman, Keiko will probably need extra help with the figures")])
    assert claim_kept(claims, candidate) == pytest.approx(share)


@pytest.fixture(scope="module")
def guard() -> Guard:
    return Guard(GuardConfig(candidates=3, edit_candidate=False)).load()


def test_the_guard_passes_a_kept_claim_but_marks_it_and_prefers_a_neutral_rewrite(guard: Guard) -> None:
    [judged] = guard.judged([SOURCE])
    assert any(span.label == "stereotype" for span in judged.spans)
    [[kept, neutral]] = guard.check([SOURCE], [[CLAIM_KEPT, NEUTRAL]], [judged.spans])
    # The judge reads the kept claim on its own: no group, no stereotype, so it passes every check ...
    assert kept.passed and neutral.passed, (kept.reasons, neutral.reasons)
    assert kept.claim >= 0.5 and not kept.settled
    assert neutral.claim == 0.0 and neutral.settled
    # ... and would win on meaning alone (it is closer to the input), but the neutral one is chosen.
    assert kept.scores["similarity"] > neutral.scores["similarity"]
    assert best([kept, neutral]) is neutral


def test_the_claim_check_can_be_turned_off(guard: Guard) -> None:
    off = Guard(GuardConfig(candidates=3, edit_candidate=False, max_claim_kept=None)).load()
    [judged] = guard.judged([SOURCE])
    [[kept]] = off.check([SOURCE], [[CLAIM_KEPT]], [judged.spans])
    assert kept.claim == 0.0 and kept.settled
    with pytest.raises(ValueError):
        GuardConfig(max_claim_kept=0)


@pytest.mark.slow
def test_the_default_model_keeps_looking_past_a_rewrite_that_keeps_the_claim() -> None:
    from srllm.models import DEFAULT_MODEL
    from srllm.models.pull import is_pulled
    from srllm.rewrite.guard import load_rewriter

    if not is_pulled(DEFAULT_MODEL):
        pytest.skip("default model not pulled (scripts/setup.sh pulls it)")
    judge = Guard(GuardConfig()).load()
    [judged] = judge.judged([SOURCE])
    claims = claim_words(SOURCE, judged.spans)
    # Measured: without the check the shipped default returns "Keiko will need extra help with the figures in
    # the March audit." as ok; with it, a passing sample that keeps less of the claim.
    [off] = load_rewriter(guard_config=GuardConfig(max_claim_kept=None)).rewrite([SOURCE])
    [on] = load_rewriter(guard_config=GuardConfig()).rewrite([SOURCE])
    assert off.status == "ok" and claim_kept(claims, off.rewrite) >= 0.5, off.rewrite
    assert on.status == "ok" and claim_kept(claims, on.rewrite) < 0.5, on.rewrite
    assert "Keiko" in on.rewrite and "March" in on.rewrite
    assert on.reasons == [] and off.reasons == []  # the check off: nothing is suspect, so no note


@pytest.mark.slow
def test_a_suspect_rewrite_returned_because_nothing_better_passed_says_so() -> None:
    from srllm.models import DEFAULT_MODEL
    from srllm.models.pull import is_pulled
    from srllm.rewrite.guard import CLAIM_NOTE, load_rewriter

    if not is_pulled(DEFAULT_MODEL):
        pytest.skip("default model not pulled (scripts/setup.sh pulls it)")
    # One candidate: the greedy rewrite keeps the claim and there is no retry to find a better one (measured).
    [result] = load_rewriter(guard_config=GuardConfig(candidates=1, max_claim_kept=0.5)).rewrite([HEDGED])
    assert result.status == "ok" and len(result.reasons) == 1 and result.reasons[0].startswith(CLAIM_NOTE)
