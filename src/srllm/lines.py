"""Reading JSON Lines (and one-text-per-line files) the same way everywhere.

Lines are split on "\\n" only. `str.splitlines()` also breaks at U+2028, U+2029, U+0085, \\v, \\f and
\\x1c-\\x1e; JSON allows those raw inside a string, and `json.dumps(ensure_ascii=False)` (our partial
and output files) writes them raw, so splitlines() cut valid rows in two. A "\\r" before the "\\n"
(CRLF files) is dropped.

A line's JSON may nest at most MAX_JSON_DEPTH levels: `json.loads` raises RecursionError on very deep
input, and whatever parses must still be written again (partial file, job store, CSV cells) without
recursing as deep.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any

from srllm.errors import InputError

MAX_JSON_DEPTH = 100


class JsonTooDeepError(ValueError):
    """JSON nested deeper than MAX_JSON_DEPTH; the message is a sentence for the user."""

    def __init__(self) -> None:
        super().__init__(f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep; flatten it")


def decode_utf8(data: bytes, path: str) -> str:
    """A file's bytes as text (a UTF-8 byte-order mark is dropped); any other encoding is an error that
    names the line and the first bad byte, and says how to convert it."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError("is UTF-16 (it starts with a UTF-16 byte-order mark), not UTF-8; convert it, e.g. "
                         "`iconv -f utf-16 -t utf-8`", path=path, line=1)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"is not UTF-8 (byte 0x{data[exc.start]:02x}); convert it, e.g. "
                         "`iconv -f latin1 -t utf-8`", path=path, line=line) from exc


# A surrogate code point in a Python str is always unpaired (JSON's "\\ud83d\\ude00" pairs decode to one
# character): it is not text, cannot be written as UTF-8 and makes the tokenizer raise.
_SURROGATE = re.compile("[\ud800-\udfff]")


def not_text(value: str) -> str | None:
    """Why `value` cannot be text for a model or an output file (a NUL, an unpaired surrogate), or None."""
    if "\x00" in value:  # a NUL would go into the prompt and every output file
        return "contains a NUL character (\\x00); remove it (e.g. `tr -d '\\000'`)"
    if found := _SURROGATE.search(value):
        return (f"contains an unpaired UTF-16 surrogate (\\u{ord(found.group()):04x}), which is not a character; "
                "fix the text's encoding")
    return None


def split_lines(text: str) -> list[str]:
    """The lines of `text`, split on "\\n" only; a final "\\n" does not start another line."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line number as an editor counts it, line) pairs."""
    return enumerate(split_lines(text), start=1)


def loads_bounded(raw: str) -> Any:
    """`json.loads`, raising JsonTooDeepError (never RecursionError) for too deeply nested JSON;
    json.JSONDecodeError as usual for malformed JSON."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JsonTooDeepError() from None
    return _within_depth(value)


_DECODER = json.JSONDecoder()


def raw_decode_bounded(text: str, pos: int) -> tuple[Any, int]:
    """The JSON value that starts at `pos` and the index just after it (`JSONDecoder.raw_decode`),
    bounded like `loads_bounded`: for reading a JSON array item by item."""
    try:
        value, end = _DECODER.raw_decode(text, pos)
    except RecursionError:
        raise JsonTooDeepError() from None
    return _within_depth(value), end


def _within_depth(value: Any) -> Any:
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise JsonTooDeepError()
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Iterative, so checking depth cannot itself overflow the stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False
