"""A marked template's model gets the text with its harmful spans marked: from the guard, without the guard,
and in its training data; the adapter's manifest decides which template an engine uses."""

import json
from pathlib import Path

import pytest

from srllm.models import LoadedModel, adapter_template
from srllm.rewrite import GenerationSettings, Rewriter
from srllm.rewrite.guard import Guard, GuardConfig, GuardedRewriter
from srllm.rewrite.marking import MarkedRewriter, harmful_spans, with_marks
from srllm.scorers.judge import load_judge
from srllm.train.data import Example, mark_examples

INSULT = "You useless idiot, the Hartley invoice was due on March 3."
BENIGN = "The library on Pine Street opens at 9 a.m. on weekdays."


class SpyRewriter(Rewriter):
    """The real tiny-model Rewriter, remembering the texts its model was given."""

    seen: list[str]

    def rewrite_stream(self, texts, *, batch_size=8):
        self.seen = [*getattr(self, "seen", []), *texts]
        yield from super().rewrite_stream(texts, batch_size=batch_size)


@pytest.fixture(scope="module")
def judge():
    return load_judge()


def _spy(tiny_loaded: LoadedModel, template: str) -> SpyRewriter:
    return SpyRewriter(tiny_loaded, template=template, settings=GenerationSettings(max_new_tokens=6))


def test_spans_are_the_judges_plus_the_lexicons_coded_words(judge) -> None:
    text = "We need a salesman who can out-hustle every rival; a rockstar closer."
    spans = harmful_spans(text, judge.judge([text])[0].spans)
    assert "salesman" in [text[s.start:s.end].lower() for s in spans]
    assert spans == sorted(spans, key=lambda s: s.start)


def test_the_guard_hands_a_marked_template_the_marked_text(tiny_loaded: LoadedModel) -> None:
    marked = _spy(tiny_loaded, "debias-marked")
    [result] = GuardedRewriter(marked, Guard(GuardConfig(candidates=1)).load()).rewrite([INSULT])
    assert result.text == INSULT and "[[" not in result.rewrite
    assert marked.seen and "[[" in marked.seen[0] and "idiot" in marked.seen[0].split("]]")[0]
    plain = _spy(tiny_loaded, "debias")
    GuardedRewriter(plain, Guard(GuardConfig(candidates=1)).load()).rewrite([INSULT])
    assert plain.seen == [INSULT]


def test_without_the_guard_a_marked_template_still_gets_marks(tiny_loaded: LoadedModel, judge) -> None:
    assert isinstance(with_marks(_spy(tiny_loaded, "debias-marked"), judge), MarkedRewriter)
    plain = _spy(tiny_loaded, "debias")
    assert with_marks(plain, judge) is plain
    engine = with_marks(_spy(tiny_loaded, "debias-marked"), judge)
    results = engine.rewrite([INSULT, BENIGN], batch_size=2)
    assert [r.text for r in results] == [INSULT, BENIGN]
    assert all("[[" not in r.rewrite for r in results)
    assert "[[" in engine.rewriter.seen[0] and engine.rewriter.seen[1] == BENIGN
    assert engine.prompt_version == "srllm-prompt-v1-marks"


def test_an_engine_takes_the_template_its_adapter_was_trained_with(tmp_path: Path) -> None:
    assert adapter_template(None) == "debias"
    assert adapter_template(tmp_path) == "debias"  # no manifest
    (tmp_path / "manifest.json").write_text(json.dumps({"prompt_template": "debias-marked"}))
    assert adapter_template(tmp_path) == "debias-marked"
    (tmp_path / "manifest.json").write_text(json.dumps({"prompt_template": "/somewhere/mine.json"}))
    assert adapter_template(tmp_path) == "debias"  # a file that may not exist here: the plain template


def test_training_inputs_are_marked_for_a_marked_template_only() -> None:
    examples = [Example("a", INSULT, "The Hartley invoice was due on March 3.", "x:1"),
                Example("b", BENIGN, BENIGN, "x:2"),
                Example("c", "See [[wiki]] for the Pine Street hours.", "Same.", "x:3")]
    marked = mark_examples(examples, "debias-marked", dropout=0.0, seed=0)
    assert "[[" in marked[0].text and marked[0].text.replace("[[", "").replace("]]", "") == INSULT
    assert marked[1].text == BENIGN
    assert "[[" not in marked[2].text  # the user's own brackets are not marks
    assert [e.response for e in marked] == [e.response for e in examples]
    assert mark_examples(examples, "debias", dropout=0.0, seed=0) == examples
    assert "[[" not in mark_examples(examples, "debias-marked", dropout=1.0, seed=0)[0].text


def test_the_screen_gives_spans_scores_and_the_benign_verdict_in_one_call() -> None:
    ad = "We need a salesman for our Leeds branch; apply by 3 May."
    insult, benign, job = Guard(GuardConfig()).load().screen([INSULT, BENIGN, ad])
    assert not insult.benign and any("idiot" in s.text for s in insult.spans)
    assert insult.harm == {"toxic": insult.scores["toxic"], "bias": insult.scores["bias"]}
    assert benign.benign and benign.spans == []
    assert not job.benign and "salesman" in [s.text for s in job.spans]  # the lexicon's word, not the judge's
