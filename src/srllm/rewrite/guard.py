"""The guard loop: check every rewrite with the local scorers, retry, and flag what still fails.

A small model sometimes keeps the insult, drops a name, obeys an instruction hidden in the text
or answers with commentary. `GuardedRewriter` wraps `Rewriter` with the same
`.rewrite(texts, batch_size)` call and adds `status`, `scores` and `reasons` to each result:

1. Bad input never reaches the model: empty text is `skipped`; text without words (emoji,
   punctuation) and text the scorers find benign come back `unchanged`, without generation.
   An input is `unchanged` only when the judge (srllm.scorers.judge) finds no harm and
   the Jigsaw and profanity scorers agree.
2. Every other text gets a greedy rewrite (and, where GuardConfig.edit_candidate asks for it, the
   judge's edit candidate: the input with its harmful spans removed, srllm.rewrite.edit, beside the
   greedy rewrite or after every model candidate failed); each candidate is checked (the judge's toxic and
   stereotype labels, no harmful span of the input kept, Jigsaw toxicity, profanity, meaning kept,
   facts kept, no meta text, not a copy, sane length).
3. Texts whose greedy rewrite fails get `candidates - 1` sampled rewrites in one batched call
   (a retry only where needed: most rows pass first time, so the guard's cost stays near
   the scoring cost). The best passing candidate wins (`ok`).
4. A row none of whose candidates passed, but one of them kept the input's content and failed only on harm
   left in it, is refined (GuardConfig.refine): that candidate is rewritten again, marked with its own
   harmful spans, and the new candidates are checked against the input like the others.
5. When none passes, the row is `flagged` with the best candidate and the reasons, for review;
   harm is never emitted silently. A flagged row never carries a payload instead of a rewrite: a
   candidate that adds text the input has no facts for, repeats what an instruction in the input
   dictates, or repeats the prompt's own instructions is passed over for the best one that does not,
   and when every candidate does, the row carries the input with its harmful spans removed
   (`srllm.rewrite.edit`).

All scorers load when the guard is built, so a missing scorer fails before any row is rewritten.
"""

from __future__ import annotations

import difflib
import json
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from srllm.engine.protocol import RewriteResult, WrappedEngine
from srllm.engine.rewriter import GenerationSettings, Rewriter
from srllm.errors import InputError, SrllmError
from srllm.progress import collect_in_order
from srllm.prompts.marks import unmark
from srllm.rewrite.claims import claim_kept, claim_words
from srllm.rewrite.edit import edit_candidate, merged_cuts, rough_seams
from srllm.rewrite.injection import injection_cuts, instruction_payloads, obeyed_payload, rewrite_target
from srllm.rewrite.marking import harmful_spans, model_inputs, with_marks
from srllm.rewrite.sentences import Split, assemble, overlaps, sentence_bounds, worth_splitting
from srllm.scorers.embeddings import cosine_matrix
from srllm.scorers.set import ScorerSet
from srllm.text.facts import added_facts, age_numbers, content_words, extract_facts, missing_facts, new_words, words
from srllm.text.lexicon import Term, coded_terms, kept_terms
from srllm.text.meta import meta_text
from srllm.text.nouns import dropped_nouns, key_nouns, tagger

Status = Literal["ok", "unchanged", "flagged", "skipped"]
SCORERS = ("judge", "toxicity", "profanity", "bias", "similarity")
# What `Guard.harm_scores` gives for a text: the judge's toxic and stereotype, Jigsaw toxicity, profanity, bias.
HARM_KEYS = ("toxic", "stereotype", "toxicity", "profanity", "bias")
# Every key of a result's `scores`, on every row: the input's harm (`input_` keys) and the chosen
# candidate's checks. A row that skipped a stage (an unchanged input has no candidate, a skipped one no
# scores) holds None there, so every row has one shape and `datasets` / Arrow type `scores` as a struct.
SCORE_KEYS = (*(f"input_{key}" for key in HARM_KEYS), *HARM_KEYS, "similarity", "facts_missing")


# GuardConfig.refine's bound: each refining round is another generation pass over the rows it refines.
MAX_REFINE = 3


