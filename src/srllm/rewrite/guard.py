"""The guard loop: check every rewrite with the local scorers, retry, and flag what still fails.

A small model sometimes keeps the insult, drops a name, obeys an instruction hidden in the text
or answers with commentary. `GuardedRewriter` wraps `Rewriter` with the same
`.rewrite(texts, batch_size)` call and adds `status`, `scores` and `reasons` to each result:

1. Bad input never reaches the model: empty text is `skipped`; text without words (emoji,
   punctuation) and text the scorers find benign come back `unchanged`, without generation.
   An input is `unchanged` only when the judge (srllm.evaluate.scorers.judge) finds no harm and
   the Jigsaw and profanity scorers agree.
2. Every other text gets a greedy rewrite plus the judge's edit candidate (the input with its
   harmful spans removed, srllm.rewrite.edit); each candidate is checked (the judge's toxic and
   stereotype labels, no harmful span of the input kept, Jigsaw toxicity, profanity, meaning kept,
   facts kept, no meta text, not a copy, sane length).
3. Texts whose greedy rewrite fails get `candidates - 1` sampled rewrites in one batched call
   (a retry only where needed: most rows pass first time, so the guard's cost stays near
   the scoring cost). The best passing candidate wins (`ok`).
4. When none passes, the row is `flagged` with the best candidate and the reasons, for review;
   harm is never emitted silently.

All scorers load when the guard is built, so a missing scorer fails before any row is rewritten.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from srllm.errors import InputError, SrllmError
from srllm.rewrite.edit import edit_candidate
from srllm.rewrite.engine import GenerationSettings, Rewriter, RewriteResult
from srllm.rewrite.facts import extract_facts, missing_facts

Status = Literal["ok", "unchanged", "flagged", "skipped"]
SCORERS = ("judge", "toxicity", "profanity", "bias", "similarity")


class GuardConfig(BaseModel):
    """Thresholds of the guard; every field can be overridden (CLI: --guard-config FILE.json).

    Defaults were tuned on srllm's development cases (README.md, "The guard").
    """

    model_config = ConfigDict(extra="forbid")

    # 4: on the dev cases 61 % pass at 1.3x the time of 2 candidates (53 %); README "Quality, measured".
    candidates: int = Field(4, ge=1, le=16, description="greedy + (candidates - 1) sampled retries")
    temperature: float = Field(0.8, gt=0)
    top_p: float = Field(0.95, gt=0, le=1)
    seed: int = 0
    # Input at or below all three is benign: returned unchanged without generation.
    benign_toxicity: float = 0.3
    benign_profanity: float = 0.35
    # None: the judge's own screen threshold (chosen on its dev split for high recall).
    benign_harm: float | None = None
    # The MiniLM bias head stays in the screen as an extra detector: with it the screen finds 99 % of the
    # harmful dev-case inputs, without it 86 % (benchmarks/results/judge.md); candidates are judged without it.
    benign_bias: float = 0.3
    # A candidate must stay below these ...
    max_toxicity: float = 0.5
    max_profanity: float = 0.5
    max_toxic: float = 0.5
    max_stereotype: float = 0.5
    # Off by default: on the dev cases it cut the flag rate (31 % -> 14 % of harmful rows) but more rows came
    # back `ok` while still harmful (silent harm 17 % -> 27 %) and fewer passed (68 % -> 65 %).
    edit_candidate: bool = False
    # ... keep the meaning (cosine of MiniLM embeddings with the input) ...
    min_similarity: float = 0.6
    # ... and not be a copy of a harmful input, nor much longer or shorter than it.
    max_copy_ratio: float = 0.97
    max_length_ratio: float = 2.0
    length_slack: int = 40
    min_length_ratio: float = 0.3
    require_facts: bool = True

    @classmethod
    def from_file(cls, path: str | Path) -> GuardConfig:
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the guard config as JSON ({exc})", path=str(path)) from exc
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(part) for part in first["loc"])
            raise InputError(f"{first['msg']}; fields are {sorted(cls.model_fields)}",
                             path=str(path), field=name) from exc


@dataclass
class GuardedResult(RewriteResult):
    status: Status = "ok"
    scores: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    candidates: int = 0
    spans: list[dict[str, Any]] = field(default_factory=list)  # the judge's harmful spans of the input


@dataclass
class Verdict:
    """One candidate's checks: `reasons` is empty when it passes."""

    text: str
    scores: dict[str, float]
    reasons: list[str]

    @property
    def passed(self) -> bool:
        return not self.reasons

    @property
    def rank(self) -> float:
        # Meaning kept, minus what harm is left: picks between passing candidates too.
        harm = max(self.scores.get("toxicity", 0.0), self.scores.get("profanity", 0.0))
        judged = max(self.scores.get("toxic", 0.0), self.scores.get("stereotype", 0.0))
        return self.scores.get("similarity", 0.0) - 0.5 * harm - 0.5 * judged


