"""The edit candidate: the input with the judge's harmful spans removed or replaced by neutral words.

Deterministic and cheap, it joins the model's candidates in the guard and is ranked like them. It
rescues what a small model gets wrong most often: an insult or a stereotype clause kept verbatim.
A span that is a gendered or coded job word ("salesman", "rockstar") is replaced from our word list;
any other span is deleted, and the punctuation and connectives it leaves behind are cleaned up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from srllm.text.lexicon import neutral_form

# Words the judge may flag that are not in the lexicon's job lists (srllm.text.lexicon, which has the
# gendered titles and age-coded wording): coded traits, and pronouns inside a flagged span.
NEUTRAL_WORDS = {
    "native english speaker": "fluent in English", "aggressive": "driven", "dominate": "grow",
    "he": "they", "his": "their", "him": "them", "she": "they", "her": "their",
}
_DANGLING = [
    (re.compile(r"\s+([,.;:!?])"), r"\1"),
    (re.compile(r"([,;:])\s*(?=[.!?]|$)"), ""),
    (re.compile(r"([.!?])\s*[,;:]+"), r"\1"),
    (re.compile(r"[,;:]\s*([,;:])"), r"\1"),  # "budget;, says" where a clause between the two marks went
    (re.compile(r"(?<![.])([.!?])\s*\.(?![.])"), r"\1"),  # "hung up.." left by a deleted last sentence
    (re.compile(r"\b(?:so|and|but|because|since|as|which|that|of course)\s*([.!?]|$)", re.IGNORECASE), r"\1"),
    (re.compile(r"(^|[.!?]\s+)(?:so|and|but|because)\s*,?\s+", re.IGNORECASE), r"\1"),
    (re.compile(r"(^|[.!?]\s+)[,;:.]+\s*"), r"\1"),
    (re.compile(r"\s{2,}"), " "),
]


def _replacement(span_text: str) -> str | None:
    key = span_text.lower().strip()
    return NEUTRAL_WORDS[key] if key in NEUTRAL_WORDS else neutral_form(key)


_ARTICLE = re.compile(r"\b([Aa])(n?)(\s+)$")


def _fix_article(head: str, tail: str) -> str:
    """'an assertive analyst' minus 'assertive' is 'a analyst' -> 'an analyst' (by the next word's letter)."""
    found = _ARTICLE.search(head)
    following = re.match(r"\s*(\w+)", tail)
    if not found or not following:
        return head
    article = found.group(1) + ("n" if following.group(1)[0].lower() in "aeiou" else "")
    return head[:found.start()] + article + found.group(3)


def _capitalise_sentences(text: str) -> str:
    # Not after an abbreviation's dots ("5 p.m. deadline", "e.g. a"): those end no sentence.
    return re.sub(r"(^|(?<!\b\w\.\w)[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


def _tidy(text: str) -> str:
    """Apply the clean-ups until nothing changes: one can expose another (", so give ..." loses its comma,
    then the leading "so")."""
    for _ in range(4):
        before = text
        for pattern, repl in _DANGLING:
            text = pattern.sub(repl, text)
        if text == before:
            break
    return text


# A stereotype span of this many words or more is a claim, not a word: its whole clause goes.
CLAUSE_WORDS = 3
_CLAUSE_END = re.compile(r"[,;:.!?\n]")


@dataclass(frozen=True)
class Cut:
    """A stretch of the input to leave out (what `edit_candidate` takes beside the judge's spans)."""

    start: int
    end: int


def merged_cuts(spans: Sequence[Any]) -> list[Cut]:
    """Spans (anything with start/end) merged where they overlap, in order."""
    merged: list[Cut] = []
    for span in sorted(spans, key=lambda s: s.start):
        if merged and span.start <= merged[-1].end:
            merged[-1] = Cut(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(Cut(span.start, span.end))
    return merged


def _clause(text: str, span: Any) -> Cut:
    """The clause around a span: from after the previous clause mark to the next one (which stays)."""
    before = [m.end() for m in _CLAUSE_END.finditer(text, 0, span.start)]
    after = _CLAUSE_END.search(text, span.end)
    return Cut(before[-1] if before else 0, after.start() if after else len(text))


def _cuts(text: str, spans: Sequence[Any]) -> list[Cut]:
    """The spans to remove: a stereotype span of CLAUSE_WORDS or more widened to its clause, so what is left
    reads as text (word-level cuts left "Brandon, on Ward 7 ask for someone else." of a stereotype);
    insults and single words stay word-level, the ParaDetox "delete" baseline ("Sam, you idiot, the
    invoice ..." keeps its sentence; a lone "salesman" is replaced). Overlapping cuts are merged."""
    widened: list[Any] = []
    for span in spans:
        claim = getattr(span, "label", "") == "stereotype" and len(text[span.start:span.end].split()) >= CLAUSE_WORDS
        widened.append(_clause(text, span) if claim else span)
    return merged_cuts(widened)


def edit_candidate(text: str, spans: Sequence[Any]) -> str:
    """`text` with each span (objects with start/end) replaced or removed, tidied; '' when nothing is left."""
    out = text
    for span in sorted(_cuts(text, spans), key=lambda s: s.start, reverse=True):
        piece = out[span.start:span.end]
        replacement = _replacement(piece)
        if replacement is not None and replacement and piece[:1].isupper():
            replacement = replacement[:1].upper() + replacement[1:]
        head, tail = out[:span.start], (replacement or "") + out[span.end:]
        out = _fix_article(head, tail) + tail
    out = _tidy(out)
    out = _capitalise_sentences(out.strip())
    if out and text.rstrip()[-1:] in ".!?" and out[-1:] not in ".!?":
        out += text.rstrip()[-1]
    return out if re.search(r"\w", out) else ""


def rough_seams(source: str, edited: str, lm: Any, max_nll: float = 8.0, skip: int = 2) -> list[str]:
    """Where the edit left text that does not read: token pairs of `edited` that `source` never has (the
    seams the cuts made), whose second token the reference LM (`CausalLMPerplexity`) finds less likely
    than exp(-max_nll) (8 nats: about 1 in 3,000) after what precedes it. "The for the job will be a."
    ("The| for") and "who thrives pressure" ("thrives| pressure") have one; "Sam, the invoice ..." none.
    The first `skip` tokens are not judged: a text's opening token is improbable whatever it is."""
    tokenizer = lm.tokenizer
    ids = tokenizer(source)["input_ids"]
    seen = set(zip(ids, ids[1:], strict=False))
    return [tokenizer.decode([before]) + "|" + tokenizer.decode([token])
            for position, (before, token, nll) in enumerate(lm.token_nll(edited), start=1)
            if position >= skip and (before, token) not in seen and nll > max_nll]