class GuardConfig(BaseModel):
    """Thresholds of the guard; every field can be overridden (CLI: --guard-config FILE.json).

    Defaults were tuned on srllm's development cases (README.md, "The guard").
    """

    model_config = ConfigDict(extra="forbid")

    # 8: on the dev cases 74.7 % / 70.0 % pass (batch 16 / 8) against 68.7 % / 68.7 % with 4, the flag rate
    # falls from 34 % / 31 % to 26 % / 26 % of harmful rows, at about 1.1x the time (only failing rows are
    # retried); 16 passed 72.7 % at 2.2x the time with more silent harm. benchmarks/results/quality.md.
    candidates: int = Field(8, ge=1, le=16, description="greedy + (candidates - 1) sampled retries")
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
    # ... and, where the MiniLM bias head still scores a candidate above max_bias, lower it by at least
    # min_bias_drop from the input's score: a rewrite the head rates as biased as its input mostly kept the
    # stereotype in other words (None turns the check off). The head alone is a poor absolute detector
    # (benchmarks/results/judge.md), so it judges the change, not the level.
    max_bias: float = 0.5
    min_bias_drop: float | None = 0.1
    # The judge's edit candidate (the input minus its harmful spans): "off"; "first", checked beside the
    # greedy rewrite (it then pre-empts the sampled retries wherever it passes); "last", checked only for a
    # row whose greedy and sampled candidates all failed, so it can turn a flag into `ok` but never replaces a
    # passing model rewrite. true/false mean "first"/"off". "first" cut the dev-case flag rate
    # (31 % -> 14 % of harmful rows) but more rows came back `ok` while still harmful (silent harm 17 % -> 27 %)
    # and fewer passed (68 % -> 65 %).
    edit_candidate: Literal["off", "first", "last"] = "off"
    # An edit candidate whose cuts leave a seam the default LM finds this improbable (nats; None: no check)
    # is not offered: "The for the job will be a." (srllm.rewrite.edit.rough_seams).
    edit_max_seam_nll: float | None = 8.0
    # ... keep the meaning (cosine of MiniLM embeddings with the input) ...
    min_similarity: float = 0.6
    # ... and not be a copy of a harmful input, nor much longer or shorter than it.
    max_copy_ratio: float = 0.97
    max_length_ratio: float = 2.0
    length_slack: int = 40
    min_length_ratio: float = 0.3
    require_facts: bool = True
    # ... and its key nouns outside the harmful spans (srllm.text.nouns: "the sidewalks", "the receptionist"),
    # each as the same word or, where `noun_similarity` is set, a word at least that close in meaning.
    require_nouns: bool = True
    noun_similarity: float | None = Field(0.6, ge=0, le=1)
    # ... and not add to it: more names and numbers than this that the input lacks fail ("adds text not in
    # the input"). Of the 4,190 human reference rewrites in data/mix none adds two; 22 add one ("US", "CVs").
    max_added_facts: int = Field(1, ge=0)
    # A candidate that lost the meaning and whose content words are mostly (this share) new answers
    # something else than the input: an injected question, a joke, the model's own chatter.
    max_new_words: float = Field(0.5, ge=0, le=1)
    # Rewrite only the harmful sentences of an input whose other sentences the screen finds benign; those are
    # kept word for word (srllm.rewrite.sentences).
    per_sentence: bool = False
    # Refining rounds for a row none of whose candidates passed: its best candidate that kept the input's
    # content and failed only on harm (a clause, an insult or a coded word left in) is rewritten again as if
    # it were the input, its own harmful spans marked (greedy + the same sampled retries), and the new
    # candidates are checked against the row's input. A second pass removes a leftover the first left in.
    # 1: on the dev cases 79.3 % pass against 76.0 % with 0 (5 rows gained, none lost), the flag rate falls from
    # 30.8 % to 24.8 % of harmful rows, silent harm stays 9.3 %, at about the same time; 2 passed 78.7 %.
    refine: int = Field(1, ge=0, le=MAX_REFINE)
    # A passing candidate that still has this share or more of a stereotype span's claim words (at least two
    # of them; srllm.rewrite.claims) is suspect: "As a woman, Keiko will probably need extra help" -> "Keiko
    # will need extra help" names no group, so the judge passes it. A row whose passing candidates
    # are all suspect still gets its sampled retries, and a passing candidate that is not suspect is chosen
    # before one that is; a suspect one is returned `ok` when nothing better passed (None: no such check).
    max_claim_kept: float | None = Field(0.5, gt=0, le=1)

    @field_validator("edit_candidate", mode="before")
    @classmethod
    def _edit_mode(cls, value: Any) -> Any:
        return {True: "first", False: "off"}.get(value, value) if isinstance(value, bool) else value

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
    scores: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(SCORE_KEYS))
    reasons: list[str] = field(default_factory=list)
    candidates: int = 0
    spans: list[dict[str, Any]] = field(default_factory=list)  # the judge's harmful spans of the input


# The note an `ok` row carries when its rewrite is suspect of keeping a stereotype's claim (max_claim_kept).
CLAIM_NOTE = "passed, but may keep the stereotype's claim"


@dataclass
class Verdict:
    """One candidate's checks: `reasons` is empty when it passes."""

    text: str
    scores: dict[str, float]
    reasons: list[str]
    # The share of a stereotype's claim words it kept, where that makes it suspect (GuardConfig.max_claim_kept).
    claim: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.reasons

    @property
    def settled(self) -> bool:
        """Passed, and not suspect of keeping a stereotype's claim: no retry can improve on it."""
        return self.passed and not self.claim

    @property
    def payload(self) -> bool:
        """Whether the candidate is something other than a rewrite of the input (see PAYLOAD_REASONS)."""
        return any(reason.startswith(PAYLOAD_REASONS) for reason in self.reasons)

    @property
    def harm_only(self) -> bool:
        """Whether it fails only because harm is left in it (HARM_REASONS): its content is all there."""
        return bool(self.reasons) and all(reason.startswith(HARM_REASONS) for reason in self.reasons)

    @property
    def rank(self) -> float:
        # Meaning kept, minus what harm is left: picks between passing candidates too.
        harm = max(self.scores.get("toxicity", 0.0), self.scores.get("profanity", 0.0))
        judged = max(self.scores.get("toxic", 0.0), self.scores.get("stereotype", 0.0))
        return self.scores.get("similarity", 0.0) - 0.5 * harm - 0.5 * judged - self.claim


class Screened(NamedTuple):
    """A text as the screen sees it (`Guard.screen`): its harmful spans (the judge's and the lexicon's), its
    scores (`harm_scores`) and whether it is benign (`is_benign`)."""

    text: str
    spans: list[Any]
    scores: dict[str, float]
    benign: bool

    @property
    def harm(self) -> dict[str, float]:
        """What the bias-change check compares a candidate with: the judge's toxic and the bias head's score."""
        return {"toxic": self.scores["toxic"], "bias": self.scores["bias"]}


_HAS_WORD = re.compile(r"[^\W_]", re.UNICODE)