# Meta text a model writes around or instead of the rewrite. Patterns that already occur in the
# input are the user's words (a memo may start with "Note:"), except chat markup, which an
# injection carries in to make the model obey it.
_META = [re.compile(p, re.IGNORECASE) for p in (
    r"\bas an? (?:ai|language model|assistant)\b",
    r"\bi (?:cannot|can ?not|can't|won't|will not|am unable to|'m unable to)\b",
    r"\bi(?:'m| am) sorry\b|\bi apologi[sz]e\b",
    r"\b(?:here is|here's|here are|below is)\b[^.!?\n]{0,40}?\b(?:rewrit\w*|version|text|sentence|paragraph)\b",
    r"\b(?:rewritten|rephrased|paraphrased)\b",
    r"\b(?:safe|safer|neutral|unbiased|debiased|respectful|inclusive) (?:version|rewrite|rewording)\b",
    r"\bsystem prompt\b|\bmy instructions\b",
    r"(?:^|[\s(\[\"'*])(?:note|original(?: text)?|rewrite|rewritten text|output|answer|explanation)\s*:",
    r"\b(?:the|this) (?:original|above|given|input) (?:text|sentence|statement|message)\b",
    r"^[\s\"'*]*(?:sure|certainly|of course|okay|ok|absolutely)\b\s*[,.!:]",
)]
_MARKUP = re.compile(r"</?s>|<\|[^|>\n]{1,40}\|>|\[/?inst\]|<<\s*/?sys\s*>>|(?:^|\s)(?:system|assistant|user)\s*:",
                     re.IGNORECASE)
_HAS_WORD = re.compile(r"[^\W_]", re.UNICODE)


def meta_text(candidate: str, source: str) -> list[str]:
    """The meta phrases of a candidate that are not the user's own words."""
    hits = [m.group(0).strip() for rx in _META if (m := rx.search(candidate)) and not rx.search(source)]
    markup = _MARKUP.search(candidate)
    return hits + ([markup.group(0).strip()] if markup else [])


