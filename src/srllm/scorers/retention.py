"""Knowledge retention (original -> rewrite): do the facts survive the debiasing?

Local method (default). The SR-LLM paper asks a rewrite to keep "the original intent and
facts" (arXiv 2404.01399, Section 2.2). Facts in short social-media/job texts are carried by
names, numbers, dates and a handful of content words, so we measure two things:

1. `units_kept`: the weighted share of the original's *content units* found in the rewrite.
   Units are numbers (normalised: "$1,200" == "1200", "five" == "5"), capitalised names
   (weight 2, like numbers) and content-word stems (Snowball stemmer, sklearn stop words
   removed; weight 1). Words of the `biased_words` given for the pair are removed first, since
   a good rewrite is meant to drop them.
2. `similarity`: cosine of all-MiniLM-L6-v2 embeddings, which sees paraphrase and topic.

`retention = w * units_kept + (1 - w) * similarity`, and `retained = retention >= threshold`.
A lexical share alone punishes paraphrase; an embedding alone barely moves when a name or a
number changes ("Maria" -> "Anna" keeps cosine ~0.9). The weight and threshold were chosen on
one half of data/eval/retention_labels.jsonl and tested on the other half (README.md, "Scorers").

LLM-judge backend (optional, `backend="llm-judge"`): a DeepEval-style fact list + verdicts from
any OpenAI-compatible chat endpoint (prompt in srllm.prompts.judge).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from srllm.errors import InputError, SrllmError
from srllm.scorers.base import Result, Scorer, register_scorer

# Chosen on the calibration half of data/eval/retention_labels.jsonl (see README.md, "Scorers").
DEFAULT_UNIT_WEIGHT = 0.5
DEFAULT_THRESHOLD = 0.64
NAME_WEIGHT = 2.0

# Numbers may carry a unit/ordinal suffix ("15th", "10am", "4B"); words may contain digits ("Q3").
TOKEN_RE = re.compile(r"[$£€]?\d[\d,]*(?:\.\d+)?(?:%|[A-Za-z]+)?|[A-Za-z][A-Za-z0-9'\-]*")
NUMBER_SUFFIXES = ("st", "nd", "rd", "th", "am", "pm")
# "one" is left out: far more often a pronoun ("one of them") than a count.
NUMBER_WORDS = {
    "zero": "0", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70",
    "eighty": "80", "ninety": "90", "hundred": "100", "thousand": "1000", "dozen": "12",
}
# Sentence-initial function words that are capitalised only by position.
_SENTENCE_END = re.compile(r"[.!?:;\"“”]\s*$")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    # Negations carry meaning for retention but are stop words in sklearn's list; "one".."ten"
    # are numbers here, handled by NUMBER_WORDS.
    return frozenset(ENGLISH_STOP_WORDS) - {"not", "no", "never", "nor"} - set(NUMBER_WORDS)


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem.snowball import SnowballStemmer

    return SnowballStemmer("english")


def _normalise_number(token: str) -> str:
    value = token.lower().lstrip("$£€").rstrip("%").replace(",", "")
    for suffix in NUMBER_SUFFIXES:
        if value.endswith(suffix) and value[: -len(suffix)].replace(".", "").isdigit():
            value = value[: -len(suffix)]
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    return value


@dataclass(frozen=True)
class ContentUnits:
    """Content units of a text: normalised numbers, name stems and content-word stems."""

    numbers: frozenset[str]
    names: frozenset[str]
    words: frozenset[str]

    def all_stems(self) -> frozenset[str]:
        return self.numbers | self.names | self.words


def content_units(text: str, exclude: Sequence[str] = ()) -> ContentUnits:
    """Extract content units; words of the phrases in `exclude` (e.g. biased words) are left out."""
    stem, stop = _stemmer().stem, _stopwords()
    excluded = {stem(t.lower()) for phrase in exclude for t in TOKEN_RE.findall(phrase)}
    numbers, names, words = set(), set(), set()
    for match in TOKEN_RE.finditer(text):
        token = match.group()
        lower = token.lower().strip("'-")
        if lower.endswith("'s"):
            lower = lower[:-2]
        if token[0].isdigit() or token[0] in "$£€":
            numbers.add(_normalise_number(token))
            continue
        if lower in NUMBER_WORDS:
            numbers.add(NUMBER_WORDS[lower])
            continue
        if lower in stop or len(lower) < 2:
            continue
        key = stem(lower)
        if key in excluded:
            continue
        sentence_start = match.start() == 0 or bool(_SENTENCE_END.search(text[: match.start()]))
        if token[0].isupper() and not sentence_start:
            names.add(key)
        else:
            words.add(key)
    # A word seen capitalised mid-sentence anywhere is a name everywhere.
    return ContentUnits(frozenset(numbers), frozenset(names), frozenset(words - names))


def units_kept(original: str, rewrite: str, exclude: Sequence[str] = ()) -> Result:
    """Weighted share of the original's units present in the rewrite, plus per-kind shares."""
    source = content_units(original, exclude)
    present = content_units(rewrite).all_stems()

    def share(units: frozenset[str]) -> float:
        return 1.0 if not units else len(units & present) / len(units)

    weighted_total = NAME_WEIGHT * (len(source.numbers) + len(source.names)) + len(source.words)
    weighted_kept = (NAME_WEIGHT * (len(source.numbers & present) + len(source.names & present))
                     + len(source.words & present))
    return {
        "units_kept": 1.0 if weighted_total == 0 else weighted_kept / weighted_total,
        "numbers_kept": share(source.numbers),
        "names_kept": share(source.names),
        "words_kept": share(source.words),
    }


