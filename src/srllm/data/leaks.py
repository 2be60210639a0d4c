"""Meta text an LLM annotator leaks into a rewrite ("Here is the rewritten text: ...").

The patterns come from the SR-LLM repository's own training CSV, whose rewrites include
'I suggest the following rephrased debiased output for the given input: "..."' and
'I have rephrased the statement to remove any bias ... The modified statement is as follows: "..."',
plus the usual chat-model preambles, trailing notes and refusals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_REWRITE_WORDS = (r"(?:rewritten|re-written|rephrased|revised|debiased|de-biased|modified|neutral|"
                  r"neutralized|unbiased|safer?|benign|paraphrased|edited|updated|improved|corrected|respectful|inclusive)")
_THING = r"(?:version|text|sentence|statement|output|rewrite|paraphrase|comment|response|passage)"

_PREFIXES = [
    # "Sure! Here is the rewritten text:" / "Here's a more neutral version of the sentence:"
    re.compile(rf"^(?:(?:sure|certainly|okay|ok|of course)[,!.]?\s*)?here(?:\s+is|'s|’s)\s+[^:\n]{{0,80}}?"
               rf"{_THING}[^:\n]{{0,80}}:\s*", re.I),
    # "I suggest the following rephrased debiased output for the given input:"
    re.compile(r"^I\s+(?:would\s+)?(?:suggest|propose|recommend|offer)\s+the\s+following\b[^:\n]{0,120}:\s*",
               re.I),
    # "I have rephrased the statement to remove any bias. The modified statement is as follows:"
    re.compile(rf"^I(?:\s+have|'ve)\s+(?:rephrased|rewritten|revised|modified|edited|debiased|paraphrased|"
               rf"made\s+(?:some\s+|a\s+few\s+)?(?:edits|changes))\b[^.:\n]{{0,160}}[.:]\s*(?:(?:the|my)\s+{_REWRITE_WORDS}\s+{_THING}\s+is(?:\s+as\s+follows)?"
               rf"\s*:\s*)?", re.I),
    # "Rewritten text:" / "The debiased version is as follows:" / "Output:"
    re.compile(rf"^(?:the\s+)?(?:{_REWRITE_WORDS}\s+)+{_THING}(?:\s+is)?(?:\s+as\s+follows)?\s*:\s*", re.I),
    re.compile(r"^(?:output|rewrite|answer|response|benign(?: version)?|safe variation)\s*:\s*", re.I),
]

_SUFFIXES = [
    # A trailing explanation after a blank line or a newline: "Note: ...", "Explanation: ..."
    re.compile(r"\s*\n+\s*\(?\s*(?:note|explanation|changes made|changes|rationale|reasoning)\s*:.*\Z",
               re.I | re.S),
    # "(Note: I removed the insult.)" / "(I replaced 'x' with 'y')" at the very end
    re.compile(r"\s*\((?:note\s*:|i\s+(?:have\s+)?(?:removed|replaced|changed|rephrased|rewrote))[^()]*\)\s*\Z",
               re.I),
    # "This rewritten version removes the stereotype ..." as its own final paragraph or line
    re.compile(rf"\s*\n+\s*(?:this|the|my)\s+(?:{_REWRITE_WORDS}\s+)?{_THING}\s+(?:removes|avoids|keeps|"
               rf"maintains|retains|eliminates|preserves|is\s+more)\b[^\n]*\Z", re.I),
]

# Answers that are not rewrites at all; reported, never repaired (nothing to keep).
_REFUSALS = [
    re.compile(r"^(?:I'm|I am|I’m)\s+sorry,?\s+but\s+I\s+(?:can(?:not|'t|’t)|am\s+unable|won't)", re.I),
    re.compile(r"\bas an AI(?: language model)?\b", re.I),
    re.compile(r"^I\s+(?:can(?:not|'t|’t)|am\s+unable\s+to|won't)\s+(?:rewrite|rephrase|help|assist|comply)",
               re.I),
]

_QUOTES = {'"': '"', "“": "”", "'": "'", "«": "»"}


@dataclass(frozen=True)
class Leak:
    kind: str  # "prefix", "suffix" or "refusal"
    text: str  # the leaked part as it appears


def _peel(body: str, original: str | None) -> tuple[str, list[Leak]]:
    """Remove leaked preambles and notes, repeatedly: a preamble often wraps a quoted, second one."""
    leaks: list[Leak] = []

    def in_original(found: str) -> bool:
        # "Note: the office closes at 5" in the original is content, and so is its rewrite.
        return original is not None and found.strip().lower()[:24] in original.lower()

    for _ in range(3):
        before = body
        for pattern in _PREFIXES:
            match = pattern.match(body)
            if match and match.end() < len(body) and not in_original(match.group(0)):
                leaks.append(Leak("prefix", match.group(0).strip()))
                body = body[match.end():]
                break
        for pattern in _SUFFIXES:
            match = pattern.search(body)
            if match and match.start() > 0 and not in_original(match.group(0)):
                leaks.append(Leak("suffix", match.group(0).strip()))
                body = body[:match.start()]
                break
        body = unwrap_quotes(body, original)
        if body == before:
            break
    return body, leaks


def find_leaks(rewrite: str, original: str | None = None) -> list[Leak]:
    """The meta text found in a rewrite: preambles, trailing notes, refusals."""
    body = rewrite.strip()
    if any(p.search(body) for p in _REFUSALS):
        return [Leak("refusal", body[:80])]
    return _peel(body, original)[1]


def unwrap_quotes(text: str, original: str | None = None) -> str:
    """Drop one pair of quotes around the whole text, unless the original itself is quoted that way."""
    body = text.strip()
    if len(body) < 2 or body[0] not in _QUOTES or body[-1] != _QUOTES[body[0]]:
        return body
    if original is not None and original.strip()[:1] == body[0]:
        return body
    inner = body[1:-1]
    # A quote inside means the outer marks may belong to separate quotations ("A" he said "B").
    if body[0] in inner or _QUOTES[body[0]] in inner:
        return body
    return inner.strip()


def strip_meta(rewrite: str, original: str | None = None) -> str:
    """The rewrite without leaked preambles, trailing notes and wrapping quotes; refusals unchanged."""
    body = rewrite.strip()
    if any(p.search(body) for p in _REFUSALS):
        return body
    return _peel(body, original)[0]