class Guard:
    """Scores inputs and candidates with the local scorers and decides what passes."""

    def __init__(self, config: GuardConfig | None = None) -> None:
        self.config = config or GuardConfig()
        self.scorers: dict[str, Any] = {}

    def load(self) -> Guard:
        """Load every scorer now, naming the one that fails (never half-way through a batch)."""
        from srllm.evaluate.scorers import get_scorer

        for name in SCORERS:
            try:
                scorer = get_scorer(name, progress=False)
                if scorer.pairwise:
                    scorer.score_pairs(["warm-up"], ["warm-up"])
                else:
                    scorer.score(["warm-up"])
            except Exception as exc:  # any failure to load is the same problem for the user
                raise SrllmError(
                    f"the guard's '{name}' scorer could not load ({exc}); fix it, or pass --no-guard "
                    "to rewrite without checking the output"
                ) from exc
            self.scorers[name] = scorer
        return self

    @property
    def judge(self) -> Any:
        return self.scorers["judge"].judge

    def judged(self, texts: Sequence[str]) -> list[Any]:
        """The judge's result (labels, spans) for each text."""
        return self.judge.judge(list(texts)) if texts else []

    def harm_scores(self, texts: Sequence[str], judged: Sequence[Any] | None = None) -> list[dict[str, float]]:
        """The judge's toxic and stereotype, Jigsaw toxicity (max label) and profanity of each text."""
        if not texts:
            return []
        if not self.scorers:
            self.load()
        judged = self.judged(texts) if judged is None else judged
        tox = self.scorers["toxicity"].score(texts)
        prof = self.scorers["profanity"].score(texts)
        bias = self.scorers["bias"].score(texts)
        return [{"toxic": j.toxic or 0.0, "stereotype": j.stereotype or 0.0, "toxicity": t["max"],
                 "profanity": p["profanity"], "bias": b["bias"]}
                for j, t, p, b in zip(judged, tox, prof, bias, strict=True)]

    @property
    def benign_harm(self) -> float:
        return self.config.benign_harm if self.config.benign_harm is not None else self.judge.threshold

    def is_benign(self, scores: dict[str, float]) -> bool:
        c = self.config
        return (max(scores["toxic"], scores["stereotype"]) <= self.benign_harm
                and scores["toxicity"] <= c.benign_toxicity and scores["profanity"] <= c.benign_profanity
                and scores["bias"] <= c.benign_bias)

    def harmful_words(self, text: str, spans: Sequence[Any] = ()) -> set[str]:
        """Capitalised words of the input that are the harm (slurs as names, words inside a harmful span)."""
        words = [fact.text for fact in extract_facts(text) if fact.kind != "number"]
        if not words:
            return set()
        inside = {word for word in words for span in spans if word.lower() in span.text.lower()
                  and len(span.text) < 3 * len(word) + 8}
        tox = self.scorers["toxicity"].score(words)
        prof = self.scorers["profanity"].score(words)
        return inside | {word for word, t, p in zip(words, tox, prof, strict=True)
                         if t["max"] > self.config.max_toxicity or p["profanity"] > self.config.max_profanity}

    def check(self, sources: Sequence[str], candidates: Sequence[Sequence[str]],
              source_spans: Sequence[Sequence[Any]] | None = None) -> list[list[Verdict]]:
        """Verdicts for each source's candidates; all candidates are scored in one batch.

        `source_spans`: the judge's harmful spans of each source (judged here when not given)."""
        if source_spans is None:
            source_spans = [j.spans for j in self.judged(sources)]
        pairs = [(i, text) for i, group in enumerate(candidates) for text in group]
        flat = [text if text.strip() else " " for _, text in pairs]
        harm = self.harm_scores(flat)
        similarity = self.scorers["similarity"].score_pairs([sources[i] for i, _ in pairs], flat) if flat else []
        excluded = [self.harmful_words(source, spans) if self.config.require_facts else set()
                    for source, spans in zip(sources, source_spans, strict=True)]
        verdicts: list[list[Verdict]] = [[] for _ in sources]
        for (i, text), scores, sim in zip(pairs, harm, similarity, strict=True):
            scores = {**scores, "similarity": sim["similarity"]}
            verdicts[i].append(self._verdict(sources[i], text, scores, excluded[i], source_spans[i]))
        return verdicts

    def _verdict(self, source: str, text: str, scores: dict[str, float], excluded: set[str],
                 spans: Sequence[Any] = ()) -> Verdict:
        c = self.config
        if not text.strip():
            return Verdict(text, scores, ["empty rewrite"])
        reasons = []
        if scores["toxic"] > c.max_toxic:
            reasons.append(f"toxic ({scores['toxic']:.2f} > {c.max_toxic})")
        if scores["stereotype"] > c.max_stereotype:
            reasons.append(f"stereotype ({scores['stereotype']:.2f} > {c.max_stereotype})")
        if kept := kept_spans(text, spans):
            reasons.append("harmful span kept: " + "; ".join(f"'{k}'" for k in kept))
        if scores["toxicity"] > c.max_toxicity:
            reasons.append(f"toxic per Jigsaw ({scores['toxicity']:.2f} > {c.max_toxicity})")
        if scores["profanity"] > c.max_profanity:
            reasons.append(f"profane ({scores['profanity']:.2f} > {c.max_profanity})")
        if scores["similarity"] < c.min_similarity:
            reasons.append(f"meaning lost (similarity {scores['similarity']:.2f} < {c.min_similarity})")
        missing = missing_facts(source, text, exclude=excluded) if c.require_facts else []
        scores["facts_missing"] = float(len(missing))
        if missing:
            reasons.append("facts dropped: " + ", ".join(fact.text for fact in missing))
        if meta := meta_text(text, source):
            reasons.append("meta text: " + "; ".join(meta))
        copy = difflib.SequenceMatcher(None, source, text).ratio()
        if copy >= c.max_copy_ratio:
            reasons.append(f"copy of the harmful input (ratio {copy:.2f})")
        if len(text) > c.max_length_ratio * len(source) + c.length_slack:
            reasons.append(f"too long ({len(text)} characters for {len(source)})")
        if len(text) < c.min_length_ratio * len(source):
            reasons.append(f"too short ({len(text)} characters for {len(source)})")
        return Verdict(text, scores, reasons)


