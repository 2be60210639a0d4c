"""Lexical checks the learned scorers miss: coded words in job postings and censored profanity.

The judge and Jigsaw read words, so "s***" (profanity its writer censored) scores as harmless, and a
job posting that asks for a "waitress", "recent graduates", "no more than 5 years of experience" or a
"native English speaker" is a polite sentence to them. These are closed classes of wording, so a list
finds them exactly: srllm's own lists in assets/lexicon/coded_terms.json (gendered job titles, age-coded
wording and caps on experience, national-origin wording, each with a neutral form). Coded terms count
only in text that reads like a job posting (`is_job_text`): "the young players" in a match report is not
age bias. Two kinds count in any text: gendered job titles ("The chairman will appoint a foreman ..."),
which inclusive-language guidance rewrites wherever they appear (bar a few everyday words such as "guys"
and "waiter", which count in postings only), dehumanizing comparisons ("breeding like rats", "are
vermin"), which the judge scores as mild when the sentence names no group and uses no insult word, and
threats of violence ("I'm going to break his fingers"), which Jigsaw's threat label and the judge miss
without a swear word.
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
    label: str  # gendered_title | age_coded | origin_coded | jargon_coded | masked_profanity | dehumanizing | threat
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
            "age_coded": _phrase_pattern(list(lexicon["age_coded"])),
            "origin_coded": _phrase_pattern(list(lexicon["origin_coded"])),
            "jargon_coded": _phrase_pattern([p for p in lexicon["jargon_coded"] if not p.startswith("_")])}


@lru_cache(maxsize=1)
def _age_caps() -> list[tuple[re.Pattern[str], str]]:
    """The caps on experience or time since graduation (`age_coded_patterns`), each with its neutral form."""
    table = _lexicon()["age_coded_patterns"]
    # A pattern may start at the comma before it (", with no more than ..."): the word boundary is checked
    # there or at its first letter.
    return [(re.compile(r"(?:(?<=\w)(?=,)|(?<![\w-]))" + pattern + r"(?![\w-])", re.IGNORECASE), str(neutral))
            for pattern, neutral in table.items() if not pattern.startswith("_")]


# The phrase tables, each with the label its terms get.
_TABLES = {"gendered_title": "gendered_titles", "age_coded": "age_coded", "origin_coded": "origin_coded",
           "jargon_coded": "jargon_coded"}


def neutral_form(term: str) -> str | None:
    """The neutral wording for a coded term ('' to delete it), None when it is not a listed term."""
    key = _phrase_key(term)
    lexicon = _lexicon()
    for table in _TABLES.values():
        if key in lexicon[table]:
            return str(lexicon[table][key])
    if (cap := _age_cap(term.strip())) is not None:
        return _age_caps()[cap][1]
    return None


def _age_cap(text: str) -> int | None:
    """Which cap on experience (`_age_caps` index) `text` is, whole; None when it is none."""
    return next((k for k, (pattern, _) in enumerate(_age_caps()) if pattern.fullmatch(text)), None)


def _coded(text: str) -> list[Term]:
    found = [Term(m.start(), m.end(), label, m.group(0), neutral_form(m.group(0)))
             for label in _TABLES for m in _patterns()[label].finditer(text)]
    return found + [Term(m.start(), m.end(), "age_coded", m.group(0), neutral)
                    for pattern, neutral in _age_caps() for m in pattern.finditer(text)]


@lru_cache(maxsize=2)
def _pattern_list(table: str) -> re.Pattern[str]:
    patterns = _lexicon()[table]["patterns"]
    return re.compile(r"(?<![\w-])(?:" + "|".join(f"(?:{p})" for p in patterns) + r")(?![\w-])", re.IGNORECASE)


def _pattern_terms(text: str, table: str, label: str) -> list[Term]:
    """The matches of a pattern table (no neutral form: a rewrite removes them) as `label` terms."""
    return [Term(m.start(), m.end(), label, m.group(0), None) for m in _pattern_list(table).finditer(text)]


def dehumanizing(text: str) -> list[Term]:
    """People likened to animals, vermin or disease ("are animals", "breeding like rats")."""
    return _pattern_terms(text, "dehumanizing", "dehumanizing")


def threats(text: str) -> list[Term]:
    """Threats and wishes of violence ("I'm going to break his fingers", "I hope they choke on it")."""
    return _pattern_terms(text, "threats", "threat")


@lru_cache(maxsize=1)
def _job_only_titles() -> frozenset[str]:
    return frozenset(_lexicon()["gendered_titles_job_only"])


def _titles_anywhere(text: str) -> list[Term]:
    """The gendered job titles that count outside a job posting (all but `gendered_titles_job_only`)."""
    return [Term(m.start(), m.end(), "gendered_title", m.group(0), neutral_form(m.group(0)))
            for m in _patterns()["gendered_title"].finditer(text) if _phrase_key(m.group(0)) not in _job_only_titles()]


def is_job_text(text: str) -> bool:
    """Whether the text reads like a job posting: two distinct hiring cues, or one beside a coded term
    ("Recent graduates preferred!")."""
    patterns = _patterns()
    cues = {_phrase_key(m.group(0)) for m in patterns["job_cues"].finditer(text)}
    if len(cues) != 1:
        return len(cues) >= 2
    return bool(_coded(text))


def masked_profanity(text: str) -> list[Term]:
    return [Term(m.start(), m.end(), "masked_profanity", m.group(0), "") for m in _MASKED.finditer(text)]


def coded_terms(text: str, *, job: bool | None = None) -> list[Term]:
    """Censored profanity, dehumanizing comparisons and gendered job titles anywhere, and every coded word
    when the text is a job posting (`job`: None decides with `is_job_text`)."""
    found = masked_profanity(text) + dehumanizing(text) + threats(text)
    found += _coded(text) if (job if job is not None else is_job_text(text)) else _titles_anywhere(text)
    return sorted(found, key=lambda term: term.start)


# Terms a candidate may not have even where its source did not: what its writer censored, and a
# dehumanizing comparison or a threat in any words.
_ALWAYS_KEPT = frozenset({"masked_profanity", "dehumanizing", "threat"})


def kept_terms(source: str, candidate: str) -> list[Term]:
    """The source's coded terms that the candidate still contains (judged as a job posting when the source is),
    and any censored profanity or dehumanizing comparison in it."""
    job = is_job_text(source)
    wanted = {_term_key(t.text) for t in coded_terms(source, job=job)}
    return [t for t in coded_terms(candidate, job=job)
            if t.label in _ALWAYS_KEPT or _term_key(t.text) in wanted]


def _phrase_key(text: str) -> str:
    """A phrase as the lists spell it: lower case, single spaces."""
    return " ".join(text.lower().split())


def _term_key(text: str) -> str:
    """What makes two terms the same: the words of a listed phrase in the singular ("native English
    speakers" keeps "native English speaker"); the pattern of a cap on experience ("no more than five
    years" keeps "no more than 5 years of experience")."""
    cap = _age_cap(text)
    return f"age cap {cap}" if cap is not None else " ".join(_singular(w) for w in text.lower().split())


def _singular(word: str) -> str:
    """A listed word's singular, enough for the lexicon's plurals (speakers, waitresses, salesmen, heroes)."""
    for plural, single in (("sses", "ss"), ("men", "man"), ("oes", "o"), ("ies", "y")):
        if word.endswith(plural) and len(word) > len(plural) + 1:
            return word[: -len(plural)] + single
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 3 else word
