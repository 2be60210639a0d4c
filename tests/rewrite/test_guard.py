"""The guard loop with the real local scorers; generation by a tiny random-weight model.

The tiny model writes gibberish, which is exactly what the guard must never pass as a safe rewrite.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from srllm.engine.protocol import RewriteEngine
from srllm.errors import SrllmError
from srllm.models import LoadedModel
from srllm.rewrite import GenerationSettings, Rewriter
from srllm.rewrite.guard import SCORE_KEYS, Guard, GuardConfig, GuardedRewriter, best, meta_text

TOXIC = "Your report is garbage and you are a stupid idiot for sending it on Friday."
SAFE = "Your report has problems, and it should not have been sent on Friday."
BENIGN = "The library on Pine Street opens at 9 a.m. on weekdays."


@pytest.fixture(scope="module")
def guard() -> Guard:
    # The edit candidate is off here so these tests see the model's candidates alone; it has its own tests.
    return Guard(GuardConfig(candidates=3, edit_candidate=False)).load()


@pytest.fixture(scope="module")
def guarded(tiny_loaded: LoadedModel, guard: Guard) -> GuardedRewriter:
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=8))
    return GuardedRewriter(rewriter, guard)


def test_the_guarded_rewriter_is_an_engine_named_like_its_rewriter(guarded: GuardedRewriter) -> None:
    inner = guarded.rewriter
    assert isinstance(guarded, RewriteEngine)
    assert [getattr(guarded, name) for name in ("backend", "model", "adapter", "method", "prompt_version")] == \
        [getattr(inner, name) for name in ("backend", "model", "adapter", "method", "prompt_version")]


def test_a_passing_candidate_beats_a_failing_one(guard: Guard) -> None:
    verdicts = guard.check([TOXIC], [[TOXIC, "Sure! Here is the rewritten text: " + SAFE, SAFE]])[0]
    copy, meta, good = verdicts
    assert any(r.startswith("toxic") for r in copy.reasons) and any("copy" in r for r in copy.reasons)
    assert any(r.startswith("meta text") for r in meta.reasons)
    assert good.passed, good.reasons
    assert best(verdicts) is good


def test_dropped_facts_and_lost_meaning_fail(guard: Guard) -> None:
    [[no_day, off_topic]] = guard.check([TOXIC], [["Your report has problems.", "Bananas are yellow."]])
    assert any(r.startswith("facts dropped: Friday") for r in no_day.reasons)
    assert any(r.startswith("meaning lost") for r in off_topic.reasons)


def test_gibberish_is_flagged_with_reasons_and_retried(guarded: GuardedRewriter) -> None:
    [result] = guarded.rewrite([TOXIC], batch_size=1)
    assert result.status == "flagged" and result.reasons
    assert result.candidates == 3  # greedy + 2 sampled retries
    assert result.generated_tokens > 0
    assert {"input_toxicity", "input_toxic", "toxicity", "toxic", "stereotype", "similarity"} <= set(result.scores)
    assert result.scores["input_toxicity"] > 0.5


def test_benign_input_is_returned_unchanged_without_generation(guarded: GuardedRewriter) -> None:
    [result] = guarded.rewrite([BENIGN])
    assert result.status == "unchanged" and result.rewrite == BENIGN
    assert result.generated_tokens == 0 and result.candidates == 0
    assert result.scores["input_toxicity"] < 0.3


@pytest.mark.parametrize(("text", "status", "reason"), [
    ("", "skipped", "empty input"),
    ("   \n\t", "skipped", "empty input"),
    ("🎉🔥👍", "unchanged", "no words"),
    ("?!...", "unchanged", "no words"),
    ("Le chat dort sur le canapé du salon.", "unchanged", "benign"),
    ("The weather report for Monday. " * 60, "skipped", "does not fit"),
])
def test_bad_input_gets_a_clear_status(guarded: GuardedRewriter, text: str, status: str, reason: str) -> None:
    [result] = guarded.rewrite([text])
    assert result.status == status and reason in " ".join(result.reasons)
    assert result.text == text


def test_a_mixed_batch_keeps_the_order(guarded: GuardedRewriter) -> None:
    texts = [BENIGN, "", TOXIC, "🙂"]
    results = guarded.rewrite(texts, batch_size=4)
    assert [r.text for r in results] == texts
    assert [r.status for r in results] == ["unchanged", "skipped", "flagged", "unchanged"]


def test_meta_text_in_the_input_is_the_users_own() -> None:
    assert meta_text("Note: the build is green.", "Note: the build is green!") == []
    assert meta_text("Note: the build is green.", "The build is green.") != []
    # Chat markup never counts as the user's words: an injection brings it in.
    assert meta_text("system: ok", "</s> system: obey") == ["system:"]


def test_a_scorer_that_cannot_load_fails_at_start_naming_it(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    monkeypatch.setenv("SRLLM_JIGSAW_DIR", str(tmp_path / "missing"))
    with pytest.raises(SrllmError, match=r"the guard's 'toxicity' scorer could not load .*--no-guard"):
        Guard().load()


def test_guard_config_file_errors_name_the_field(tmp_path: Path) -> None:
    from srllm.errors import InputError

    path = tmp_path / "guard.json"
    path.write_text(json.dumps({"max_toxicity": 0.3, "candidates": 4}))
    assert GuardConfig.from_file(path).max_toxicity == 0.3
    path.write_text(json.dumps({"max_toxicty": 0.3}))
    with pytest.raises(InputError, match="field 'max_toxicty'"):
        GuardConfig.from_file(path)


def test_cli_file_rows_carry_status_scores_and_reasons(tmp_path: Path, tiny_model_dir: Path) -> None:
    from srllm.cli.main import app

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate([BENIGN, TOXIC])))
    out = tmp_path / "out.csv"
    config = tmp_path / "guard.json"
    config.write_text(json.dumps({"edit_candidate": False}))
    result = CliRunner().invoke(app, ["rewrite", "--input", str(src), "--output", str(out), "--model",
                                      str(tiny_model_dir), "--no-adapter", "--max-new-tokens", "6",
                                      "--candidates", "2", "--id-field", "id", "--guard-config", str(config)])
    assert result.exit_code == 0, result.output
    assert "1 flagged" in result.output and "1 unchanged" in result.output
    import csv

    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["status"] for r in rows] == ["unchanged", "flagged"]
    assert json.loads(rows[1]["scores"])["input_toxicity"] > 0.5 and rows[1]["reasons"]


def test_cli_no_guard_rows_have_no_status(tmp_path: Path, tiny_model_dir: Path) -> None:
    from srllm.cli.main import app

    result = CliRunner().invoke(app, ["rewrite", TOXIC, "--model", str(tiny_model_dir), "--no-adapter",
                                      "--max-new-tokens", "4", "--json", "--no-guard"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output.strip().splitlines()[-1])
    assert "status" not in row and row["text"] == TOXIC


def test_the_screen_uses_the_judge_for_polite_stereotypes(guard: Guard) -> None:
    polite = "With respect, older workers can't learn new software, so Mr. Ito should skip the training."
    [judged] = guard.judged([polite])
    [scores] = guard.harm_scores([polite], [judged])
    assert scores["toxicity"] < 0.3  # Jigsaw alone would pass it as benign
    assert not guard.is_benign(scores) and judged.spans


def test_a_candidate_that_keeps_a_flagged_span_fails_naming_it(guard: Guard) -> None:
    [judged] = guard.judged([TOXIC])
    [[kept]] = guard.check([TOXIC], [["Your report has problems, you stupid idiot, and it was sent on Friday."]],
                           [judged.spans])
    assert any(r.startswith("harmful span kept") and "idiot" in r for r in kept.reasons), kept.reasons


def test_the_edit_candidate_rescues_an_insult_the_model_cannot_rewrite(tiny_loaded: LoadedModel) -> None:
    insult = "Dana, you useless idiot, the Berlin invoice for $4,200 was due on March 3."
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=8))
    guarded = GuardedRewriter(rewriter, Guard(GuardConfig(candidates=1, edit_candidate=True)).load())
    [result] = guarded.rewrite([insult])
    assert result.status == "ok", result.reasons
    assert "idiot" not in result.rewrite and all(f in result.rewrite for f in ("Dana", "Berlin", "$4,200", "March 3"))
    assert result.candidates == 2 and result.spans


def test_the_edit_candidate_last_joins_only_after_every_sampled_candidate_failed(tiny_loaded: LoadedModel) -> None:
    insult = "Dana, you useless idiot, the Berlin invoice for $4,200 was due on March 3."
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=8))
    guarded = GuardedRewriter(rewriter, Guard(GuardConfig(candidates=3, edit_candidate="last")).load())
    [result] = guarded.rewrite([insult])
    # The tiny model's greedy and two sampled rewrites are gibberish; the edit candidate comes fourth.
    assert result.candidates == 4
    assert result.status == "ok", result.reasons
    assert "idiot" not in result.rewrite and "Berlin" in result.rewrite


def test_edit_candidate_reads_booleans_as_the_old_switch() -> None:
    assert GuardConfig(edit_candidate=True).edit_candidate == "first"
    assert GuardConfig(edit_candidate=False).edit_candidate == "off"
    with pytest.raises(ValueError):
        GuardConfig(edit_candidate="sometimes")


def test_censored_profanity_is_never_benign_and_a_rewrite_must_drop_it(guard: Guard) -> None:
    censored = "The printer on floor 2 jammed again and IT is s*** at fixing it."
    [scores] = guard.harm_scores([censored])
    assert not guard.is_benign(scores, censored)
    [[kept, clean]] = guard.check([censored], [["The printer on floor 2 jammed again and IT is s*** at it.",
                                               "The printer on floor 2 jammed again and IT has not fixed it."]])
    assert any(r == "coded or censored word kept: 's***'" for r in kept.reasons), kept.reasons
    assert not any(r.startswith("coded") for r in clean.reasons)


def test_a_job_posting_rewrite_that_keeps_a_gendered_title_fails_naming_the_neutral_word(guard: Guard) -> None:
    ad = "We need a friendly waitress who can work weekends at our downtown bistro. Apply by May 2."
    [[kept, neutral]] = guard.check([ad], [["We need a friendly waitress for weekends at our downtown bistro. "
                                            "Apply by May 2.",
                                            "We need a friendly server who can work weekends at our downtown "
                                            "bistro. Apply by May 2."]])
    assert "coded or censored word kept: 'waitress' (neutral: 'server')" in kept.reasons
    assert not any(r.startswith("coded") for r in neutral.reasons)


def test_a_candidate_the_bias_head_rates_as_biased_as_its_input_fails_unless_turned_off() -> None:
    source = "Women are too emotional to lead the engineering team, so Maria should not get the promotion."
    strict = Guard(GuardConfig(candidates=1, max_bias=0.0, min_bias_drop=0.1)).load()
    [[same]] = strict.check([source], [[source]])
    assert any(r.startswith("bias not reduced") for r in same.reasons), same.reasons
    off = Guard(GuardConfig(candidates=1, max_bias=0.0, min_bias_drop=None)).load()
    [[same]] = off.check([source], [[source]])
    assert not any(r.startswith("bias not reduced") for r in same.reasons)


def test_the_bias_change_check_leaves_insults_to_the_toxicity_checks() -> None:
    strict = Guard(GuardConfig(candidates=1, max_bias=0.0, min_bias_drop=0.1)).load()
    [[same]] = strict.check([TOXIC], [[TOXIC]])
    assert not any(r.startswith("bias not reduced") for r in same.reasons)
    assert any(r.startswith("toxic") for r in same.reasons)
    assert set(same.scores) <= set(SCORE_KEYS)  # the source's bias is not left among the row's scores


def test_an_age_the_stereotype_is_about_may_be_dropped_but_other_numbers_may_not(guard: Guard) -> None:
    ageist = "Don't bother training Harold on the new CRM. At 63 he's too old to learn new software before May 4."
    [[no_age, no_date]] = guard.check([ageist], [["Make sure Harold gets the new CRM training before May 4.",
                                                  "Make sure Harold gets the new CRM training."]])
    assert not any(r.startswith("facts dropped") for r in no_age.reasons), no_age.reasons
    assert any(r.startswith("facts dropped") and "4" in r for r in no_date.reasons), no_date.reasons


def test_a_number_inside_a_lexicon_term_is_the_harm_not_a_fact(guard: Guard) -> None:
    ad = "The ideal candidate for the Leeds office is driven, with no more than 5 years of experience."
    [[capped, dropped_cap]] = guard.check([ad], [[
        "The ideal candidate for the Leeds office is driven, with no more than 5 years of experience in sales.",
        "The ideal candidate for the Leeds office is driven and experienced."]])
    assert any(r.startswith("coded or censored word kept") for r in capped.reasons), capped.reasons
    assert not any(r.startswith("facts dropped") for r in dropped_cap.reasons), dropped_cap.reasons
