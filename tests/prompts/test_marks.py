"""Span marks: the harmful stretches of a text shown to a marked template's model, and taken out of its answer."""

from typing import NamedTuple

import pytest

from srllm.prompts import build_messages, get_template
from srllm.prompts.marks import mark_spans, neutralise_marks, unmark
from srllm.rewrite.marking import mark_text


class Span(NamedTuple):
    start: int
    end: int


TEXT = "Hey losers, your team got crushed 6-0, you spineless wimps."


def _span(text: str, words: str) -> Span:
    start = text.index(words)
    return Span(start, start + len(words))


def test_each_span_is_marked_and_overlapping_ones_merge() -> None:
    spans = [_span(TEXT, "Hey losers"), _span(TEXT, "spineless wimps"), _span(TEXT, "wimps")]
    assert mark_text(TEXT, spans) == "[[Hey losers]], your team got crushed 6-0, you [[spineless wimps]]."


def test_the_users_own_brackets_never_mark_or_close_a_mark() -> None:
    text = "See [[wiki]] and ]] this"
    assert mark_spans(text, []) == neutralise_marks(text) == "See [ [wiki] ] and ] ] this"
    marked = mark_spans(text, [_span(text, "wiki")])
    assert marked.count("[[") == 1 and marked.count("]]") == 1 and "[[wiki] ]]]" not in marked


@pytest.mark.parametrize(("answer", "clean"), [
    ("Your team got crushed 6-0.", "Your team got crushed 6-0."),
    ("The [[lazy]] crew left.", "The lazy crew left."),
    ("[[Hey]] team, well played.", "Hey team, well played."),
    ("The crew [[left]].", "The crew left."),
])
def test_marks_a_model_copies_are_taken_out_of_its_answer(answer: str, clean: str) -> None:
    assert unmark(answer) == clean


def test_the_marked_template_explains_the_marks_and_the_plain_one_does_not() -> None:
    marked, plain = get_template("debias-marked"), get_template("debias")
    assert marked.marks and not plain.marks
    assert "[[" in marked.system and "[[" not in plain.system
    assert marked.version != plain.version  # runs and rewrites record which one they used
    assert build_messages("[[idiot]] Sam", template=marked)[-1]["content"].endswith("<text>[[idiot]] Sam</text>")