# Reasons that make a candidate a payload rather than a rewrite: a flagged row never carries one.
ADDS_TEXT = "adds text not in the input"
DROPS_CONTENT = "content dropped"
FOLLOWS_INSTRUCTION = "follows an instruction in the input"
REPEATS_PROMPT = "repeats the prompt's instructions"
PAYLOAD_REASONS = (ADDS_TEXT, FOLLOWS_INSTRUCTION, REPEATS_PROMPT)
# Reasons that say what harm a candidate still carries, not what it lost: a candidate failing only on these
# kept the input's content and is worth refining (GuardConfig.refine). `_verdict` writes them from these names.
TOXIC = "toxic ("
STEREOTYPE = "stereotype ("
SPAN_KEPT = "harmful span kept"
TERM_KEPT = "coded or censored word kept"
BIAS_KEPT = "bias not reduced"
TOXIC_JIGSAW = "toxic per Jigsaw"
PROFANE = "profane"
HARM_REASONS = (TOXIC, STEREOTYPE, SPAN_KEPT, TERM_KEPT, BIAS_KEPT, TOXIC_JIGSAW, PROFANE)
# The prompt's words a candidate may share in a row before it is repeating the prompt, not the input.
_PROMPT_RUN = 8

def repeated_prompt(candidate: str, source: str, prompt: str) -> str | None:
    """A run of the prompt's words (system prompt, instruction) in `candidate` that `source` lacks: a leak."""
    said, told = words(candidate), words(prompt)
    match = difflib.SequenceMatcher(None, said, told, autojunk=False).find_longest_match(0, len(said), 0, len(told))
    if match.size < _PROMPT_RUN:
        return None
    phrase = " ".join(said[match.a: match.a + match.size])
    return None if phrase in " ".join(words(source)) else phrase


