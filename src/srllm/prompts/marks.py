"""Span marks: the judge's harmful spans shown to the model inside the text, `[[like this]]`.

A 135M rewriter copies stereotype clauses because nothing tells it which words are the harm. The guard's
screen already knows (the judge's spans and the lexicon's coded words), so a template with `marks` gets
the text with those stretches between MARK_OPEN and MARK_CLOSE, and the adapter trained on marked
inputs learns to remove or neutralise what is marked (tagged rewriting, as in mask-and-infill detox).
Both marks are single tokens of the default tokenizer. Brackets the user typed are split apart first, so
a text cannot mark (or unmark) its own words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

MARK_OPEN = "[["
MARK_CLOSE = "]]"
_USER_MARKS = re.compile(r"\[\[|\]\]")
_MODEL_MARKS = re.compile(r"\s*\[\[\s*|\s*\]\]\s*")


def neutralise_marks(text: str) -> str:
    """The user's own "[[" / "]]" as "[ [" / "] ]": never a mark."""
    return _USER_MARKS.sub(lambda m: m.group(0)[0] + " " + m.group(0)[1], text)


def mark_spans(text: str, spans: Sequence[Any]) -> str:
    """`text` with each span (anything with start/end offsets into it, in order and not overlapping: the
    caller merges them, `rewrite.marking.mark_text`) between marks."""
    out, at = [], 0
    for span in spans:
        if span.end <= span.start:
            continue
        out += [neutralise_marks(text[at:span.start]), MARK_OPEN, neutralise_marks(text[span.start:span.end]),
                MARK_CLOSE]
        at = span.end
    out.append(neutralise_marks(text[at:]))
    return "".join(out)


def unmark(text: str) -> str:
    """A model's answer without any marks it copied ("the [[lazy]] crew" -> "the lazy crew"), so the guard
    judges the words, not the brackets."""
    if MARK_OPEN not in text and MARK_CLOSE not in text:
        return text
    def space(m: re.Match[str]) -> str:
        edge = m.start() == 0 or m.end() == len(text)
        return "" if edge or not any(c.isspace() for c in m.group(0)) else " "
    return _MODEL_MARKS.sub(space, text).strip()