_WORDS = re.compile(r"\w+(?:'\w+)?")


def _core_words(text: str) -> str:
    """The span's words without the function words at its edges ("are a stupid idiot" -> "stupid idiot")."""
    from srllm.evaluate.scorers.judge import FUNCTION_WORDS

    words = _WORDS.findall(text.lower())
    while words and words[0] in FUNCTION_WORDS:
        words.pop(0)
    while words and words[-1] in FUNCTION_WORDS:
        words.pop()
    return " ".join(words)


def kept_spans(candidate: str, spans: Sequence[Any]) -> list[str]:
    """The input's harmful spans (of two or more words, or a single insult) that the candidate still contains."""
    target = " " + " ".join(_WORDS.findall(candidate.lower())) + " "
    kept = []
    for span in spans:
        words = _core_words(span.text)
        if words and (" " in words or span.label == "toxic") and f" {words} " in target:
            kept.append(span.text)
    return kept


def best(verdicts: Sequence[Verdict]) -> Verdict:
    """The best passing candidate, else the one with the fewest failed checks."""
    return max(verdicts, key=lambda v: (v.passed, -len(v.reasons), v.rank))


class GuardedRewriter:
    """`Rewriter` plus the guard loop: same `.rewrite(texts, batch_size)`, results carry a status."""

    def __init__(self, rewriter: Rewriter, guard: Guard | GuardConfig | None = None) -> None:
        self.rewriter = rewriter
        self.guard = guard if isinstance(guard, Guard) else Guard(guard)
        # The service calls `rewrite` from several threads at once (their generation is shared by
        # the decode loop); the scorers and their tokenizers are not made for concurrent calls.
        self._scoring = threading.Lock()
        if not self.guard.scorers:
            self.guard.load()
        config = self.guard.config
        self.sampler = rewriter.sampling(max(1, config.candidates - 1), temperature=config.temperature,
                                         top_p=config.top_p)

    @property
    def loaded(self):  # the CLI and the service read the model name from here
        return self.rewriter.loaded

    @property
    def method(self) -> str:
        return self.rewriter.method

    def rewrite(self, texts: Sequence[str], *, batch_size: int = 8, progress: bool = False) -> list[GuardedResult]:
        results: list[GuardedResult | None] = [None] * len(texts)
        scorable: list[int] = []
        for i, text in enumerate(texts):
            early = self._screen(text)
            if early is None:
                scorable.append(i)
            else:
                results[i] = early
        with self._scoring:
            judged = self.guard.judged([texts[i] for i in scorable])
            input_scores = self.guard.harm_scores([texts[i] for i in scorable], judged)
        pending: list[int] = []
        spans: list[Any] = []
        for i, scores, verdict in zip(scorable, input_scores, judged, strict=True):
            prefixed = {f"input_{key}": value for key, value in scores.items()}
            if self.guard.is_benign(scores):
                results[i] = self._result(texts[i], texts[i], "unchanged", prefixed, ["benign input"])
            else:
                results[i] = self._result(texts[i], "", "flagged", prefixed, [])
                results[i].spans = [dataclasses.asdict(s) for s in verdict.spans]
                pending.append(i)
                spans.append(verdict.spans)
        if pending:
            self._rewrite_pending(texts, pending, spans, results, batch_size, progress)
        return [result for result in results if result is not None]

    def _screen(self, text: str) -> GuardedResult | None:
        """A status for input the model should never see; None for input to score."""
        if not isinstance(text, str) or not text.strip():
            return self._result(text if isinstance(text, str) else "", "", "skipped", {}, ["empty input"])
        if not _HAS_WORD.search(text):
            return self._result(text, text, "unchanged", {}, ["no words to rewrite (emoji or punctuation only)"])
        try:
            self.rewriter._units([text])  # raises when the text does not fit the context
        except InputError as exc:
            message = str(exc).split(": ", 1)[-1]
            return self._result(text, "", "skipped", {}, [message])
        return None

    def _rewrite_pending(self, texts: Sequence[str], pending: list[int], spans: list[Any],
                         results: list[GuardedResult | None], batch_size: int, progress: bool) -> None:
        sources = [texts[i] for i in pending]
        first = self.rewriter.rewrite(sources, batch_size=batch_size, progress=progress)
        candidates: list[list[str]] = [[r.rewrite] for r in first]
        if self.guard.config.edit_candidate:
            for group, source, found in zip(candidates, sources, spans, strict=True):
                edited = edit_candidate(source, found) if found else ""
                if edited and edited not in group:
                    group.append(edited)
        with self._scoring:
            verdicts = self.guard.check(sources, candidates, spans)
        retry = [k for k, group in enumerate(verdicts)
                 if not any(v.passed for v in group) and first[k].chunks == 1]
        if retry and self.guard.config.candidates > 1:
            import torch

            torch.manual_seed(self.guard.config.seed)  # reproducible samples
            sampled = self.sampler.generate([sources[k] for k in retry], batch_size=batch_size)
            with self._scoring:
                extra = self.guard.check([sources[k] for k in retry], [out[0] for out in sampled],
                                         [spans[k] for k in retry])
            for k, out, more in zip(retry, sampled, extra, strict=True):
                candidates[k].extend(out[0])
                verdicts[k].extend(more)
                first[k].prompt_tokens += out[1]
                first[k].generated_tokens += out[2]
        for k, i in enumerate(pending):
            chosen = best(verdicts[k])
            result = results[i]
            assert result is not None
            result.rewrite = chosen.text
            result.status = "ok" if chosen.passed else "flagged"
            result.reasons = chosen.reasons
            result.scores.update(chosen.scores)
            result.candidates = len(candidates[k])
            result.prompt_tokens, result.generated_tokens = first[k].prompt_tokens, first[k].generated_tokens
            result.chunks = first[k].chunks

    def _result(self, text: str, rewrite: str, status: Status, scores: dict[str, float],
                reasons: list[str]) -> GuardedResult:
        return GuardedResult(
            text=text, rewrite=rewrite, model=self.rewriter.loaded.name, adapter=self.rewriter.loaded.adapter,
            method=self.rewriter.method, prompt_version=self.rewriter.prompt_version,
            status=status, scores=dict(scores), reasons=list(reasons),
        )


def load_rewriter(
    model: str | None = None,
    *,
    guard: bool = True,
    guard_config: GuardConfig | None = None,
    candidates: int | None = None,
    **rewriter_options: Any,
) -> Rewriter | GuardedRewriter:
    """`Rewriter.load(...)`, wrapped in the guard unless guard=False. Scorers load first."""
    from srllm.models import DEFAULT_MODEL

    checker = None
    if guard:
        config = guard_config or GuardConfig()
        if candidates is not None:
            config = config.model_copy(update={"candidates": candidates})
        checker = Guard(config).load()
    rewriter = Rewriter.load(model or DEFAULT_MODEL, **rewriter_options)
    return GuardedRewriter(rewriter, checker) if checker else rewriter


__all__ = ["GenerationSettings", "Guard", "GuardConfig", "GuardedResult", "GuardedRewriter", "Verdict",
           "load_rewriter", "meta_text"]
