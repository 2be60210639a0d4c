"""Split JSON Lines and one-text-per-line files into lines: on "\\n" only, everywhere we read them.

`str.splitlines()` also breaks at U+2028, U+2029, U+0085, \\v, \\f and \\x1c-\\x1e. JSON allows those
raw inside a string, and `json.dumps(ensure_ascii=False)` (our partial and output files) writes
them raw, so splitlines() cut valid rows in two. A "\\r" before the "\\n" (CRLF files) is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator


def split_lines(text: str) -> list[str]:
    """The lines of `text`, split on "\\n" only; a final "\\n" does not start another line."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line number as an editor counts it, line) pairs."""
    return enumerate(split_lines(text), start=1)