class Guard:
    """Scores inputs and candidates with the local scorers and decides what passes."""

    def __init__(self, config: GuardConfig | None = None) -> None:
        self.config = config or GuardConfig()
        self.scorers = ScorerSet(SCORERS)
        self._seam_lm: Any = None

    def load(self, *, warm_up: bool = True) -> Guard:
        """Load every scorer now, naming the one that fails (never half-way through a batch). warm_up also
        scores a short text with each (a service's first request is then as fast as the next); a one-shot
        command skips it: its own first call pays the same cost once."""
        for name in SCORERS:
            try:
                self.scorers.load([name], warm_up=warm_up)
            except Exception as exc:  # any failure to load is the same problem for the user
                raise SrllmError(
                    f"the guard's '{name}' scorer could not load ({exc}); fix it, or pass --no-guard "
                    "to rewrite without checking the output"
                ) from exc
        if self.config.require_nouns:
            tagger()  # a missing tagger is named at load, not at the first candidate
        return self

    @property
    def judge(self) -> Any:
        return self.scorers.judge

    def edit(self, source: str, spans: Sequence[Any]) -> str:
        """The judge's edit candidate of `source` ('' where it has no spans, nothing is left, or a cut left a
        rough seam: `rough_seams` under the default model, loaded on first use)."""
        edited = edit_candidate(source, spans) if spans else ""
        if not edited or self.config.edit_max_seam_nll is None:
            return edited
        if self._seam_lm is None:
            from srllm.models import DEFAULT_MODEL
            from srllm.scorers.perplexity import CausalLMPerplexity

            lm = CausalLMPerplexity(model_name=DEFAULT_MODEL)
            lm.load()
            self._seam_lm = lm
        return "" if rough_seams(source, edited, self._seam_lm, self.config.edit_max_seam_nll) else edited

    def judged(self, texts: Sequence[str]) -> list[Any]:
        """The judge's result (labels, spans) for each text."""
        return self.scorers.judged(texts)

    def harm_scores(self, texts: Sequence[str], judged: Sequence[Any] | None = None) -> list[dict[str, float]]:
        """The judge's toxic and stereotype, Jigsaw toxicity (max label) and profanity of each text."""
        if not texts:
            return []
        if not self.scorers.built:
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

    def is_benign(self, scores: dict[str, float], text: str = "") -> bool:
        """Benign by every scorer, and without a word the lexicon flags (`coded_terms`: censored profanity,
        coded wording in a job posting) that the scorers cannot read."""
        c = self.config
        if text and coded_terms(text):
            return False
        return (max(scores["toxic"], scores["stereotype"]) <= self.benign_harm
                and scores["toxicity"] <= c.benign_toxicity and scores["profanity"] <= c.benign_profanity
                and scores["bias"] <= c.benign_bias)

    def screen(self, texts: Sequence[str]) -> list[Screened]:
        """Each text judged and scored as an input is (the guarded rewriter's screen, its cut targets, and
        self-training's inputs all ask this)."""
        texts = list(texts)
        judged = self.judged(texts) if texts else []
        scores = self.harm_scores(texts, judged)
        return [Screened(text, harmful_spans(text, verdict.spans), found, self.is_benign(found, text))
                for text, verdict, found in zip(texts, judged, scores, strict=True)]

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
              source_spans: Sequence[Sequence[Any]] | None = None, *, prompt: str = "",
              source_harm: Sequence[dict[str, float]] | None = None,
              originals: Sequence[str] | None = None) -> list[list[Verdict]]:
        """Verdicts for each source's candidates; all candidates are scored in one batch.

        `source_spans`: the judge's harmful spans of each source (judged here when not given).
        `prompt`: the instructions the model was given, which a candidate must not repeat.
        `source_harm`: each source's `harm_scores` ("toxic" and "bias" are read) where the caller has them
        (scored here when not given).
        `originals`: where a source is the `rewrite_target` of a user's text, that text: whether a candidate
        obeys an instruction or leaks the prompt is read from it (default: the sources)."""
        originals = sources if originals is None else originals
        judged = None
        if source_spans is None:
            judged = self.judged(sources)
            source_spans = [j.spans for j in judged]
        pairs = [(i, text) for i, group in enumerate(candidates) for text in group]
        flat = [text if text.strip() else " " for _, text in pairs]
        harm = self.harm_scores(flat)
        checks_bias = self.config.min_bias_drop is not None and bool(flat)
        source_bias = self._source_bias(sources, source_harm, judged) if checks_bias else [0.0] * len(sources)
        similarity = self.scorers["similarity"].score_pairs([sources[i] for i, _ in pairs], flat) if flat else []
        checks_words = self.config.require_facts or self.config.require_nouns
        excluded = [self.harmful_words(source, spans) | harm_numbers(source, spans) | _payload_words(original)
                    if checks_words
                    else set() for source, original, spans in zip(sources, originals, source_spans, strict=True)]
        nouns = (key_nouns(sources, [[(s.start, s.end) for s in spans] for spans in source_spans], excluded)
                 if self.config.require_nouns and flat else [[] for _ in sources])
        claims = ([claim_words(source, spans) for source, spans in zip(sources, source_spans, strict=True)]
                  if self.config.max_claim_kept is not None else [[] for _ in sources])
        verdicts: list[list[Verdict]] = [[] for _ in sources]
        for (i, text), scores, sim in zip(pairs, harm, similarity, strict=True):
            scores = {**scores, "similarity": sim["similarity"], "bias_input": source_bias[i]}
            verdict = self._verdict(sources[i], text, scores, excluded[i], source_spans[i], prompt, originals[i],
                                    nouns[i])
            if claims[i] and (kept := claim_kept(claims[i], text)) >= self.config.max_claim_kept:
                verdict.claim = kept
            verdicts[i].append(verdict)
        return verdicts

    def dropped_nouns(self, source: str, nouns: Sequence[str], text: str) -> list[str]:
        """The source's key `nouns` the candidate lacks (srllm.text.nouns.dropped_nouns)."""
        threshold = self.config.noun_similarity
        if threshold is None:
            return dropped_nouns(nouns, text)
        path = getattr(self.scorers["similarity"], "model_path", None)
        return dropped_nouns(nouns, text, lambda words, others: cosine_matrix(words, others, path), threshold,
                             source=source)

    def _source_bias(self, sources: Sequence[str], harm: Sequence[dict[str, float]] | None = None,
                     judged: Sequence[Any] | None = None) -> list[float]:
        """The bias head's score of each source, for the bias-change check; 0 for a source the judge finds
        toxic: the head scores insults as high as stereotypes ("You are an idiot." 0.80), so on an insult it
        measures the insult, which the toxicity checks already judge, and a rewrite rarely moves it enough
        (on the ParaDetox slice it flagged a third of the rows)."""
        if harm is None:
            bias = [b["bias"] for b in self.scorers["bias"].score(list(sources))]
            toxic = [j.toxic or 0.0 for j in (judged if judged is not None else self.judged(sources))]
            harm = [{"bias": b, "toxic": t} for b, t in zip(bias, toxic, strict=True)]
        return [h["bias"] if h["toxic"] <= self.config.max_toxic else 0.0 for h in harm]

    def _verdict(self, source: str, text: str, scores: dict[str, float], excluded: set[str],
                 spans: Sequence[Any] = (), prompt: str = "", original: str | None = None,
                 nouns: Sequence[str] = ()) -> Verdict:
        c = self.config
        # The source's score for the bias-change check, not one of the row's score keys (SCORE_KEYS).
        bias_input = scores.pop("bias_input", 0.0)
        missing = missing_facts(source, text, exclude=excluded) if c.require_facts else []
        scores["facts_missing"] = float(len(missing))  # also for an empty rewrite: every checked row has a number
        if not text.strip():
            return Verdict(text, scores, ["empty rewrite"])
        reasons = []
        if scores["toxic"] > c.max_toxic:
            reasons.append(f"{TOXIC}{scores['toxic']:.2f} > {c.max_toxic})")
        if scores["stereotype"] > c.max_stereotype:
            reasons.append(f"{STEREOTYPE}{scores['stereotype']:.2f} > {c.max_stereotype})")
        if kept := kept_spans(text, spans):
            reasons.append(f"{SPAN_KEPT}: " + "; ".join(f"'{k}'" for k in kept))
        if terms := kept_terms(source, text):
            reasons.append(f"{TERM_KEPT}: " + "; ".join(_term_note(t) for t in terms))
        if _bias_kept(scores["bias"], bias_input, c):
            reasons.append(f"{BIAS_KEPT} ({scores['bias']:.2f}, input {bias_input:.2f})")
        if scores["toxicity"] > c.max_toxicity:
            reasons.append(f"{TOXIC_JIGSAW} ({scores['toxicity']:.2f} > {c.max_toxicity})")
        if scores["profanity"] > c.max_profanity:
            reasons.append(f"{PROFANE} ({scores['profanity']:.2f} > {c.max_profanity})")
        if scores["similarity"] < c.min_similarity:
            reasons.append(f"meaning lost (similarity {scores['similarity']:.2f} < {c.min_similarity})")
        if missing:
            reasons.append("facts dropped: " + ", ".join(fact.text for fact in missing))
        if nouns and (dropped := self.dropped_nouns(source, nouns, text)):
            reasons.append(f"{DROPS_CONTENT}: " + ", ".join(dropped))
        if meta := meta_text(text, source):
            reasons.append("meta text: " + "; ".join(meta))
        reasons += self._payload_reasons(source, text, scores, prompt, original or source)
        copy = difflib.SequenceMatcher(None, source, text).ratio()
        if copy >= c.max_copy_ratio:
            reasons.append(f"copy of the harmful input (ratio {copy:.2f})")
        if len(text) > c.max_length_ratio * len(source) + c.length_slack:
            reasons.append(f"too long ({len(text)} characters for {len(source)})")
        if len(text) < c.min_length_ratio * len(source):
            reasons.append(f"too short ({len(text)} characters for {len(source)})")
        return Verdict(text, scores, reasons)


    def _payload_reasons(self, source: str, text: str, scores: dict[str, float], prompt: str,
                         original: str) -> list[str]:
        """Why the candidate is not a rewrite of the input but text from elsewhere (PAYLOAD_REASONS)."""
        c = self.config
        reasons = []
        added = added_facts(source, text)
        if len(added) > c.max_added_facts:
            reasons.append(f"{ADDS_TEXT}: " + ", ".join(fact.text for fact in added))
        elif scores["similarity"] < c.min_similarity:
            new, total = new_words(source, text), len(content_words(text))
            if total and len(new) > c.max_new_words * total:
                reasons.append(f"{ADDS_TEXT}: {len(new)} of its {total} content words are new")
        if payload := obeyed_payload(text, original, source):
            reasons.append(f"{FOLLOWS_INSTRUCTION}: it repeats '{_short(payload)}'")
        if prompt and (leak := repeated_prompt(text, original, prompt)):
            reasons.append(f"{REPEATS_PROMPT}: '{_short(leak)}'")
        return reasons


