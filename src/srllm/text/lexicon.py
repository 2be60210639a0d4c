"""Lexical checks the learned scorers miss: coded words in job postings and censored profanity.

The judge and Jigsaw read words, so "s***" (profanity its writer censored) scores as harmless, and a
job posting that asks for a "waitress" or "recent graduates" is a polite sentence to them. These are
closed classes of words, so a list finds them exactly: srllm's own lists in assets/lexicon/coded_terms.json
(gendered job titles and age-coded wording, each with a neutral form). Coded terms count only in text
that reads like a job posting (`is_job_text`): "the young players" in a match report is not age bias.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from srllm.paths import ASSETS_DIR

LEXICON_PATH = ASSETS_DIR / "lexicon" / "coded_terms.json"
# sh*t, a**hole, f*ck (letters on both sides) or s***, f***ing (two or more at the end of the letters).
_MASKED = re.compile(r"(?<![\w*])[A-Za-z]+(?:\*+[A-Za-z]+|\*{2,}[A-Za-z]*)(?![\w*])")


@dataclass
class Term:
    """A coded or censored word found in a text (span-shaped: the edit candidate can replace it)."""

    start: int
    end: int
    label: str  # gendered_title | age_coded | masked_profanity
    text: str
    neutral: str | None  # what replaces it in an edit ('' deletes it); None: no replacement

    @property
    def score(self) -> float:
        return 1.0


@lru_cache(maxsize=1)
def _lexicon() -> dict[str, Any]:
    return json.loads(LEXICON_PATH.read_text(encoding="utf-8"))


def _phrase_pattern(phrases: list[str]) -> re.Pattern[str]:
    alternatives = sorted((re.escape(p).replace(r"\ ", r"\s+") for p in phrases), key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(alternatives) + r")(?![\w-])", re.IGNORECASE)


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    lexicon = _lexicon()
    return {"job_cues": _phrase_pattern(lexicon["job_cues"]),
            "gendered_title": _phrase_pattern(list(lexicon["gendered_titles"])),
            "age_coded": _phrase_pattern(list(lexicon["age_coded"]))}


def neutral_form(term: str) -> str | None:
    """The neutral wording for a coded term ('' to delete it), None when it is not a listed term."""
    key = " ".join(term.lower().split())
    lexicon = _lexicon()
    for table in ("gendered_titles", "age_coded"):
        if key in lexicon[table]:
            return str(lexicon[table][key])
    return None


def is_job_text(text: str) -> bool:
    """Whether the text reads like a job posting: two distinct hiring cues, or one beside a coded term
    ("Recent graduates preferred!")."""
    patterns = _patterns()
    cues = {" ".join(m.group(0).lower().split()) for m in patterns["job_cues"].finditer(text)}
    if len(cues) != 1:
        return len(cues) >= 2
    return bool(patterns["gendered_title"].search(text) or patterns["age_coded"].search(text))


def masked_profanity(text: str) -> list[Term]:
    return [Term(m.start(), m.end(), "masked_profanity", m.group(0), "") for m in _MASKED.finditer(text)]


def coded_terms(text: str, *, job: bool | None = None) -> list[Term]:
    """Censored profanity anywhere, and gendered or age-coded wording when the text is a job posting
    (`job`: None decides with `is_job_text`)."""
    found = masked_profanity(text)
    if job if job is not None else is_job_text(text):
        for label in ("gendered_title", "age_coded"):
            found += [Term(m.start(), m.end(), label, m.group(0), neutral_form(m.group(0)))
                      for m in _patterns()[label].finditer(text)]
    return sorted(found, key=lambda term: term.start)


def kept_terms(source: str, candidate: str) -> list[Term]:
    """The source's coded terms that the candidate still contains (judged as a job posting when the source is)."""
    job = is_job_text(source)
    wanted = {" ".join(t.text.lower().split()) for t in coded_terms(source, job=job)}
    return [t for t in coded_terms(candidate, job=job)
            if t.label == "masked_profanity" or " ".join(t.text.lower().split()) in wanted]
