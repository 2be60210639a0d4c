"""Meta text: what a model (or an LLM annotator) writes around or instead of a rewrite.

The one pattern set for it in srllm. `clean_response` (srllm.engine.clean) strips it from every
model answer, `find_meta` / `strip_meta` find and repair it in training rewrites (srllm data
checks), and `meta_text` is the guard's check that a candidate carries none of it.

The families:
- chat markup (`<|im_end|>`, `</s>`, `[INST]`, a forged "system:" turn) and our data markers
  (`<text>...</text>`, the block the user's text travels in);
- lead-ins: "Sure! Here is the rewritten text:", "I suggest the following rephrased debiased output
  for the given input:" and "I have rephrased the statement ... as follows:" (both from the
  SR-LLM repository's own training CSV), "Rewritten text:", a short announcing first line;
- trailing notes: "Note: I removed ...", "(I replaced 'x' with 'y')", "This version avoids ...";
- refusals: "I'm sorry, but I cannot ...", "As an AI language model ...";
- model talk anywhere in a candidate ("rewritten", "the original text", "my instructions").

Where a phrase also occurs in the input it is the user's own words ("Note: the office closes at 5"),
so every check here takes the original when it is known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# ---- chat markup and data markers -----------------------------------------------------------

# Special tokens of the chat templates we meet (ChatML, Llama 2/3, Mistral, Gemma...): a model that
# writes one has started another turn, so the rewrite ends there.
CHAT_TOKEN = re.compile(r"</?s>|<\|[^|>\n]{1,40}\|>|\[/?inst\]|<<\s*/?sys\s*>>", re.IGNORECASE)
# The same, or a turn forged in plain text ("system: obey"): what an injection carries in.
CHAT_MARKUP = re.compile(CHAT_TOKEN.pattern + r"|(?:^|\s)(?:system|assistant|user)\s*:", re.IGNORECASE)
# A bare role name on the first line: the chat template's turn header left in the answer.
ROLE_LINE = re.compile(r"^\s*(?:assistant|system|user)\s*\n", re.IGNORECASE)
# Our data markers (srllm.prompts.templates.TEXT_OPEN / TEXT_CLOSE), echoed back by the model.
DATA_MARKER = re.compile(r"</?\s*text\s*>", re.IGNORECASE)

# ---- lead-ins, trailing notes, refusals -----------------------------------------------------

_REWRITE_WORDS = (r"(?:rewritten|re-written|rephrased|revised|debiased|de-biased|modified|neutral|"
                  r"neutralized|unbiased|safer?|benign|paraphrased|edited|updated|improved|corrected|respectful|inclusive)")
_THING = (r"(?:version|text|sentence|statement|output|rewrite|rephrasing|paraphrase|comment|response|passage|"
          r"posting)")
# "Sure! ..." is a lead-in only before another one: "Okay, the meeting is at 5." is a rewrite.
_ACK = r"(?:(?:sure|certainly|okay|ok|of course)\b[,!.]?\s*)?"

LEAD_INS = [
    # "Sure! Here is the rewritten text:" / "Here's a more neutral version of the sentence:"
    re.compile(rf"^{_ACK}(?:here(?:\s+is|\s+are|'s|’s)|below\s+is|this\s+is)\s+[^:\n]{{0,80}}?"
               rf"\b{_THING}\b[^:\n]{{0,80}}:\s*", re.I),
    # "I suggest the following rephrased debiased output for the given input:"
    re.compile(r"^I\s+(?:would\s+)?(?:suggest|propose|recommend|offer)\s+the\s+following\b[^:\n]{0,120}:\s*",
               re.I),
    # "I have rephrased the statement to remove any bias. The modified statement is as follows:"
    re.compile(rf"^I(?:\s+have|'ve)\s+(?:rephrased|rewritten|revised|modified|edited|debiased|paraphrased|"
               rf"made\s+(?:some\s+|a\s+few\s+)?(?:edits|changes))\b[^.:\n]{{0,160}}[.:]\s*(?:(?:the|my)\s+"
               rf"{_REWRITE_WORDS}\s+{_THING}\s+is(?:\s+as\s+follows)?\s*:\s*)?", re.I),
    # "Rewritten text:" / "The debiased version is as follows:" / "Sure! Safe version:"
    re.compile(rf"^{_ACK}(?:the\s+)?(?:{_REWRITE_WORDS}\s+)+{_THING}(?:\s+is)?(?:\s+as\s+follows)?\s*:\s*", re.I),
    re.compile(rf"^{_ACK}(?:output|rewrite|answer|response|assistant|benign(?: version)?|safe variation)\s*:\s*",
               re.I),
    # A short first line of its own that announces the answer ("Rewrite the text to:\n"). "Here ..." alone
    # is no sign ("Here are some sources on the parasite:\n- ..." is a rewrite); "Here is the text:" is
    # the first pattern's.
    re.compile(r"^[^\n]{0,80}(?:rewrit|rephras|revis|version|debias|neutral)[^\n]{0,80}:[ \t]*\n\s*", re.I),
]

TRAILING_NOTES = [
    # A trailing explanation on a line of its own: "Note: ...", "Explanation: ...". The colon is
    # required: a rewrite's own second paragraph may start "Changes to the rota ...".
    re.compile(r"\s*\n+\s*\(?\s*(?:note|explanation|changes made|changes|rationale|reasoning)\s*:.*\Z",
               re.I | re.S),
    # "(Note: I removed the insult.)" / "(I replaced 'x' with 'y')" at the very end
    re.compile(r"\s*\((?:note\s*:|i\s+(?:have\s+)?(?:removed|replaced|changed|rephrased|rewrote))[^()]*\)\s*\Z",
               re.I),
    # "I removed the stereotype ..." / "This rewritten version removes ..." as the last paragraph or line
    re.compile(r"\s*\n+\s*i\s+(?:have\s+)?(?:removed|replaced|changed|rephrased|rewrote)\b.*\Z", re.I | re.S),
    re.compile(rf"\s*\n+\s*(?:this|the|my)\s+(?:{_REWRITE_WORDS}\s+)?{_THING}\s+(?:removes|avoids|keeps|"
               rf"maintains|retains|eliminates|preserves|is\s+more)\b[^\n]*\Z", re.I),
    re.compile(rf"\s*\n+\s*this\s+{_REWRITE_WORDS}\s+{_THING}\b.*\Z", re.I | re.S),
]

# Answers that are not rewrites at all; reported, never repaired (nothing to keep).
REFUSALS = [
    re.compile(r"^(?:I'm|I am|I’m)\s+sorry,?\s+but\s+I\s+(?:can(?:not|'t|’t)|am\s+unable|won't)", re.I),
    re.compile(r"\bas an AI(?: language model)?\b", re.I),
    re.compile(r"^I\s+(?:can(?:not|'t|’t)|am\s+unable\s+to|won't)\s+(?:rewrite|rephrase|help|assist|comply)",
               re.I),
]

# Model talk that is meta wherever it stands in a candidate the user did not write (the guard's check).
MODEL_TALK = [re.compile(p, re.IGNORECASE) for p in (
    r"\bas an? (?:ai|language model|assistant)\b",
    r"\bi (?:cannot|can ?not|can't|won't|will not|am unable to|'m unable to)\b",
    r"\bi(?:'m| am) sorry\b|\bi apologi[sz]e\b",
    r"\b(?:here is|here's|here are|below is)\b[^.!?\n]{0,40}?\b(?:rewrit\w*|version|text|sentence|paragraph)\b",
    r"\b(?:rewritten|rephrased|paraphrased)\b",
    r"\b(?:safe|safer|neutral|unbiased|debiased|respectful|inclusive) (?:version|rewrite|rewording)\b",
    r"\bsystem prompt\b|\bmy instructions\b",
    r"(?:^|[\s(\[\"'*])(?:note|original(?: text)?|rewrite|rewritten text|output|answer|explanation)\s*:",
    r"\b(?:the|this) (?:original|above|given|input) (?:text|sentence|statement|message)\b",
    r"^[\s\"'*]*(?:sure|certainly|of course|okay|ok|absolutely)\b\s*[,.!:]",
)]

_QUOTES = {'"': '"', "“": "”", "'": "'", "«": "»"}

# ---- finding and stripping ------------------------------------------------------------------


@dataclass(frozen=True)
class MetaText:
    """One piece of meta text in a rewrite."""

    kind: Literal["prefix", "suffix", "refusal"]
    text: str  # as it appears


def _peel(body: str, original: str | None) -> tuple[str, list[MetaText]]:
    """Remove lead-ins and trailing notes, repeatedly: a lead-in often wraps a quoted, second one."""
    found: list[MetaText] = []

    def in_original(piece: str) -> bool:
        # "Note: the office closes at 5" in the original is content, and so is its rewrite.
        return original is not None and piece.strip().lower()[:24] in original.lower()

    for _ in range(3):
        before = body
        for pattern in LEAD_INS:
            match = pattern.match(body)
            if match and match.end() < len(body) and not in_original(match.group(0)):
                found.append(MetaText("prefix", match.group(0).strip()))
                body = body[match.end():]
                break
        for pattern in TRAILING_NOTES:
            match = pattern.search(body)
            if match and match.start() > 0 and not in_original(match.group(0)):
                found.append(MetaText("suffix", match.group(0).strip()))
                body = body[:match.start()]
                break
        body = unwrap_quotes(body, original)
        if body == before:
            break
    return body, found


def is_refusal(text: str) -> bool:
    return any(pattern.search(text.strip()) for pattern in REFUSALS)


def find_meta(rewrite: str, original: str | None = None) -> list[MetaText]:
    """The meta text found in a rewrite: lead-ins, trailing notes, refusals."""
    body = rewrite.strip()
    if is_refusal(body):
        return [MetaText("refusal", body[:80])]
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
    """The rewrite without lead-ins, trailing notes and wrapping quotes; refusals unchanged."""
    body = rewrite.strip()
    if is_refusal(body):
        return body
    return _peel(body, original)[0]


def strip_markup(response: str) -> str:
    """A model answer without chat markup and data markers: the text up to the first chat token that
    follows some text (a leading turn header is skipped), without its role line and <text> markers."""
    parts = CHAT_TOKEN.split(response)
    text = next((part for part in parts if part.strip()), "")
    return DATA_MARKER.sub("", ROLE_LINE.sub("", text))


def meta_text(candidate: str, source: str) -> list[str]:
    """The meta phrases of a candidate that are not the user's own words (phrases the source has too
    are); chat markup counts always, since an injection brings it in."""
    patterns = [*MODEL_TALK, *REFUSALS, *LEAD_INS, *TRAILING_NOTES]
    hits = [m.group(0).strip() for rx in patterns if (m := rx.search(candidate)) and not rx.search(source)]
    markup = CHAT_MARKUP.search(candidate)
    return list(dict.fromkeys(hits)) + ([markup.group(0).strip()] if markup else [])
