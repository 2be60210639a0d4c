"""The service's logger, with control characters escaped in every message it writes.

Log lines quote client-controlled text (the request path, ids, error messages): a raw "\\n" or "\\r"
in it would start a forged log line, and terminal escapes would rewrite what an operator sees. Every
C0 and C1 control, DEL, U+2028 and U+2029 becomes a visible escape, so one event is one line.
"""

from __future__ import annotations

import logging
import re

LOGGER_NAME = "srllm.serve"
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    return _CONTROLS.sub(lambda match: _escape(match.group()), text)


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class EscapeControls(logging.Filter):
    """Formats the message once and stores the escaped text (tracebacks, added later by the
    formatter, keep their own lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        safe = escape_controls(message)
        if safe != message:
            record.msg, record.args = safe, ()
        return True


def service_log() -> logging.Logger:
    """The "srllm.serve" logger with EscapeControls installed once (it covers every module using it)."""
    log = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(f, EscapeControls) for f in log.filters):
        log.addFilter(EscapeControls())
    return log
