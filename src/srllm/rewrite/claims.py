"""How much of a stereotype's claim a candidate still makes once the group is gone.

The judge reads a rewrite on its own. "As a woman, Keiko will probably need extra help with the figures" ->
"Keiko will need extra help with the figures" names no group, so the judge finds no stereotype, the whole
span is not there word for word, and the guard passed it: the claim about Keiko survived. The span's claim
words are its content words less the names and numbers (the facts a rewrite keeps), function words and
hedges ("probably", "usually"); a candidate that keeps half of them or more ("need", "extra", "help",
"figures": all but the group word "woman") still says what the stereotype said.

It is a soft signal, not a failure: a faithful rewrite can keep the topic nouns a long span covers ("She's only
a nurse, so she probably didn't understand the statistics in the trial results" -> "... the nurse reviewed the
statistics in the trial results"). Measured on human reference rewrites (2026-12-07), a share of 0.5 with at
least two words kept marks 8 of the 84 biased CMD test references and none of the 500 ParaDetox evaluation
references, so the guard uses it to keep looking (sampled retries) and to rank, not to flag. Stricter
settings (0.6, three words) mark 5 references but miss the model's habit of hedging a claim ("I'm not sure
Grace will get too emotional when she presents the Q3 results").
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from srllm.text.facts import extract_facts, stopwords
from srllm.text.nouns import has_stem, lower_words

# How sure or how general the claim is, not what it says: a rewrite drops these first ("will probably need
# extra help" -> "I'm not sure X will need extra help" keeps the claim).
HEDGES = frozenset("probably likely naturally usually always never typical typically really just".split())
# A claim needs this many words, and a candidate must keep this many of them, to be told from a phrase any
# rewrite of the text shares.
MIN_CLAIM_WORDS = 2
MIN_KEPT_WORDS = 2


@lru_cache(maxsize=1)
def _skipped() -> frozenset[str]:
    from srllm.scorers.judge import FUNCTION_WORDS

    return frozenset(stopwords() | FUNCTION_WORDS | HEDGES)


def claim_words(source: str, spans: Sequence[Any]) -> list[list[str]]:
    """The claim words of each of the source's stereotype spans (lower case, in order): content words of three
    letters or more that are neither function words ("she's" counts as "she"), nor hedges, nor part of a name
    or number of the source."""
    facts = {word for fact in extract_facts(source) for word in lower_words(fact.text)}
    skipped = _skipped()
    claims = []
    for span in spans:
        if getattr(span, "label", "") != "stereotype":
            continue
        found = [w for w in lower_words(span.text)
                 if len(w) > 2 and w.split("'")[0] not in skipped and w not in facts]
        if len(found) >= MIN_CLAIM_WORDS:
            claims.append(found)
    return claims


def claim_kept(claims: Sequence[Sequence[str]], candidate: str) -> float:
    """The largest share of one claim's words that the candidate has (same stem), counted only where at least
    MIN_KEPT_WORDS of them are there; 0.0 for none."""
    present = set(lower_words(candidate))
    share = 0.0
    for words in claims:
        kept = sum(has_stem(word, present) for word in words)
        if kept >= MIN_KEPT_WORDS:
            share = max(share, kept / len(words))
    return share
