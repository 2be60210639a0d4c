"""Evaluation texts must not be in training: exact (normalized) and near-duplicate matching.

A training text leaks an evaluation text when, after `normalize_text` (case, punctuation and
spacing ignored), they are equal (`exact`), when half of the shorter one's word 8-grams occur in
the other (`ngram`: one contains most of the other, e.g. a sentence pasted into a longer
comment), when their word sets overlap with Jaccard >= 0.7 (`jaccard`: words reordered or a few
swapped), or when their characters are 90% the same (`fuzzy`: rapidfuzz's ratio; contractions and
synonyms for a few words). Jaccard and fuzzy need 10 words: shorter sentences that differ in one
word are usually different sentences. Candidates come from an inverted index of word 3-grams, so a check of thousands of
training texts against tens of thousands of evaluation texts takes seconds, without MinHash.

What is held out (evaluation sources, held-out slices) is read by `srllm.data.corpus.heldout`;
this module only matches and reports.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rapidfuzz import fuzz

from srllm.data.corpus.heldout import EvalSourceStatus, EvalText
from srllm.data.schema import CMDRecord, normalize_text
from srllm.errors import SrllmError


@dataclass(frozen=True)
class LeakageThresholds:
    ngram: int = 8
    containment: float = 0.5
    jaccard: float = 0.7
    fuzzy: float = 0.9  # character-level similarity (rapidfuzz ratio) of the normalized texts
    min_words: int = 6  # below this only exact matches count (short texts collide by chance)
    # One swapped word in a short sentence makes a different sentence ("no problem with you/them"), so
    # jaccard and fuzzy need this many words, counted after normalization (which splits "don t").
    jaccard_min_words: int = 10
    candidates: int = 40  # best-sharing candidates scored per training text
    common_shingle: int = 400  # 3-grams in more evaluation texts than this carry no signal


@dataclass(frozen=True)
class LeakMatch:
    train_id: str
    train_field: str  # "text" or "safe_variation"
    train_text: str
    eval_source: str
    eval_ref: str
    eval_text: str | None  # None for redacted sources
    method: str  # "exact", "ngram", "jaccard" or "fuzzy"
    score: float

    def __str__(self) -> str:
        shown = "(held-out text not shown)" if self.eval_text is None else repr(_snippet(self.eval_text))
        return (f"{self.train_id} {self.train_field} {_snippet(self.train_text)!r} ~ {self.eval_source} "
                f"{self.eval_ref} {shown} [{self.method} {self.score:.2f}]")


def _snippet(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _grams(words: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def _shingles(words: Sequence[str]) -> set[int]:
    # Hashed 3-grams (1- or 2-grams for very short texts) keep the index small.
    n = min(3, len(words))
    return {hash(gram) for gram in _grams(words, n)} if words else set()


class LeakageIndex:
    """Evaluation texts indexed for exact and near-duplicate lookup."""

    def __init__(self, texts: Iterable[EvalText], thresholds: LeakageThresholds | None = None) -> None:
        self.thresholds = thresholds or LeakageThresholds()
        self.texts: list[EvalText] = []
        self._words: list[list[str]] = []
        self._exact: dict[str, list[int]] = defaultdict(list)
        self._postings: dict[int, list[int]] = defaultdict(list)
        self._ngrams: dict[int, set[tuple[str, ...]]] = {}
        for item in texts:
            self.add(item)

    def add(self, item: EvalText) -> None:
        key = normalize_text(item.text)
        if not key:
            return
        index = len(self.texts)
        self.texts.append(item)
        words = key.split()
        self._words.append(words)
        self._exact[key].append(index)
        if len(words) >= self.thresholds.min_words:
            for shingle in _shingles(words):
                self._postings[shingle].append(index)

    def __len__(self) -> int:
        return len(self.texts)

    def _eval_grams(self, index: int) -> set[tuple[str, ...]]:
        if index not in self._ngrams:
            self._ngrams[index] = _grams(self._words[index], self.thresholds.ngram)
        return self._ngrams[index]

    def query(self, text: str) -> list[tuple[EvalText, str, float]]:
        """(evaluation text, method, score) for every evaluation text this text leaks."""
        key = normalize_text(text)
        if not key:
            return []
        hits = [(self.texts[i], "exact", 1.0) for i in self._exact.get(key, [])]
        words = key.split()
        t = self.thresholds
        if len(words) < t.min_words:
            return hits
        shared: Counter[int] = Counter()
        for shingle in _shingles(words):
            posting = self._postings.get(shingle, ())
            if len(posting) <= t.common_shingle:
                shared.update(posting)
        exact = set(self._exact.get(key, []))
        grams, vocabulary = _grams(words, t.ngram), set(words)
        for index, _ in shared.most_common(t.candidates):
            if index in exact:
                continue
            method, score = self._score(index, words, grams, vocabulary)
            if method:
                hits.append((self.texts[index], method, score))
        return hits

    def _score(self, index: int, words: list[str], grams: set[tuple[str, ...]], vocabulary: set[str]
               ) -> tuple[str | None, float]:
        t = self.thresholds
        other = self._eval_grams(index)
        if grams and other:
            containment = len(grams & other) / min(len(grams), len(other))
            if containment >= t.containment:
                return "ngram", containment
        if min(len(words), len(self._words[index])) < t.jaccard_min_words:
            return None, 0.0
        other_vocabulary = set(self._words[index])
        jaccard = len(vocabulary & other_vocabulary) / len(vocabulary | other_vocabulary)
        if jaccard >= t.jaccard:
            return "jaccard", jaccard
        similarity = fuzz.ratio(" ".join(words), " ".join(self._words[index])) / 100
        if similarity >= t.fuzzy:
            return "fuzzy", similarity
        return None, 0.0


def find_leaks(records: Sequence[CMDRecord], index: LeakageIndex) -> list[LeakMatch]:
    """Every (training record field, evaluation text) pair that matches; both text and rewrite are checked."""
    matches = []
    for record in records:
        for name in ("text", "safe_variation"):
            value = getattr(record, name)
            if not value:
                continue
            for item, method, score in index.query(value):
                matches.append(LeakMatch(record.id, name, value, item.source, item.ref,
                                         None if item.redact else item.text, method, round(score, 3)))
    return matches


@dataclass
class LeakageReport:
    sources: list[EvalSourceStatus] = field(default_factory=list)
    matches: list[LeakMatch] = field(default_factory=list)
    thresholds: LeakageThresholds = field(default_factory=LeakageThresholds)
    records_checked: int = 0

    @property
    def passed(self) -> bool:
        return not self.matches

    def leaked_ids(self) -> set[str]:
        return {m.train_id for m in self.matches}

    def to_dict(self, max_matches: int | None = 200) -> dict[str, Any]:
        by_source = Counter(m.eval_source for m in self.matches)
        by_method = Counter(m.method for m in self.matches)
        shown = self.matches if max_matches is None else self.matches[:max_matches]
        return {
            "passed": self.passed,
            "records_checked": self.records_checked,
            "method": "normalized exact match; word 8-gram containment; word-set Jaccard; character ratio (rapidfuzz) "
                      "over a word 3-gram candidate index",
            "thresholds": asdict(self.thresholds),
            "sources": [asdict(s) for s in self.sources],
            "skipped": [s.name for s in self.sources if s.status == "skipped"],
            "matches": len(self.matches),
            "leaked_records": len(self.leaked_ids()),
            "matches_by_source": dict(by_source),
            "matches_by_method": dict(by_method),
            "examples": [asdict(m) for m in shown],
        }


class LeakageError(SrllmError):
    """Evaluation text found in the training data."""

    def __init__(self, report: LeakageReport, where: str | None = None) -> None:
        self.report = report
        first = "; ".join(str(m) for m in report.matches[:3])
        more = f" (full report: {where})" if where else ""
        super().__init__(f"{len(report.matches)} evaluation texts found in training ({len(report.leaked_ids())} "
                         f"training records): {first}{more}. Remove those records from the sources, or build "
                         "with --on-leak drop to drop them (recorded in the manifest)")


def check_leakage(records: Sequence[CMDRecord], eval_texts: Iterable[EvalText],
                  sources: list[EvalSourceStatus] | None = None,
                  thresholds: LeakageThresholds | None = None) -> LeakageReport:
    """Match training records against evaluation texts; `passed` is False on any match."""
    index = LeakageIndex(eval_texts, thresholds)
    return LeakageReport(list(sources or []), find_leaks(records, index), index.thresholds, len(records))