def _joined(result: GuardedResult, split: Split) -> GuardedResult:
    """A split row's result: its sentences put back together (srllm.rewrite.sentences.assemble)."""
    rewrite, failed, reasons, scores, counts = assemble(split)
    result.rewrite, result.status, result.reasons = rewrite, "flagged" if failed else "ok", reasons
    result.scores.update(scores)
    result.candidates, result.prompt_tokens, result.generated_tokens = (
        counts["candidates"], counts["prompt_tokens"], counts["generated_tokens"])
    return result


def _span_dict(span: Any) -> dict[str, Any]:
    return {"start": span.start, "end": span.end, "label": span.label, "text": span.text,
            "score": round(float(span.score), 4)}


def _input_harm(result: GuardedResult) -> dict[str, float]:
    """The input's judge toxic and bias-head score, as the screen scored them (the row's `input_` scores)."""
    return {"toxic": result.scores["input_toxic"] or 0.0, "bias": result.scores["input_bias"] or 0.0}


def _bias_kept(bias: float, bias_input: float, config: GuardConfig) -> bool:
    if config.min_bias_drop is None or bias <= config.max_bias or not bias_input:
        return False
    return bias > bias_input - config.min_bias_drop


def _term_note(term: Any) -> str:
    if term.neutral:
        return f"'{term.text}' (neutral: '{term.neutral}')"
    return f"'{term.text}'"


def _without_injection(source: str, spans: Sequence[Any]) -> str:
    """The input minus the judge's harmful spans and the injection, tidied (`edit_candidate`: a span by
    itself still gets its word-list replacement, "salesman" -> "salesperson")."""
    return edit_candidate(source, merged_cuts([*spans, *injection_cuts(source)]))


def harm_numbers(source: str, spans: Sequence[Any]) -> set[str]:
    """Numbers of the source that are the harm, so a rewrite need not keep them: every number in one of its
    lexicon terms ("with no more than 5 years of experience", whose neutral form deletes it) and the ages
    inside the judge's `spans` ("At 63 he's too old to learn", "aged 22–28"). The facts check used to require
    these, so it failed the rewrites that dropped the stereotype (and the lexicon's own edit) and preferred
    the ones that carried the age on."""
    judged = [(span.start, span.end) for span in spans if not isinstance(span, Term)]
    found = {fact.text for term in coded_terms(source) for fact in extract_facts(term.text) if fact.kind == "number"}
    return found | set(age_numbers(source, judged))


def _payload_words(source: str) -> set[str]:
    """Names and numbers inside an instruction's payload: the attacker's dictated answer, not facts of
    the text that a rewrite must keep."""
    return {fact.text for payload in instruction_payloads(source) for fact in extract_facts(payload)}


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_WORDS = re.compile(r"\w+(?:'\w+)?")


def _core_words(text: str) -> str:
    """The span's words without the function words at its edges ("are a stupid idiot" -> "stupid idiot")."""
    from srllm.scorers.judge import FUNCTION_WORDS

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


def refine_draft(verdicts: Sequence[Verdict], refined: set[str]) -> Verdict | None:
    """The candidate a refining round rewrites again (GuardConfig.refine): where none passed, the best one
    that failed only on harm left in it and is not in `refined` yet; None where there is none."""
    if any(v.passed for v in verdicts):
        return None
    drafts = [v for v in verdicts if v.harm_only and v.text not in refined]
    return best(drafts) if drafts else None


class _Row:
    """One pending row of GuardedRewriter's loop: what it is rewritten and checked as, and its candidates and
    verdicts so far. `first` is the greedy rewrite; the retries' and refining rounds' tokens are added to it."""

    def __init__(self, position: int, pending: tuple[int, GuardedResult, list[Any]], target: Screened | None,
                 original: str) -> None:
        self.position = position  # in the pending list: retried and refined rows are batched in this order
        self.index, self.result, spans = pending
        self.original = original
        self.source = target.text if target is not None else original
        self.spans = target.spans if target is not None else spans
        self.harm = target.harm if target is not None else _input_harm(self.result)
        self.input = ""  # what the model was given (marked, for a marked template)
        self.first: RewriteResult | None = None
        self.candidates: list[str] = []
        self.verdicts: list[Verdict] = []
        self.refined: set[str] = set()  # drafts a refining round has rewritten

    @property
    def passed(self) -> bool:
        return any(v.passed for v in self.verdicts)

    @property
    def settled(self) -> bool:
        return any(v.settled for v in self.verdicts)

    def count_tokens(self, out: RewriteResult) -> None:
        self.first.prompt_tokens += out.prompt_tokens
        self.first.generated_tokens += out.generated_tokens


