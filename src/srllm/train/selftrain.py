"""Verified self-training (rejection sampling / expert iteration) and the preference pairs it yields.

One round: for each unlabelled pool input the current model writes N candidates (the greedy
answer plus N-1 samples, batched), the judge's edit candidate joins them, and the guard checks
every candidate (judge + facts + meaning + not a copy + no meta text). The best passing candidate
becomes an SFT pair (provenance `self-verified` or `teacher`, with the round number); a failing
candidate beside it becomes the rejected side of a preference pair (DPO/ORPO). Inputs the guard
screens as benign are skipped (the training mix keeps its own benign copy targets), and an input
that matches an evaluation text is never used, whatever the pool says.

Everything is appended to OUT/progress.jsonl as each batch finishes, so a killed round resumes
where it stopped; pairs.jsonl, preferences.jsonl and round.json are then written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from srllm.errors import InputError
from srllm.train.common import portable_adapter

PROGRESS = "progress.jsonl"
PAIRS = "pairs.jsonl"
# The kept pairs whose chosen candidate is not the model's greedy answer: what it cannot yet write in one pass
# (a sample, a refined draft, the edit, the cut text). Its own greedy answers, two thirds of the pairs, carry
# almost no training signal (their loss is already under 0.1), so a run can weight these up.
HARD_PAIRS = "hard_pairs.jsonl"
PREFERENCES = "preferences.jsonl"
ROUND = "round.json"
PROVENANCES = ("self-verified", "teacher")


@dataclass(frozen=True)
class PoolItem:
    id: str
    text: str
    kind: str
    source: str


@dataclass
class RoundConfig:
    """One self-training round; recorded in round.json."""

    pool: str
    out: str
    round: int = 1
    model: str = "smollm2-135m-instruct"
    adapter: str | None = "auto"
    candidates: int = 4
    per_kind: int | None = None  # at most this many inputs of each kind (hash-ordered by seed)
    limit: int | None = None  # at most this many inputs in all
    seed: int = 0
    batch_size: int = 16
    provenance: str = "self-verified"
    edit_candidate: bool = True
    max_rejected: int = 2  # preference pairs per kept input
    eval_mix: str | None = "data/pool_mix.json"  # its "eval" sources are refused as inputs
    temperature: float = 0.8
    resume: bool = False
    # A GGUF file: a bigger model (run through llama.cpp) writes the candidates; provenance `teacher`.
    teacher: str | None = None
    # Worked examples in the teacher's prompt: an instruct model that has never seen the task follows them
    # closely (the trained student needs none).
    teacher_shots: int = 2
    # A finished round's folder: only its `failed` inputs (what that model could not rewrite) are used.
    hard_from: str | None = None
    # Refining rounds, as the guard's (GuardConfig.refine): an input whose candidates all kept its content but
    # not its harm has its best such candidate rewritten again. Those pairs are what the model gets wrong on its
    # own: it copies a stereotype clause or an insult that a second pass removes.
    refine: int = 1

    def __post_init__(self) -> None:
        if self.provenance not in PROVENANCES:
            raise InputError(f"provenance must be one of {PROVENANCES}, not {self.provenance!r}", field="provenance")
        if self.candidates < 1 or self.round < 1:
            raise InputError("candidates and round must be at least 1", field="candidates")
        from srllm.rewrite.guard import MAX_REFINE

        if not 0 <= self.refine <= MAX_REFINE:
            raise InputError(f"refine must be 0 to {MAX_REFINE}, not {self.refine}", field="refine")
        if self.teacher and self.provenance != "teacher":
            self.provenance = "teacher"


@dataclass
class Outcome:
    """What one input gave: `status` kept / failed / benign / leak."""

    id: str
    kind: str
    source: str
    text: str
    status: str
    chosen: str = ""
    chosen_from: str = ""
    rejected: list[dict[str, Any]] = field(default_factory=list)
    candidates: int = 0


def read_pool(path: str | Path) -> list[PoolItem]:
    """Pool rows ({"id", "text", "kind"?, "source"?} per line); errors name the file, line and field."""
    from srllm.text.readers import read_json_lines

    path = Path(path)
    if not path.is_file():
        raise InputError("does not exist; build it with `srllm data build-pool`", path=str(path))
    items: list[PoolItem] = []
    seen: set[str] = set()
    for line_no, row in read_json_lines(path):
        text, ident = row.get("text"), row.get("id")
        if not isinstance(text, str) or not text.strip():
            raise InputError("is missing or blank", path=str(path), line=line_no, field="text")
        if not isinstance(ident, str) or not ident:
            raise InputError("is missing", path=str(path), line=line_no, field="id")
        if ident in seen:
            raise InputError(f"repeats id {ident!r}", path=str(path), line=line_no, field="id")
        seen.add(ident)
        items.append(PoolItem(ident, text, str(row.get("kind") or "unknown"), str(row.get("source") or "")))
    if not items:
        raise InputError("holds no inputs", path=str(path))
    return items


def select(items: Sequence[PoolItem], *, per_kind: int | None, limit: int | None, seed: int) -> list[PoolItem]:
    """A seeded, hash-ordered choice (stable when the pool grows): per-kind cap first, then the limit."""
    def rank(item: PoolItem) -> str:
        return hashlib.sha256(f"{seed}\x00{item.id}".encode()).hexdigest()

    ordered = sorted(items, key=rank)
    if per_kind is not None:
        counts: Counter[str] = Counter()
        kept = []
        for item in ordered:
            if counts[item.kind] < per_kind:
                counts[item.kind] += 1
                kept.append(item)
        ordered = kept
    return ordered[:limit] if limit is not None else ordered


def eval_index(eval_mix: str | None) -> Any:
    """A LeakageIndex over the mix file's evaluation sources (None when no mix is given)."""
    if not eval_mix:
        return None
    from srllm.data.corpus.heldout import load_eval_texts
    from srllm.data.corpus.leakage import LeakageIndex
    from srllm.data.corpus.mix import load_mix

    mix = load_mix(eval_mix)
    texts = []
    for spec in mix.eval:
        found, _ = load_eval_texts(spec.name, spec.kind, mix.resolve(spec.path))
        texts.extend(found)
    return LeakageIndex(texts)


