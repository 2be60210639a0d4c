"""The CMD record: one unsafe text, its labels and its safe variation (SR-LLM paper, Section 2.1)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

# Allowed label values, spelled as in the paper's annotation guideline (Appendix A).
LABEL_VALUES: dict[str, tuple[str, ...]] = {
    "bias": ("Yes", "No"),
    "toxicity": ("No", "Mild", "High"),
    "sentiment": ("Positive", "Neutral", "Negative"),
    "harm": ("Low", "Medium", "High"),
}
LABEL_NAMES: tuple[str, ...] = tuple(LABEL_VALUES)

# Unambiguous spellings of an allowed value seen in imports; anything else is reported, never guessed
# (e.g. toxicity "Medium" could be Mild or High, so it is an error, not a silent mapping).
_LABEL_ALIASES: dict[str, dict[str, str]] = {
    "bias": {"true": "Yes", "false": "No", "biased": "Yes", "unbiased": "No", "y": "Yes", "n": "No"},
    "toxicity": {"none": "No", "non-toxic": "No"},
    "sentiment": {},
    "harm": {},
}


def canonical_label(name: str, value: Any) -> str | None:
    """The allowed spelling of a label value, None for a missing one; ValueError when not allowed."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or text.lower() in {"nan", "null", "n/a"}:
        return None
    for allowed in LABEL_VALUES[name]:
        if text.lower() == allowed.lower():
            return allowed
    alias = _LABEL_ALIASES[name].get(text.lower())
    if alias:
        return alias
    raise ValueError(f"'{text}' is not an allowed {name} value; use one of {', '.join(LABEL_VALUES[name])}")


class Labels(BaseModel):
    """The paper's four labels; each may be missing (imports often lack them)."""

    model_config = ConfigDict(extra="forbid")

    bias: str | None = None
    toxicity: str | None = None
    sentiment: str | None = None
    harm: str | None = None

    @field_validator("bias", "toxicity", "sentiment", "harm", mode="before")
    @classmethod
    def _allowed(cls, value: Any, info: Any) -> str | None:
        return canonical_label(info.field_name, value)

    def key(self) -> tuple[str, ...]:
        """The label combination, used to stratify splits."""
        return tuple(getattr(self, name) or "-" for name in LABEL_NAMES)


class CMDRecord(BaseModel):
    """One record of the Content Moderation Dataset (CMD) schema."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str = Field(min_length=1)
    labels: Labels = Field(default_factory=Labels)
    target_groups: list[str] = Field(default_factory=list)
    biased_words: list[str] = Field(default_factory=list)
    safe_variation: str | None = None
    source: str | None = None
    aspect: str | None = None
    rationale: str | None = None
    annotator: str | None = None
    # Columns of an imported format that have no CMD field (kept, never interpreted).
    meta: dict[str, Any] = Field(default_factory=dict)

    # Where the record was read from, for messages that name file and line.
    _origin: tuple[str, int] | None = PrivateAttr(default=None)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is blank; every record needs the unsafe original text")
        return value

    @property
    def origin(self) -> tuple[str, int] | None:
        return self._origin

    def with_origin(self, path: str, line: int) -> CMDRecord:
        self._origin = (path, line)
        return self

    def where(self) -> str:
        """'file:line' when known, else the id."""
        return f"{self._origin[0]}:{self._origin[1]}" if self._origin else f"id {self.id}"


_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]")


def normalize_text(text: str) -> str:
    """Casefolded, accent-stable, punctuation- and space-insensitive key for duplicate detection."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()