class GuardedRewriter(WrappedEngine):
    """`Rewriter` plus the guard loop: same `.rewrite(texts, batch_size)`, results carry a status. A
    `RewriteEngine` whose backend, model, adapter, method and prompt version are the Rewriter's."""

    def __init__(self, rewriter: Rewriter, guard: Guard | GuardConfig | None = None) -> None:
        self.rewriter = rewriter
        self.guard = guard if isinstance(guard, Guard) else Guard(guard)
        # The service calls `rewrite` from several threads at once (their generation is shared by
        # the decode loop); the scorers and their tokenizers are not made for concurrent calls.
        self._scoring = threading.Lock()
        if not self.guard.scorers.built:
            self.guard.load()
        config = self.guard.config
        # Each row's samples are seeded by the config's seed and the row's text, so a row gets the same
        # retries whichever rows fail beside it (the service's batches, a file's resume, a benchmark).
        self.sampler = rewriter.sampling(max(1, config.candidates - 1), temperature=config.temperature,
                                         top_p=config.top_p, seed=config.seed)

    @property
    def loaded(self):  # the CLI and the service read the model name from here
        return self.rewriter.loaded

    def rewrite(self, texts: Sequence[str], *, batch_size: int = 8, progress: bool = False) -> list[GuardedResult]:
        return collect_in_order(self.rewrite_stream(texts, batch_size=batch_size), len(texts), progress)

    def rewrite_stream(self, texts: Sequence[str], *, batch_size: int = 8) -> Iterator[tuple[int, GuardedResult]]:
        """(index, result) for each text as soon as it is decided, in the order they are: screened inputs
        first, then each greedy rewrite that passes its checks as it finishes, then the retried rows as
        their samples finish. `rewrite` is this, collected."""
        scorable: list[int] = []
        for i, text in enumerate(texts):
            early = self._screen(text)
            if early is None:
                scorable.append(i)
            else:
                yield i, early
        with self._scoring:
            screened = self.guard.screen([texts[i] for i in scorable])
        pending: list[tuple[int, GuardedResult, list[Any]]] = []
        for i, seen in zip(scorable, screened, strict=True):
            prefixed = {f"input_{key}": value for key, value in seen.scores.items()}
            if seen.benign:
                yield i, self._result(texts[i], texts[i], "unchanged", prefixed, ["benign input"])
            else:
                result = self._result(texts[i], "", "flagged", prefixed, [])
                result.spans = [_span_dict(s) for s in seen.spans]
                pending.append((i, result, seen.spans))
        targets = self._targets(texts, pending)
        for i, result, _ in pending:
            if i in targets and targets[i].benign:
                result.rewrite, result.status = targets[i].text, "ok"
                result.reasons = ["only the instructions to the model were harmful: they were cut"]
                yield i, result
        pending = [row for row in pending if row[0] not in targets or not targets[row[0]].benign]
        if not pending:
            return
        splits = self._splits(texts, pending, targets) if self.guard.config.per_sentence else {}
        if not splits:
            yield from self._rewrite_pending(texts, pending, batch_size, targets)
            return
        yield from self._rewrite_split(texts, pending, splits, batch_size, targets)

    def _splits(self, texts: Sequence[str], pending: list[tuple[int, GuardedResult, list[Any]]],
                targets: dict[int, Screened]) -> dict[int, tuple[Split, list[Screened]]]:
        """The pending rows worth rewriting sentence by sentence, with each sentence's screen. A sentence is harmful
        when its own screen says so or when it holds a span the judge found in the whole text ("Put the mother's
        number first" is benign alone, not after "Dads just aren't wired for caregiving."). A row that speaks
        to the model (in `targets`) stays whole: its instructions are cut from the whole text."""
        bounds = {i: sentence_bounds(texts[i]) for i, _, _ in pending if i not in targets}
        bounds = {i: b for i, b in bounds.items() if len(b) > 1}
        if not bounds:
            return {}
        pieces = [(i, texts[i][start:end].strip()) for i, b in bounds.items() for start, end in b]
        with self._scoring:
            screened = self.guard.screen([text for _, text in pieces])
        by_row: dict[int, list[Screened]] = {}
        for (i, _), seen in zip(pieces, screened, strict=True):
            by_row.setdefault(i, []).append(seen)
        spans = {i: found for i, _, found in pending}
        splits = {}
        for i, seen in by_row.items():
            harmful = [not s.benign or overlaps(spans[i], bound) for s, bound in zip(seen, bounds[i], strict=True)]
            if worth_splitting(harmful):
                splits[i] = (Split(texts[i], bounds[i], harmful), seen)
        return splits

    def _rewrite_split(self, texts: Sequence[str], pending: list[tuple[int, GuardedResult, list[Any]]],
                       splits: dict[int, tuple[Split, list[Screened]]], batch_size: int,
                       targets: dict[int, Screened]) -> Iterator[tuple[int, GuardedResult]]:
        """`_rewrite_pending` over the whole rows and the split rows' harmful sentences together; a split row is
        yielded, put back together, once its last sentence is decided."""
        extended, rows, owner = list(texts), [], {}
        parents = {i: result for i, result, _ in pending}
        for i, result, found in pending:
            if i not in splits:
                rows.append((i, result, found))
                continue
            split, seen = splits[i]
            for k in split.pending:
                owner[len(extended)] = (i, k)
                sentence = split.sentence(k)
                scores = {f"input_{key}": value for key, value in seen[k].scores.items()}
                rows.append((len(extended), self._result(sentence, "", "flagged", scores, []), seen[k].spans))
                extended.append(sentence)
        for index, result in self._rewrite_pending(extended, rows, batch_size, targets):
            if index not in owner:
                yield index, result
                continue
            i, k = owner[index]
            split = splits[i][0]
            split.results[k] = result
            if split.done:
                yield i, _joined(parents[i], split)

    def _targets(self, texts: Sequence[str],
                 pending: list[tuple[int, GuardedResult, list[Any]]]) -> dict[int, Screened]:
        """For each pending row whose text speaks to the model (`rewrite_target` differs), the text to rewrite
        instead, judged on its own: its spans and harm, and whether it is benign without the instructions."""
        changed = {i: target for i, _, _ in pending if (target := rewrite_target(texts[i])) != texts[i]}
        if not changed:
            return {}
        with self._scoring:
            screened = self.guard.screen(list(changed.values()))
        return dict(zip(changed, screened, strict=True))

    def _screen(self, text: str) -> GuardedResult | None:
        """A status for input the model should never see; None for input to score."""
        if not isinstance(text, str) or not text.strip():
            return self._result(text if isinstance(text, str) else "", "", "skipped", {}, ["empty input"])
        if not _HAS_WORD.search(text):
            return self._result(text, text, "unchanged", {}, ["no words to rewrite (emoji or punctuation only)"])
        if problem := self.rewriter.input_problem(text):  # e.g. it does not fit the context
            return self._result(text, "", "skipped", {}, [problem])
        return None

    def _rewrite_pending(self, texts: Sequence[str], pending: list[tuple[int, GuardedResult, list[Any]]],
                         batch_size: int, targets: dict[int, Screened]) -> Iterator[tuple[int, GuardedResult]]:
        """Each pending row's greedy rewrite is checked as it finishes (its own scoring call, so a row's
        verdict does not depend on which rows finished beside it); a row that passes is done. The rows
        that fail get their sampled retries together afterwards, each seeded by the guard's seed and its text,
        then the refining rounds (GuardConfig.refine). A row in `targets` is rewritten and checked as its
        target text (the input without what it says to the model); whether a candidate obeys the input's
        instructions is still read from the input."""
        rows = [_Row(k, row, targets.get(row[0]), texts[row[0]]) for k, row in enumerate(pending)]
        prompt = self._prompt_text()
        retry: list[_Row] = []
        refine: list[_Row] = []
        edit_mode = self.guard.config.edit_candidate
        inputs = model_inputs(self.rewriter, [row.source for row in rows], [row.spans for row in rows])
        for k, out in self.rewriter.rewrite_stream(inputs, batch_size=batch_size):
            row = rows[k]
            row.input, row.first = inputs[k], out
            first = [unmark(out.rewrite)]
            if edit_mode == "first":
                first += self._edit(row, first)
            self._check(row, first, prompt)
            if self.guard.config.candidates > 1 and not row.settled and out.chunks == 1:
                retry.append(row)
                continue
            if edit_mode == "last":
                self._add_edit(row, prompt)
            if self._refinable(row) and out.chunks == 1:
                refine.append(row)
                continue
            yield self._decided(row, prompt)
        if retry:
            yield from self._retry(retry, refine, prompt, batch_size)
        for round_ in range(1, self.guard.config.refine + 1):
            if not refine:
                break
            current, refine = sorted(refine, key=lambda row: row.position), []
            yield from self._refine(current, refine, prompt, batch_size, last=round_ == self.guard.config.refine)

    def _refinable(self, row: _Row) -> bool:
        """Whether a row gets a refining round (GuardConfig.refine): none of its candidates passed and one
        not refined yet failed only on harm left in it."""
        return self.guard.config.refine > 0 and refine_draft(row.verdicts, row.refined) is not None

    def _retry(self, retry: list[_Row], refine: list[_Row], prompt: str,
               batch_size: int) -> Iterator[tuple[int, GuardedResult]]:
        """The sampled retries of the rows whose greedy rewrite failed; a row still failing that can be
        refined is added to `refine` instead of being decided."""
        import torch

        retry.sort(key=lambda row: row.position)  # the sampled batch does not depend on the order rows finished in
        torch.manual_seed(self.guard.config.seed)  # engines without per-row seeds (prefix adapters' generate())
        for r, out in self.sampler.generate_stream([row.input for row in retry], batch_size=batch_size):
            row = retry[r]
            self._check(row, [unmark(text) for text in out.candidates], prompt)
            if self.guard.config.edit_candidate == "last":
                self._add_edit(row, prompt)
            row.count_tokens(out)
            if self._refinable(row):
                refine.append(row)
                continue
            yield self._decided(row, prompt)

    def _refine(self, refine: list[_Row], again: list[_Row], prompt: str, batch_size: int,
                last: bool) -> Iterator[tuple[int, GuardedResult]]:
        """One round of GuardConfig.refine: each row's best harm-only candidate not refined yet is rewritten
        again, marked with its own spans, greedy and sampled; the new candidates are checked against the row's
        source, as every candidate is. A row still failing goes to `again` unless this is the `last` round."""
        drafts = [refine_draft(row.verdicts, row.refined).text for row in refine]
        for row, draft in zip(refine, drafts, strict=True):
            row.refined.add(draft)
        with self._scoring:
            seen = self.guard.screen(drafts)
        inputs = model_inputs(self.rewriter, drafts, [s.spans for s in seen])
        more: dict[int, list[str]] = {r: [] for r in range(len(refine))}
        for r, out in self.rewriter.rewrite_stream(inputs, batch_size=batch_size):
            more[r].append(unmark(out.rewrite))
            refine[r].count_tokens(out)
        if self.guard.config.candidates > 1:
            import torch

            torch.manual_seed(self.guard.config.seed)  # as in `_retry`: engines without per-row seeds
            for r, out in self.sampler.generate_stream(inputs, batch_size=batch_size):
                more[r].extend(unmark(text) for text in out.candidates)
                refine[r].count_tokens(out)
        for r, row in enumerate(refine):
            new = [text for text in dict.fromkeys(more[r]) if text not in row.candidates]
            if new:
                self._check(row, new, prompt)
            if not last and self._refinable(row):
                again.append(row)
                continue
            yield self._decided(row, prompt)

    def _check(self, row: _Row, texts: list[str], prompt: str) -> None:
        """Check `texts` as candidates of the row (against its source, with its spans and harm) and add them."""
        with self._scoring:
            [checked] = self.guard.check([row.source], [texts], [row.spans], prompt=prompt,
                                         source_harm=[row.harm], originals=[row.original])
        row.candidates.extend(texts)
        row.verdicts.extend(checked)

    def _edit(self, row: _Row, candidates: list[str]) -> list[str]:
        """The judge's edit candidate of the row's source (`Guard.edit`) as a one-item list; empty where there
        is none or it is already among `candidates`."""
        with self._scoring:
            edited = self.guard.edit(row.source, row.spans)
        return [edited] if edited and edited not in candidates else []

    def _add_edit(self, row: _Row, prompt: str) -> None:
        """edit_candidate "last": a row none of whose model candidates passed gets the edit candidate too."""
        if not row.passed and (extra := self._edit(row, row.candidates)):
            self._check(row, extra, prompt)

    def _decided(self, row: _Row, prompt: str) -> tuple[int, GuardedResult]:
        """The row's result from its best candidate (`_choose`)."""
        result = row.result
        [chosen] = self._choose([row.source], [row.spans], [row.verdicts], prompt, [row.harm], [row.original])
        result.rewrite = chosen.text
        result.status = "ok" if chosen.passed else "flagged"
        result.reasons = chosen.reasons or ([f"{CLAIM_NOTE} ({chosen.claim:.0%} of its words; no passing candidate "
                                              "kept less)"] if chosen.claim else [])
        result.scores.update(chosen.scores)
        result.candidates = len(row.candidates)
        result.prompt_tokens, result.generated_tokens = row.first.prompt_tokens, row.first.generated_tokens
        result.chunks = row.first.chunks
        return row.index, result

    def _prompt_text(self) -> str:
        """The instructions the model gets around the text (a candidate repeating them leaks them)."""
        template = self.rewriter.template
        return template.system + "\n" + template.user.replace("{text}", " ")

    def _choose(self, sources: Sequence[str], spans: Sequence[Any], verdicts: Sequence[Sequence[Verdict]],
                prompt: str, harm: Sequence[dict[str, float]] | None = None,
                originals: Sequence[str] | None = None) -> list[Verdict]:
        """The best candidate of each source; for a row that fails, never a payload (PAYLOAD_REASONS):
        the best failing candidate that is a rewrite of the input, else the input without its harmful spans
        and without the injection (`injection_cuts`), checked like a candidate. Such a row stays flagged."""
        chosen = [best(group) for group in verdicts]
        fallback = []
        for k, (verdict, group) in enumerate(zip(chosen, verdicts, strict=True)):
            if verdict.passed or not verdict.payload:
                continue
            rewrites = [v for v in group if not v.payload and v.text.strip()]
            if rewrites:
                chosen[k] = best(rewrites)
            else:
                fallback.append(k)
        if fallback:
            texts = [[_without_injection(sources[k], spans[k])] for k in fallback]
            with self._scoring:
                checked = self.guard.check([sources[k] for k in fallback], texts, [spans[k] for k in fallback],
                                           prompt=prompt,
                                           source_harm=None if harm is None else [harm[k] for k in fallback],
                                           originals=None if originals is None else [originals[k] for k in fallback])
            for k, [verdict] in zip(fallback, checked, strict=True):
                note = (f"every candidate was a payload, not a rewrite ({'; '.join(chosen[k].reasons)}): "
                        "the rewrite is the input without its harmful spans and the injection")
                chosen[k] = Verdict(verdict.text, verdict.scores, [note, *verdict.reasons])
        return chosen

    def _result(self, text: str, rewrite: str, status: Status, scores: dict[str, float],
                reasons: list[str]) -> GuardedResult:
        return GuardedResult(
            text=text, rewrite=rewrite, model=self.rewriter.loaded.name, adapter=self.rewriter.loaded.adapter,
            method=self.rewriter.method, prompt_version=self.rewriter.prompt_version,
            status=status, scores={**dict.fromkeys(SCORE_KEYS), **scores}, reasons=list(reasons),
        )


