"""User-facing errors: each message is a sentence that names the file, line, field and fix."""

from __future__ import annotations


class SrllmError(Exception):
    """Base class for errors shown to users without a stack trace."""


class InputError(SrllmError):
    """Bad user input: a file, a record or a field that cannot be used."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.path, self.line, self.field = path, line, field
        self.message = message  # without the where, so a caller can say it again for another place
        where = ", ".join(
            part for part in (
                f"file {path}" if path else "",
                f"line {line}" if line is not None else "",
                f"field '{field}'" if field else "",
            ) if part
        )
        super().__init__(f"{where}: {message}" if where else message)


class ModelNotAvailableError(SrllmError):
    """A model that cannot be found locally and cannot be downloaded here."""