def _done(out: Path) -> dict[str, dict[str, Any]]:
    """Outcomes already written by an earlier (killed) run of this round."""
    from srllm.lines import split_lines

    path = out / PROGRESS
    if not path.is_file():
        return {}
    done = {}
    for line in split_lines(path.read_text(encoding="utf-8")):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # the last line of a run killed mid-write
        done[row["id"]] = row
    return done


def _drop_partial_line(path: Path) -> None:
    """A run killed mid-write leaves a last line without its newline; appending to it would fuse the next
    outcome into that fragment and lose both, so cut the file back to its last complete line."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def _append(out: Path, outcomes: Iterable[Outcome]) -> None:
    with open(out / PROGRESS, "a", encoding="utf-8") as handle:
        for outcome in outcomes:
            handle.write(json.dumps(asdict(outcome), ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


class RoundSampler:
    """Candidates for a batch of inputs, checked by the guard; one `Outcome` per input."""

    def __init__(self, rewriter: Any, guard: Any, *, candidates: int, edit: bool, max_rejected: int,
                 temperature: float, seed: int, index: Any = None, refine: int = 0) -> None:
        self.rewriter, self.guard, self.edit, self.index = rewriter, guard, edit, index
        self.candidates, self.max_rejected, self.seed, self.refine = candidates, max_rejected, seed, refine
        self.sampler = None
        if candidates > 1:
            self.sampler = rewriter.sampling(candidates - 1, temperature=temperature, top_p=guard.config.top_p,
                                             chunk=False, seed=seed)

    def run(self, items: Sequence[PoolItem], batch_size: int) -> list[Outcome]:
        outcomes: dict[str, Outcome] = {}
        scored = []
        for item in items:
            if self.index is not None and self.index.query(item.text):
                outcomes[item.id] = Outcome(item.id, item.kind, item.source, item.text, "leak")
            else:
                scored.append(item)
        pending = []
        for item, seen in zip(scored, self.guard.screen([item.text for item in scored]), strict=True):
            if seen.benign:
                outcomes[item.id] = Outcome(item.id, item.kind, item.source, item.text, "benign")
            else:
                pending.append((item, seen.spans))
        if pending:
            for outcome in self._sample(pending, batch_size):
                outcomes[outcome.id] = outcome
        return [outcomes[item.id] for item in items]

    def _sample(self, pending: list[tuple[PoolItem, Any]], batch_size: int) -> list[Outcome]:
        from srllm.rewrite.injection import rewrite_target

        originals = [item.text for item, _ in pending]
        # As the guarded rewriter does: the model sees the text without what it says to the model, and the
        # candidates are checked against that text (the pair keeps the whole input, so the student learns to
        # drop the instruction).
        sources = [rewrite_target(text) for text in originals]
        changed = [k for k, (source, text) in enumerate(zip(sources, originals, strict=True)) if source != text]
        spans = [found for _, found in pending]  # the screen's: the judge's and the lexicon's
        cut = self._benign_after_cut(changed, sources, spans)
        # As the guard does: an input harmful only in its instructions is kept as the text without them.
        done = [Outcome(item.id, item.kind, item.source, item.text, "kept", sources[k], "cut")
                for k, (item, _) in enumerate(pending) if k in cut]
        rest = [k for k in range(len(pending)) if k not in cut]
        if not rest:
            return done
        return done + self._generate([pending[k] for k in rest], [originals[k] for k in rest],
                                     [sources[k] for k in rest], [spans[k] for k in rest], batch_size)

    def _benign_after_cut(self, changed: list[int], sources: list[str], spans: list[list[Any]]) -> set[int]:
        """Judge each cut target (its spans replace the input's in `spans`); the ones benign without the
        instructions to the model."""
        benign = set()
        for k, seen in zip(changed, self.guard.screen([sources[k] for k in changed]), strict=True):
            spans[k] = seen.spans
            if seen.benign:
                benign.add(k)
        return benign

    def _generate(self, pending: list[tuple[PoolItem, Any]], originals: list[str], sources: list[str],
                  spans: list[list[Any]], batch_size: int) -> list[Outcome]:
        """Candidates from the model (greedy, samples) and the edit, checked by the guard, then the refining
        rounds; one outcome each."""
        from srllm.rewrite.marking import model_inputs

        groups = self._candidates(model_inputs(self.rewriter, sources, spans), batch_size, "greedy", "sample")
        if self.edit:
            for group, source, found in zip(groups, sources, spans, strict=True):
                # Guard.edit: no candidate whose cuts left a rough seam (it would teach the model broken text).
                edited = self.guard.edit(source, found)
                if edited:
                    group.append((edited, "edit"))
        groups = [_unique(group) for group in groups]
        verdicts = self.guard.check(sources, [[text for text, _ in g] for g in groups], spans, originals=originals)
        refined: list[set[str]] = [set() for _ in groups]
        for _ in range(self.refine):
            if not self._refine(groups, verdicts, refined, sources, spans, originals, batch_size):
                break
        return [self._outcome(item, group, found)
                for (item, _), group, found in zip(pending, groups, verdicts, strict=True)]

    def _candidates(self, inputs: list[str], batch_size: int, greedy: str, sample: str) -> list[list[tuple[str, str]]]:
        """The greedy answer and the seeded samples for each input, labelled with where they came from."""
        import torch

        from srllm.prompts.marks import unmark

        groups = [[(unmark(out.candidates[0]) if out.candidates else "", greedy)]
                  for out in self.rewriter.generate(inputs, batch_size=batch_size)]
        if self.sampler is not None:
            torch.manual_seed(self.seed)
            for group, out in zip(groups, self.sampler.generate(inputs, batch_size=batch_size), strict=True):
                group.extend((unmark(text), sample) for text in out.candidates)
        return groups

    def _refine(self, groups: list[list[tuple[str, str]]], verdicts: list[list[Any]], refined: list[set[str]],
                sources: list[str], spans: list[list[Any]], originals: list[str], batch_size: int) -> bool:
        """One refining round, as GuardedRewriter's: for each input with no passing candidate, its best
        candidate that failed only on harm left in it (and was not refined yet) is rewritten again with its
        own spans marked; the new candidates are checked against the input's source. False when no input
        had one to refine."""
        from srllm.rewrite.guard import refine_draft
        from srllm.rewrite.marking import model_inputs

        found = {k: draft for k in range(len(verdicts)) if (draft := refine_draft(verdicts[k], refined[k])) is not None}
        if not found:
            return False
        rows, drafts = list(found), [draft.text for draft in found.values()]
        for k, draft in zip(rows, drafts, strict=True):
            refined[k].add(draft)
        seen = self.guard.screen(drafts)
        more = self._candidates(model_inputs(self.rewriter, drafts, [s.spans for s in seen]), batch_size,
                                "refine", "refine")
        for k, group in zip(rows, more, strict=True):
            have = {text for text, _ in groups[k]}
            new = [(text, where) for text, where in _unique(group) if text not in have]
            if new:
                [checked] = self.guard.check([sources[k]], [[text for text, _ in new]], [spans[k]],
                                             originals=[originals[k]])
                groups[k].extend(new)
                verdicts[k].extend(checked)
        return True

    def _outcome(self, item: PoolItem, group: list[tuple[str, str]], verdicts: list[Any]) -> Outcome:
        from srllm.rewrite.guard import best

        origin = {text: where for text, where in group}
        passing = [v for v in verdicts if v.passed]
        # The greedy answer first: it is what the model does now, the most useful thing to reject.
        failing = sorted((v for v in verdicts if not v.passed and v.text.strip()),
                         key=lambda v: (origin[v.text] != "greedy", -len(v.reasons)))
        rejected = [{"text": v.text, "from": origin[v.text], "reasons": v.reasons}
                    for v in failing[: self.max_rejected]]
        if not passing:
            return Outcome(item.id, item.kind, item.source, item.text, "failed", rejected=rejected,
                           candidates=len(group))
        # The model's own passing answer over the edit: the guard does not check grammar, and a deleted
        # verb phrase ("will aggressively chase" -> "will") passes it while teaching broken sentences.
        chosen = best([v for v in passing if origin[v.text] != "edit"] or passing)
        return Outcome(item.id, item.kind, item.source, item.text, "kept", chosen.text, origin[chosen.text],
                       rejected, len(group))


def _unique(group: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    kept = []
    for text, where in group:
        if text not in seen:
            seen.add(text)
            kept.append((text, where))
    return kept


def sft_records(outcomes: Iterable[dict[str, Any]], config: RoundConfig) -> list[Any]:
    """Kept outcomes as CMD records: the chosen candidate is the safe variation."""
    from srllm.data.schema import CMDRecord

    return [CMDRecord(id=f"{_prefix(config)}-{o['id']}", text=o["text"], safe_variation=o["chosen"],
                      source=config.provenance,
                      meta={"kind": o["kind"], "round": config.round, "provenance": config.provenance,
                            "pool_id": o["id"], "pool_source": o["source"], "candidate": o["chosen_from"]})
            for o in outcomes if o["status"] == "kept"]


def preference_rows(outcomes: Iterable[dict[str, Any]], config: RoundConfig) -> list[dict[str, Any]]:
    """(text, chosen, rejected) rows for DPO/ORPO, with why the rejected candidate failed."""
    rows = []
    for o in outcomes:
        if o["status"] != "kept":
            continue
        for k, rejected in enumerate(o["rejected"]):
            rows.append({"id": f"{_prefix(config)}-{o['id']}-{k}", "text": o["text"], "chosen": o["chosen"],
                         "rejected": rejected["text"], "rejected_reasons": rejected["reasons"],
                         "kind": o["kind"], "round": config.round, "provenance": config.provenance})
    return rows


def _prefix(config: RoundConfig) -> str:
    return f"{'sv' if config.provenance == 'self-verified' else 'teacher'}{config.round}"


def run_round(config: RoundConfig, *, rewriter: Any = None, guard: Any = None, progress: bool = True) -> dict[str, Any]:
    """Sample, verify and write one round; returns the round manifest (also OUT/round.json)."""
    from srllm.data.corpus.mix import write_json
    from srllm.data.writers import write_records
    from srllm.provenance import file_sha256
    from srllm.text.writers import write_jsonl

    pool = read_pool(config.pool)
    if config.hard_from:
        pool = hard_inputs(pool, config.hard_from)
    items = select(pool, per_kind=config.per_kind, limit=config.limit, seed=config.seed)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    if config.resume:
        _drop_partial_line(out / PROGRESS)
    done = _done(out) if config.resume else {}
    if not config.resume and (out / PROGRESS).exists():
        raise InputError("already holds a round's progress; pass --resume to continue it or choose another --out",
                         path=str(out / PROGRESS))
    if rewriter is None or guard is None:
        rewriter, guard = _load(config, rewriter, guard)
    sampler = RoundSampler(rewriter, guard, candidates=config.candidates, edit=config.edit_candidate,
                           max_rejected=config.max_rejected, temperature=config.temperature, seed=config.seed,
                           index=eval_index(config.eval_mix), refine=config.refine)
    todo = [item for item in items if item.id not in done]
    started = time.perf_counter()
    for batch in _batches(todo, config.batch_size * 4, progress, f"round {config.round}", len(items), len(done)):
        _append(out, sampler.run(batch, config.batch_size))
    seconds = time.perf_counter() - started
    selected = {item.id for item in items}
    outcomes = [row for row in _done(out).values() if row["id"] in selected]
    records = sft_records(outcomes, config)
    preferences = preference_rows(outcomes, config)
    write_records(records, out / PAIRS)
    write_records([r for r in records if r.meta["candidate"] != "greedy"], out / HARD_PAIRS)
    write_jsonl(preferences, out / PREFERENCES)
    if config.resume and (out / ROUND).is_file():
        # A finished round run again with --resume (to rewrite its outputs) keeps the time it took to sample.
        seconds += json.loads((out / ROUND).read_text(encoding="utf-8")).get("seconds", 0.0)
    manifest = _manifest(config, rewriter, items, outcomes, len(preferences), seconds, len(done))
    manifest["outputs"] = {name: {"path": str(out / name), "sha256": file_sha256(out / name)}
                           for name in (PAIRS, HARD_PAIRS, PREFERENCES)}
    manifest["pool"]["sha256"] = file_sha256(config.pool)
    write_json(manifest, out / ROUND)
    return manifest


def hard_inputs(pool: Sequence[PoolItem], round_dir: str | Path) -> list[PoolItem]:
    """The pool inputs an earlier round could not rewrite (status `failed` in its progress file)."""
    failed = {row_id for row_id, row in _done(Path(round_dir)).items() if row.get("status") == "failed"}
    hard = [item for item in pool if item.id in failed]
    if not hard:
        raise InputError("holds no failed input of this pool (progress.jsonl)", path=str(round_dir),
                         field="hard_from")
    return hard


def _load(config: RoundConfig, rewriter: Any, guard: Any) -> tuple[Any, Any]:
    from srllm.engine.rewriter import Rewriter
    from srllm.rewrite.guard import Guard, GuardConfig

    if guard is None:
        guard = Guard(GuardConfig(edit_candidate=config.edit_candidate)).load()
    if rewriter is None and config.teacher:
        from srllm.engine.llama_cpp import LlamaCppRewriter, find_gguf

        rewriter = LlamaCppRewriter.load(find_gguf(config.teacher), k_shot=config.teacher_shots, seed=config.seed)
    elif rewriter is None:
        rewriter = Rewriter.load(config.model, adapter=config.adapter)
    return rewriter, guard


def _batches(items: list[PoolItem], size: int, progress: bool, label: str, total: int,
             done: int) -> Iterable[list[PoolItem]]:
    from srllm.progress import optional_progress

    with optional_progress(total, progress, label) as advance:
        advance(done)
        for start in range(0, len(items), size):
            batch = items[start:start + size]
            yield batch
            advance(len(batch))


def _manifest(config: RoundConfig, rewriter: Any, items: list[PoolItem], outcomes: list[dict[str, Any]],
              preferences: int, seconds: float, resumed: int) -> dict[str, Any]:
    statuses = Counter(o["status"] for o in outcomes)
    by_kind: dict[str, Counter[str]] = {}
    for o in outcomes:
        by_kind.setdefault(o["kind"], Counter())[o["status"]] += 1
    harmful = statuses["kept"] + statuses["failed"]
    return {
        "kind": "srllm-self-training-round",
        "config": asdict(config),
        "round": config.round,
        "provenance": config.provenance,
        "model": {"name": rewriter.loaded.name, "adapter": portable_adapter(rewriter.loaded.adapter)},
        "pool": {"path": config.pool, "selected": len(items)},
        "counts": dict(statuses), "kept_rate": round(statuses["kept"] / harmful, 4) if harmful else None,
        "by_kind": {kind: dict(c) for kind, c in sorted(by_kind.items())},
        "chosen_from": dict(Counter(o["chosen_from"] for o in outcomes if o["status"] == "kept")),
        "preference_pairs": preferences,
        "seconds": round(seconds, 1), "resumed_outcomes": resumed,
    }


__all__ = ["PoolItem", "RoundConfig", "RoundSampler", "hard_inputs", "preference_rows", "read_pool", "run_round",
           "select", "sft_records"]
