"""The edit candidate: the input with the judge's harmful spans removed or replaced by neutral words.

Deterministic and cheap, it joins the model's candidates in the guard and is ranked like them. It
rescues what a small model gets wrong most often: an insult or a stereotype clause kept verbatim.
A span that is a gendered or coded job word ("salesman", "rockstar") is replaced from our word list;
any other span is deleted, and the punctuation and connectives it leaves behind are cleaned up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from srllm.text.lexicon import neutral_form

# Words the judge may flag that are not in the lexicon's job lists (srllm.text.lexicon, which has the
# gendered titles and age-coded wording): coded traits, and pronouns inside a flagged span.
NEUTRAL_WORDS = {
    "rockstar": "skilled", "ninja": "expert", "guru": "expert",
    "native english speaker": "fluent in English", "aggressive": "driven", "dominate": "grow",
    "he": "they", "his": "their", "him": "them", "she": "they", "her": "their",
}
_DANGLING = [
    (re.compile(r"\s+([,.;:!?])"), r"\1"),
    (re.compile(r"([,;:])\s*(?=[.!?]|$)"), ""),
    (re.compile(r"([.!?])\s*[,;:]+"), r"\1"),
    (re.compile(r",\s*,+"), ","),
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
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


def edit_candidate(text: str, spans: Sequence[Any]) -> str:
    """`text` with each span (objects with start/end) replaced or removed, tidied; '' when nothing is left."""
    out = text
    for span in sorted(spans, key=lambda s: s.start, reverse=True):
        piece = out[span.start:span.end]
        replacement = _replacement(piece)
        if replacement is not None and replacement and piece[:1].isupper():
            replacement = replacement[:1].upper() + replacement[1:]
        head, tail = out[:span.start], (replacement or "") + out[span.end:]
        out = _fix_article(head, tail) + tail
    for pattern, repl in _DANGLING:
        out = pattern.sub(repl, out)
    out = _capitalise_sentences(out.strip())
    if out and text.rstrip()[-1:] in ".!?" and out[-1:] not in ".!?":
        out += text.rstrip()[-1]
    return out if re.search(r"\w", out) else ""
