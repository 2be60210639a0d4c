"""Clean a model response: chat artifacts, our data markers and meta text are not the rewrite."""

from __future__ import annotations

import re

_CHAT_TOKENS = re.compile(r"<\|im_(start|end)\|>|<\|endoftext\|>|</?s>|<\|eot_id\|>|<\|end_of_text\|>")
_MARKERS = re.compile(r"</?\s*text\s*>", re.IGNORECASE)
# Lead-ins small models put before the answer ("Here is the rewritten text:", "Sure! ...").
_META_PREFIX = re.compile(
    r"^\s*(?:(?:sure|certainly|of course|okay|ok)\b[,.!]?\s*)?"
    r"(?:(?:here\s+(?:is|are)|below\s+is|this\s+is)\s+(?:the|a|an|my|your)?\s*"
    r"(?:[\w-]+\s+){0,4}?(?:text|version|rewrite|rephrasing|sentence|statement|posting|output)\b[^:\n]*:\s*"
    r"|(?:rewritten|revised|debiased|safe|neutral|rephrased)\s+(?:text|version|sentence|output|posting)\s*:\s*"
    r"|(?:assistant|answer|output|rewrite)\s*:\s*)",
    re.IGNORECASE,
)
_ROLE_LINE = re.compile(r"^\s*(assistant|system|user)\s*\n", re.IGNORECASE)
# Trailing commentary after the rewrite ("Note: I removed ...", "This version avoids ...").
_META_SUFFIX = re.compile(
    r"\n+\s*(?:note|explanation|changes?|i (?:have )?(?:removed|replaced|changed|rephrased)"
    r"|this (?:rewritten|revised|new|neutral) (?:text|version|sentence))\b.*$",
    re.IGNORECASE | re.DOTALL,
)
# A short first line that announces the answer ("Rewrite the text to:", "Debiased version:").
_LEAD_LINE = re.compile(
    r"^[^\n]{0,80}(?:rewrit|rephras|revis|version|debias|neutral|here)[^\n]{0,80}:\s*\n", re.IGNORECASE
)
_QUOTES = {('"', '"'), ("“", "”"), ("'", "'")}


def clean_response(response: str) -> str:
    """The rewrite alone, without chat markup, data markers, lead-ins or trailing notes."""
    text = _CHAT_TOKENS.split(response, maxsplit=1)[0] if _CHAT_TOKENS.search(response) else response
    text = _ROLE_LINE.sub("", text)
    text = _MARKERS.sub("", text)
    stripped = _LEAD_LINE.sub("", text.lstrip(), count=1)
    if stripped.strip():
        text = stripped
    for _ in range(2):  # "Sure! Here is the rewritten text:" has two lead-ins
        text = _META_PREFIX.sub("", text, count=1)
    text = _META_SUFFIX.sub("", text).strip()
    if len(text) >= 2 and (text[0], text[-1]) in _QUOTES and text.count(text[0]) == 2:
        text = text[1:-1].strip()
    return text