@register_scorer("retention")
class Retention(Scorer):
    """Pairwise knowledge retention original -> rewrite in [0, 1], and `retained` (0/1)."""

    pairwise = True
    main_key = "retention"
    batch_size = 64

    def __init__(self, unit_weight: float = DEFAULT_UNIT_WEIGHT, threshold: float = DEFAULT_THRESHOLD,
                 backend: str = "local", embedder_path: str | None = None,
                 judge: dict | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if backend not in ("local", "llm-judge"):
            raise InputError(f"unknown retention backend '{backend}'; use 'local' or 'llm-judge'",
                             field="backend")
        self.unit_weight, self.threshold, self.backend = unit_weight, threshold, backend
        self.embedder_path = embedder_path
        self.judge = RetentionJudge(**(judge or {})) if backend == "llm-judge" else None
        self._biased: list[Sequence[str]] | None = None

    def load(self) -> None:
        if self.backend == "local":
            from srllm.scorers.embeddings import load_embedder

            load_embedder(self.embedder_path)

    def score_pairs(self, sources: Sequence[str], targets: Sequence[str],
                    biased_words: Sequence[Sequence[str]] | None = None) -> list[Result]:
        """Like Scorer.score_pairs; `biased_words[i]` lists words/phrases of source i to ignore."""
        if biased_words is not None and len(biased_words) != len(sources):
            raise InputError(f"got {len(biased_words)} biased_words lists for {len(sources)} sources; "
                             "pass one list per pair (empty when none)", field="biased_words")
        self._biased = list(biased_words) if biased_words is not None else None
        self._offset = 0
        try:
            return super().score_pairs(sources, targets)
        finally:
            self._biased = None

    def _score_pair_batch(self, sources: list[str], targets: list[str]) -> list[Result]:
        start, self._offset = self._offset, self._offset + len(sources)
        excludes = self._biased[start: start + len(sources)] if self._biased else [()] * len(sources)
        if self.judge is not None:
            return [self.judge.judge(s, t, threshold=self.threshold) for s, t in zip(sources, targets, strict=True)]
        from srllm.scorers.embeddings import pair_cosine

        cosines = pair_cosine(sources, targets, self.embedder_path)
        results = []
        for source, target, exclude, cosine in zip(sources, targets, excludes, cosines, strict=True):
            result = units_kept(source, target, exclude)
            result["similarity"] = float(cosine)
            result["retention"] = (self.unit_weight * result["units_kept"]
                                   + (1.0 - self.unit_weight) * result["similarity"])
            result["retained"] = float(result["retention"] >= self.threshold)
            results.append(result)
        return results


class RetentionJudge:
    """LLM judge over an OpenAI-compatible /chat/completions endpoint (vLLM, llama.cpp, OpenAI...).

    Configure with arguments or SRLLM_JUDGE_BASE_URL / SRLLM_JUDGE_MODEL / SRLLM_JUDGE_API_KEY
    (falling back to OPENAI_BASE_URL / OPENAI_API_KEY). A key is only required for api.openai.com.
    """

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None,
                 timeout: float = 120.0) -> None:
        from srllm.scorers.remote import ScorerNotConfiguredError

        self.base_url = (base_url or os.environ.get("SRLLM_JUDGE_BASE_URL")
                         or os.environ.get("OPENAI_BASE_URL") or "").rstrip("/")
        self.api_key = api_key or os.environ.get("SRLLM_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY")
        self.model = model or os.environ.get("SRLLM_JUDGE_MODEL") or "gpt-4o-mini"
        if not self.base_url and not self.api_key:
            raise ScorerNotConfiguredError(
                "the retention LLM judge needs an endpoint: set SRLLM_JUDGE_BASE_URL (e.g. a local "
                "vLLM/llama.cpp server, http://localhost:8000/v1) or OPENAI_API_KEY, or use backend='local'"
            )
        self.base_url = self.base_url or "https://api.openai.com/v1"
        if "api.openai.com" in self.base_url and not self.api_key:
            raise ScorerNotConfiguredError("the retention LLM judge at api.openai.com needs OPENAI_API_KEY")
        self.timeout = timeout

    def judge(self, original: str, rewrite: str, threshold: float = DEFAULT_THRESHOLD) -> Result:
        import httpx

        from srllm.prompts.judge import retention_judge_messages

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"model": self.model, "temperature": 0, "messages": retention_judge_messages(original, rewrite)}
        response = httpx.post(f"{self.base_url}/chat/completions", json=body, headers=headers,
                              timeout=self.timeout)
        if response.status_code != 200:
            raise SrllmError(f"judge endpoint {self.base_url} answered {response.status_code}: "
                             f"{response.text[:300]}")
        content = response.json()["choices"][0]["message"]["content"]
        facts = parse_judge_answer(content)
        kept = sum(f.get("verdict", "").strip().lower() == "yes" for f in facts)
        score = 1.0 if not facts else kept / len(facts)
        return {"retention": score, "retained": float(score >= threshold), "facts": float(len(facts)),
                "facts_kept": float(kept)}


def parse_judge_answer(content: str) -> list[dict]:
    """The `facts` list from a judge answer, tolerating code fences and text around the JSON."""
    start, stop = content.find("{"), content.rfind("}")
    if start < 0 or stop <= start:
        raise SrllmError(f"the judge did not answer with JSON: {content[:200]!r}")
    try:
        data = json.loads(content[start: stop + 1])
    except json.JSONDecodeError as exc:
        raise SrllmError(f"the judge answered invalid JSON ({exc}): {content[:200]!r}") from exc
    facts = data.get("facts", [])
    return [f for f in facts if isinstance(f, dict)]