def load_rewriter(
    model: str | None = None,
    *,
    guard: bool = True,
    guard_config: GuardConfig | None = None,
    candidates: int | None = None,
    warm_up: bool = True,
    backend: str = "transformers",
    **rewriter_options: Any,
) -> Rewriter | GuardedRewriter:
    """`Rewriter.load(...)` (or, with backend="llama-cpp", the llama.cpp engine on the merged GGUF), wrapped in
    the guard unless guard=False. Scorers load first (warm_up: see `Guard.load`)."""
    from srllm.models import DEFAULT_MODEL

    checker = None
    if guard:
        config = guard_config or GuardConfig()
        if candidates is not None:
            config = config.model_copy(update={"candidates": candidates})
        checker = Guard(config).load(warm_up=warm_up)
    rewriter = _load_local(backend, model or DEFAULT_MODEL, rewriter_options)
    return GuardedRewriter(rewriter, checker) if checker else with_marks(rewriter)


def _load_local(backend: str, model: str, options: dict[str, Any]) -> Any:
    if backend == "transformers":
        return Rewriter.load(model, **options)
    if backend == "llama-cpp":
        from srllm.engine.llama_cpp import LlamaCppRewriter, gguf_type

        if options.pop("chunk", False):
            raise InputError("--chunk is a transformers-backend option; the llama-cpp backend does not split texts",
                             field="chunk")
        outtype = gguf_type(options.pop("dtype", "auto"))  # --dtype names the merged GGUF's tensor type
        return LlamaCppRewriter.from_model(model, outtype=outtype, **options)
    raise InputError(f"backend {backend!r} runs locally only as transformers or llama-cpp; use it with "
                     "--engine ray or `srllm serve`", field="backend")


__all__ = ["SCORE_KEYS", "GenerationSettings", "Guard", "GuardConfig", "GuardedResult", "GuardedRewriter", "Screened",
           "Verdict", "load_rewriter", "meta_text"]
