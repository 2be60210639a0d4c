"""Rewriting only the harmful sentences (GuardConfig.per_sentence): the pure parts, then the guard loop with the
real local scorers and a tiny random-weight model (whose own rewrites are gibberish the guard must flag)."""

import pytest

from srllm.models import LoadedModel
from srllm.rewrite import GenerationSettings, Rewriter
from srllm.rewrite.guard import Guard, GuardConfig, GuardedResult, GuardedRewriter
from srllm.rewrite.sentences import Split, assemble, overlaps, sentence_bounds, worth_splitting
from srllm.scorers.judge import Span

BENIGN_FIRST = "The Berlin office closes at 6 p.m. on Fridays."
INSULT = "Dana, you useless idiot, the invoice for $4,200 was due on March 3."


def _result(text: str, rewrite: str, status: str, reasons: list[str] | None = None) -> GuardedResult:
    return GuardedResult(text=text, rewrite=rewrite, model="m", adapter=None, method="zero-shot",
                         prompt_version="v", status=status, reasons=reasons or [],
                         scores={"similarity": 0.9 if status == "ok" else 0.4, "toxic": 0.1, "facts_missing": 0.0},
                         candidates=2, prompt_tokens=10, generated_tokens=5)


def test_sentences_are_found_with_their_offsets_and_an_abbreviation_ends_none() -> None:
    text = "Mr. Stein called.  He was rude!\nCall back at 5."
    assert [text[s:e].strip() for s, e in sentence_bounds(text)] == ["Mr. Stein called.", "He was rude!",
                                                                      "Call back at 5."]


@pytest.mark.parametrize(("harmful", "split"), [([True, False], True), ([False, True, False], True),
                                                ([True, True], False), ([False, False], False), ([True], False)])
def test_only_a_mix_of_harmful_and_benign_sentences_is_split(harmful: list[bool], split: bool) -> None:
    assert worth_splitting(harmful) is split


def test_a_sentence_holding_a_span_of_the_whole_text_counts_as_harmful() -> None:
    text = "Dads just aren't wired for caregiving. Put the mother's number first on the form."
    [first, second] = sentence_bounds(text)
    span = Span(start=text.index("Put"), end=text.index("number"), label="stereotype", text="Put the mother's",
                score=0.9)
    assert overlaps([span], second) and not overlaps([span], first)
    assert not overlaps([], second)


def test_the_benign_sentences_come_back_word_for_word_with_the_inputs_spacing() -> None:
    text = "First fact stays.  You are an idiot!\nLast fact stays."
    split = Split(text, sentence_bounds(text), [False, True, False])
    assert split.pending == [1] and not split.done
    split.results[1] = _result("You are an idiot!", "  That was unkind. ", "ok")
    rewrite, failed, reasons, scores, counts = assemble(split)
    assert rewrite == "First fact stays.  That was unkind.\nLast fact stays."
    assert not failed and reasons == [] and counts == {"candidates": 2, "prompt_tokens": 10, "generated_tokens": 5}


def test_a_failed_sentence_fails_the_row_naming_it_and_the_worst_scores_speak() -> None:
    text = "A is fine. B is bad. C is fine. D is bad."
    split = Split(text, sentence_bounds(text), [False, True, False, True])
    split.results[1] = _result("B is bad.", "B is okay.", "ok")
    split.results[3] = _result("D is bad.", "xx", "flagged", ["meaning lost"])
    rewrite, failed, reasons, scores, _ = assemble(split)
    assert rewrite == "A is fine. B is okay. C is fine. xx"
    assert failed and reasons == ["sentence 4: meaning lost"]
    assert scores["similarity"] == 0.4 and scores["facts_missing"] == 0.0


def test_the_guard_rewrites_only_the_harmful_sentence(tiny_loaded: LoadedModel) -> None:
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=8))
    config = GuardConfig(candidates=1, edit_candidate="first", per_sentence=True)
    [result] = GuardedRewriter(rewriter, Guard(config).load()).rewrite([f"{BENIGN_FIRST} {INSULT}"])
    whole = GuardConfig(candidates=1, edit_candidate="first", per_sentence=False)
    [whole_result] = GuardedRewriter(rewriter, Guard(whole).load()).rewrite([f"{BENIGN_FIRST} {INSULT}"])
    assert 0 < result.prompt_tokens < whole_result.prompt_tokens  # the model saw the insult's sentence only
    # The first sentence is benign: kept as written, never given to the model. The insult is rewritten on
    # its own (here by the edit candidate, since the tiny model writes gibberish).
    assert result.status == "ok", result.reasons
    assert result.rewrite.startswith(BENIGN_FIRST + " ")
    assert "idiot" not in result.rewrite and all(f in result.rewrite for f in ("Dana", "$4,200", "March 3"))
    assert result.text == f"{BENIGN_FIRST} {INSULT}" and result.spans  # the row keeps the whole input's spans


def test_a_sentence_the_model_fails_flags_the_row_and_says_which(tiny_loaded: LoadedModel) -> None:
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=8))
    guarded = GuardedRewriter(rewriter, Guard(GuardConfig(candidates=1, edit_candidate="off",
                                                          per_sentence=True)).load())
    [split, whole] = guarded.rewrite([f"{BENIGN_FIRST} {INSULT}", INSULT])
    assert split.status == "flagged" and split.rewrite.startswith(BENIGN_FIRST)
    assert split.reasons and all(reason.startswith("sentence 2: ") for reason in split.reasons)
    assert whole.status == "flagged" and not any(r.startswith("sentence") for r in whole.reasons)
