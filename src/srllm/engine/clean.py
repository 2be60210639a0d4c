"""Clean a model response: chat artifacts, our data markers and meta text are not the rewrite."""

from __future__ import annotations

from srllm.text.meta import strip_markup, strip_meta


def clean_response(response: str) -> str:
    """The rewrite alone, without chat markup, data markers, lead-ins, trailing notes or wrapping quotes
    (the patterns: srllm.text.meta)."""
    return strip_meta(strip_markup(response))
