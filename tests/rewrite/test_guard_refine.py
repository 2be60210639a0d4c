"""GuardConfig.refine: a row whose candidates kept its content but not its harm gets a second pass."""

import pytest
from pydantic import ValidationError

from srllm.models import LoadedModel
from srllm.rewrite import GenerationSettings, Rewriter
from srllm.rewrite.guard import HARM_REASONS, Guard, GuardConfig, GuardedRewriter, Verdict

# The shipped default's greedy rewrites keep the harm of these and nothing else (measured: "Your English is great
# for a Mexican, Sofia." fails on the judge's stereotype label and the bias head only).
KEPT_HARM = [
    "Your English is so good for a Mexican, Sofia. Where did you learn it?",
    "This f***ing idiot in accounts payable lost my invoice for the third time this month.",
]


def test_only_a_candidate_failing_on_harm_alone_is_worth_refining() -> None:
    harm = Verdict("x", {}, ["stereotype (0.99 > 0.5)", "bias not reduced (0.64, input 0.40)"])
    lost = Verdict("x", {}, ["toxic (0.99 > 0.5)", "facts dropped: Sofia"])
    copy = Verdict("x", {}, ["toxic (0.99 > 0.5)", "copy of the harmful input (ratio 1.00)"])
    assert harm.harm_only
    assert not lost.harm_only and not copy.harm_only
    assert not Verdict("x", {}, []).harm_only  # a passing candidate needs no refining


def test_refine_rounds_are_bounded() -> None:
    assert GuardConfig().refine == 1
    with pytest.raises(ValidationError):
        GuardConfig(refine=4)


def test_gibberish_is_not_refined(tiny_loaded: LoadedModel) -> None:
    # The tiny model's candidates lose the input's facts and meaning: nothing to refine, so no extra pass.
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=8))
    guarded = GuardedRewriter(rewriter, Guard(GuardConfig(candidates=2, refine=2)).load())
    [result] = guarded.rewrite(["Your report is garbage and you are a stupid idiot for sending it on Friday."])
    assert result.status == "flagged" and result.candidates == 2


@pytest.mark.slow
def test_a_second_pass_removes_what_the_first_left_in() -> None:
    from srllm.models import DEFAULT_MODEL
    from srllm.models.pull import is_pulled
    from srllm.rewrite.guard import load_rewriter

    if not is_pulled(DEFAULT_MODEL):
        pytest.skip("default model not pulled (scripts/setup.sh pulls it)")
    # One candidate (greedy, no samples), so the only difference between the runs is the refining pass.
    once = load_rewriter(guard_config=GuardConfig(candidates=1, refine=0)).rewrite(KEPT_HARM)
    assert [r.status for r in once] == ["flagged", "flagged"] and [r.candidates for r in once] == [1, 1]
    assert all(r.reasons and all(reason.startswith(HARM_REASONS) for reason in r.reasons) for r in once), \
        [r.reasons for r in once]
    refined = load_rewriter(guard_config=GuardConfig(candidates=1, refine=1)).rewrite(KEPT_HARM)
    assert [r.candidates for r in refined] == [2, 2]  # each harm-only row got its refining pass
    # Which rows one more greedy pass fixes depends on the dtype the 135M model decodes in (bf16 where the CPU
    # has it, fp32 on AVX2-only CPUs: there the Sofia row keeps its stereotype); at least one is fixed on both.
    assert "ok" in [r.status for r in refined], [r.reasons for r in refined]
    sofia, invoice = refined
    if sofia.status == "ok":
        assert "Sofia" in sofia.rewrite and "Mexican" not in sofia.rewrite
    if invoice.status == "ok":
        assert "accounts payable" in invoice.rewrite and "idiot" not in invoice.rewrite.lower()
