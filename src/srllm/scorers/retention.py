"""Knowledge retention (original -> rewrite): do the facts survive the debiasing?

Local method (default). The SR-LLM paper asks a rewrite to keep "the original intent and
facts" (arXiv 2404.01399, Section 2.2). Facts in short social-media/job texts are carried by
names, numbers, dates and a handful of content words, so we measure two things:

1. `units_kept`: the weighted share of the original's *content units* found in the rewrite.
   Units are the facts of srllm.text.facts, the same the guard checks: numbers ("$1,200" ==
   "1200", "five" == "5") and names/places (weight 2), and content-word stems (Snowball
   stemmer, stop words removed; weight 1). Words of the `biased_words` given for the pair are
   removed first, since a good rewrite is meant to drop them.
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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from srllm.errors import InputError, SrllmError
from srllm.scorers.base import Result, Scorer, register_scorer
from srllm.text.facts import content_words, kept_facts, missing_facts, words

# Chosen on the calibration half of data/eval/retention_labels.jsonl (see README.md, "Scorers").
DEFAULT_UNIT_WEIGHT = 0.5
DEFAULT_THRESHOLD = 0.64
NAME_WEIGHT = 2.0


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem.snowball import SnowballStemmer

    return SnowballStemmer("english")


@dataclass(frozen=True)
class ContentUnits:
    """Content units of a text: number and name keys (srllm.text.facts) and content-word stems."""

    numbers: frozenset[str]
    names: frozenset[str]
    words: frozenset[str]


def _stems(text: str) -> set[str]:
    stem = _stemmer().stem
    return {stem(word) for word in content_words(text)}


def content_units(text: str, exclude: Sequence[str] = ()) -> ContentUnits:
    """Extract content units; words of the phrases in `exclude` (e.g. biased words) are left out."""
    facts = kept_facts(text, exclude)
    numbers = {fact.key for fact in facts if fact.kind == "number"}
    names = {fact.key for fact in facts if fact.kind != "number"}
    # A name is counted once, as a name (weight 2), not again as a word.
    name_stems = {stem for fact in facts if fact.kind != "number" for stem in _stems(fact.key)}
    excluded = {_stemmer().stem(word) for phrase in exclude for word in words(phrase)}
    return ContentUnits(frozenset(numbers), frozenset(names), frozenset(_stems(text) - name_stems - excluded))


def units_kept(original: str, rewrite: str, exclude: Sequence[str] = ()) -> Result:
    """Weighted share of the original's units present in the rewrite, plus per-kind shares. Numbers and
    names count as kept exactly when the guard finds them (`missing_facts`)."""
    source = content_units(original, exclude)
    missing = {fact.key for fact in missing_facts(original, rewrite, exclude=exclude)}
    numbers_kept, names_kept = len(source.numbers - missing), len(source.names - missing)
    words_kept = len(source.words & _stems(rewrite))

    def share(kept: int, units: frozenset[str]) -> float:
        return 1.0 if not units else kept / len(units)

    weighted_total = NAME_WEIGHT * (len(source.numbers) + len(source.names)) + len(source.words)
    weighted_kept = NAME_WEIGHT * (numbers_kept + names_kept) + words_kept
    return {
        "units_kept": 1.0 if weighted_total == 0 else weighted_kept / weighted_total,
        "numbers_kept": share(numbers_kept, source.numbers),
        "names_kept": share(names_kept, source.names),
        "words_kept": share(words_kept, source.words),
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
