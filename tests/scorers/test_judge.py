"""The judge: mechanics on a tiny random-weight judge built from a config, behaviour on the shipped one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from srllm.rewrite.edit import edit_candidate
from srllm.scorers.judge import JUDGE_DIR, Span, build_model, load_judge, text_status
from srllm.train.judge import fit_temperature, screen_threshold

SHIPPED = (JUDGE_DIR / "judge.json").is_file()
needs_shipped = pytest.mark.skipif(not SHIPPED, reason="no shipped judge in src/srllm/assets/judge")


@pytest.fixture(scope="module")
def tiny_judge_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer, BertConfig

    from srllm.scorers.embeddings import embedder_path

    folder = tmp_path_factory.mktemp("tiny-judge")
    tokenizer = AutoTokenizer.from_pretrained(embedder_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    model = build_model(AutoModel.from_config(config))
    save_file({k: v.half().contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "judge.json").write_text(json.dumps({"max_length": 24, "temperatures": [1.0, 1.0], "threshold": 0.5,
                                                   "span_threshold": 0.0}))
    return folder


def test_statuses_for_text_the_judge_does_not_score() -> None:
    assert text_status("   ") == "empty"
    assert text_status("🙂🙂 !!") == "no_words"
    assert text_status("Эти люди никогда не работают нормально") == "not_english"
    assert text_status("Ces gens ne travaillent jamais correctement chez nous") == "not_english"
    assert text_status("These people never work properly here.") is None


def test_tiny_judge_spans_are_offsets_into_the_text(tiny_judge_dir: Path) -> None:
    judge = load_judge(tiny_judge_dir)
    text = "Sam, you absolute clown, the invoice was due on Friday."
    [result] = judge.judge([text])
    assert result.status == "ok" and 0 <= result.toxic <= 1 and 0 <= result.stereotype <= 1
    assert result.spans, "span_threshold 0 tags every token"
    for span in result.spans:
        assert text[span.start:span.end] == span.text and span.label in ("toxic", "stereotype")


def test_long_text_is_split_and_scored_by_its_maximum(tiny_judge_dir: Path) -> None:
    judge = load_judge(tiny_judge_dir)
    sentence = "The delivery to Leeds arrived on Tuesday morning. "
    long_text = sentence * 12
    [result] = judge.judge([long_text])
    assert result.status == "split"
    parts = judge._split(long_text)
    assert len(parts) > 1 and all(long_text[o:o + len(p)] == p for o, p in parts)
    singles = judge.judge([p for _, p in parts])
    assert result.toxic == pytest.approx(max(s.toxic for s in singles), abs=1e-4)
    for span in result.spans:
        assert long_text[span.start:span.end] == span.text


def test_empty_and_foreign_text_get_statuses_not_scores(tiny_judge_dir: Path) -> None:
    judge = load_judge(tiny_judge_dir)
    empty, emoji, foreign = judge.judge(["", "🔥🔥", "这些人从来不好好工作"])
    assert (empty.status, emoji.status, foreign.status) == ("empty", "no_words", "not_english")
    assert empty.toxic is None and foreign.harm is None


def test_calibration_is_monotone_and_the_screen_keeps_its_recall() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 2000)
    labels = (rng.random(2000) < 1 / (1 + np.exp(-true_logits))).astype(float)
    logits = 4 * true_logits  # a model four times overconfident
    t = fit_temperature(logits, labels)
    assert 3.0 < t < 5.0
    probs = 1 / (1 + np.exp(-np.sort(logits) / t))
    assert np.all(np.diff(probs) >= 0)
    harm = 1 / (1 + np.exp(-logits / t))
    threshold = screen_threshold(harm, labels, 0.95)
    assert (harm[labels == 1] > threshold).mean() >= 0.95


def test_edit_candidate_removes_the_span_and_tidies_up() -> None:
    text = "Sam, you useless idiot, the invoice for $4,200 was due on March 3."
    start = text.index("you useless idiot")
    edited = edit_candidate(text, [Span(start, start + len("you useless idiot"), "toxic", "", 1.0)])
    assert edited == "Sam, the invoice for $4,200 was due on March 3."
    job = "We need a salesman for Ohio."
    at = job.index("salesman")
    assert edit_candidate(job, [Span(at, at + 8, "stereotype", "", 1.0)]) == "We need a salesperson for Ohio."
    assert edit_candidate("Idiot.", [Span(0, 5, "toxic", "", 1.0)]) == ""


def test_edit_candidate_removes_the_whole_clause_of_a_multi_word_span() -> None:
    text = "Keep Priscilla off the budget; people with bipolar disorder are too unpredictable, says HR."
    start = text.index("bipolar disorder are too")
    span = Span(start, start + len("bipolar disorder are too"), "stereotype", "", 1.0)
    # Word-level cuts left "people with unpredictable"; the clause goes, its neighbours stay.
    assert edit_candidate(text, [span]) == "Keep Priscilla off the budget, says HR."
    only = "Male nurses are failed doctors, so patients ask for someone else."
    assert edit_candidate(only, [Span(0, 30, "stereotype", "", 1.0)]) == "Patients ask for someone else."


def test_edit_candidate_drops_the_connective_a_leading_clause_leaves() -> None:
    text = "Women are too emotional to lead the team, so give Maria's promotion to Mark."
    clause = "Women are too emotional to lead the team"
    assert edit_candidate(text, [Span(0, len(clause), "stereotype", "", 1.0)]) == "Give Maria's promotion to Mark."


@needs_shipped
def test_shipped_judge_separates_harm_from_identity_mentions() -> None:
    judge = load_judge()
    harmful = ["You are a pathetic moron and everyone at the office laughs at you.",
               "Women are too emotional to manage a budget, so don't give Clara the finance role.",
               "Old people can't learn new software, so skip training for Mr. Ito."]
    benign = ["The mosque on Cedar Road hosts a food bank every Saturday.",
              "Our new colleague uses a wheelchair and starts on Monday in the Leeds office.",
              "I have friends who are gay men and trans women.",
              "The quarterly report is due on Friday at noon."]
    harm = [r.harm for r in judge.judge(harmful)]
    safe = [r.harm for r in judge.judge(benign)]
    assert min(harm) > judge.threshold, harm
    assert max(safe) < min(harm), (safe, harm)
    [insult] = judge.judge(["Listen, you worthless idiot, the shipment to Porto is late again."])
    assert any("idiot" in s.text for s in insult.spans), insult.spans
    assert not any("Porto" in s.text for s in insult.spans)


def test_shipped_judge_marks_backhanded_praise_and_threats_but_not_their_plain_versions() -> None:
    judge = load_judge()
    backhanded, plain = judge.judge(["Ms. Oduya presented the budget remarkably clearly for an immigrant.",
                                     "Ms. Oduya presented the budget remarkably clearly."])
    assert backhanded.harm > judge.threshold > plain.harm, (backhanded.harm, plain.harm)
    assert [s.text for s in backhanded.spans] == ["for an immigrant"]
    threat, plain = judge.judge(["If Dmitri takes my parking space one more time, I will smash his windscreen.",
                                 "Dmitri smashed the quarterly sales record."])
    assert threat.toxic > 10 * max(plain.toxic, 0.01), (threat.toxic, plain.toxic)
    assert any("smash his windscreen" in s.text for s in threat.spans), threat.spans
