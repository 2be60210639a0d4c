"""What several experiments share: method variants, model loading once per run, scoring outputs."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srllm.errors import InputError
from srllm.evaluate.experiments.base import ExperimentConfig, RunContext
from srllm.models import LoadedModel, default_adapter_for, load_causal_lm, resolve

_K_SHOT = re.compile(r"^(\d+)-shot$")


@dataclass(frozen=True)
class VariantSpec:
    """One way to produce rewrites (or to score a model): the paper's methods as names.

    original: no rewriting; base / zero-shot: the model prompted without examples;
    K-shot: K demonstrations in the prompt; sr-llm: the shipped adapter; NAME=PATH: a PEFT
    adapter dir (prefix-tuned, LoRA, QLoRA...), named NAME in the tables.
    """

    name: str
    kind: str  # original | prompt | adapter
    k_shot: int = 0
    adapter: str | None = None

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name)


def parse_variant(text: str, model: str) -> VariantSpec | str:
    """A VariantSpec, or a sentence saying why this variant is skipped."""
    text = text.strip()
    if text == "original":
        return VariantSpec("original", "original")
    if text in ("base", "zero-shot", "0-shot"):
        return VariantSpec(text, "prompt", 0)
    match = _K_SHOT.match(text)
    if match:
        return VariantSpec(text, "prompt", int(match.group(1)))
    if text == "sr-llm":
        adapter = default_adapter_for(resolve(model).name)
        if adapter is None:
            return f"variant 'sr-llm' skipped: no adapter is shipped for {model} (assets/adapters/)"
        return VariantSpec("sr-llm", "adapter", adapter=str(adapter))
    if "=" in text:
        name, path = (part.strip() for part in text.split("=", 1))
        if not (Path(path).expanduser() / "adapter_config.json").is_file():
            return f"variant '{name}' skipped: {path} is not a PEFT adapter dir (no adapter_config.json)"
        return VariantSpec(name, "adapter", adapter=str(Path(path).expanduser()))
    raise InputError(
        f"unknown variant {text!r}; use original, base, zero-shot, K-shot (e.g. 2-shot), sr-llm "
        "or NAME=ADAPTER_DIR (e.g. lora=runs/train/lora/adapter)", field="variants",
    )


def parse_variants(texts: Sequence[str], ctx: RunContext, *, model: str,
                   allow_prompting: bool = True) -> list[VariantSpec]:
    """The usable variants for `model` (whose shipped adapter `sr-llm` names); skipped ones become notes."""
    variants = []
    for text in texts:
        parsed = parse_variant(text, model)
        if isinstance(parsed, str):
            ctx.note(parsed)
            continue
        if not allow_prompting and parsed.k_shot:
            raise InputError(f"variant {parsed.name!r} is a prompting method; this experiment scores "
                             "models, so use base, sr-llm or NAME=ADAPTER_DIR", field="variants")
        variants.append(parsed)
    return variants


class ModelPool:
    """Loads the base model once per run; adapter variants get a fresh base (PEFT injects in place)."""

    def __init__(self, model: str, ctx: RunContext) -> None:
        self.model_name, self.ctx = model, ctx
        self._base: LoadedModel | None = None

    def base(self) -> LoadedModel:
        if self._base is None:
            self._base = load_causal_lm(self.model_name)
            self.ctx.uses_model(self._base.name, None, "base", "base model")
        return self._base

    def variant(self, variant: VariantSpec) -> LoadedModel:
        if variant.kind != "adapter":
            return self.base()
        loaded = load_causal_lm(self.model_name, adapter=variant.adapter)
        self.ctx.uses_model(loaded.name, loaded.adapter, loaded.method, variant.name)
        return loaded


def load_variant_model(model: str, variant: VariantSpec, ctx: RunContext) -> LoadedModel:
    return ModelPool(model, ctx).variant(variant)


def make_rewriter(pool: ModelPool, variant: VariantSpec, *, template: str | None = None,
                  demonstrations: str | None = None, exclude_texts: Sequence[str] = (),
                  max_new_tokens: int | None = None, seed: int = 0, chunk: bool = False) -> Any | None:
    """A Rewriter for the variant, or None (with a note) when it cannot be built. `template` None: the one
    the variant's adapter was trained with (a marked one gets the judge's marks, `with_marks`), else debias."""
    from srllm.engine.rewriter import GenerationSettings, Rewriter, default_demonstrations
    from srllm.models import adapter_template
    from srllm.prompts import load_demonstrations, select_shots
    from srllm.rewrite.marking import with_marks

    settings = GenerationSettings(max_new_tokens=max_new_tokens)
    shots = []
    if variant.k_shot:
        source = Path(demonstrations) if demonstrations else default_demonstrations()
        if source is None:
            pool.ctx.note(f"variant '{variant.name}' skipped: no demonstrations file "
                          "(pass --set demonstrations=PATH)")
            return None
        pool.ctx.uses_data(source)
        # A demonstration equal to a test text would leak its answer into the prompt.
        held_out = {" ".join(t.split()) for t in exclude_texts}
        demos = [d for d in load_demonstrations(source) if " ".join(d.text.split()) not in held_out]
        if len(demos) < variant.k_shot:
            pool.ctx.note(f"variant '{variant.name}' skipped: only {len(demos)} demonstrations "
                          "outside the evaluated texts")
            return None
        shots = select_shots(demos, variant.k_shot, seed=seed)
    loaded = pool.variant(variant)
    if variant.kind == "prompt":
        pool.ctx.uses_model(loaded.name, None, variant.name, "rewriter")
    return with_marks(Rewriter(loaded, template=template or adapter_template(loaded.adapter), shots=shots,
                               settings=settings, chunk=chunk))


class OneRewriterConfig(ExperimentConfig):
    """The options of an experiment that rewrites its texts with one method (style, toxigen-groups)."""

    # sr-llm (the shipped adapter), zero-shot, K-shot or NAME=ADAPTER_DIR. The first one that can be
    # built here rewrites, so a missing adapter falls back to zero-shot with a note.
    variant: list[str] = ["sr-llm", "zero-shot"]
    demonstrations: str | None = None  # for a K-shot variant (default: the shipped demonstrations)


def first_rewriter(pool: ModelPool, config: OneRewriterConfig, texts: Sequence[str]) -> tuple[Any, VariantSpec]:
    """The Rewriter of the first variant of `config.variant` that can be built here, and that variant;
    `texts` are the evaluated ones (a K-shot prompt must not show one of them)."""
    ctx = pool.ctx
    for variant in parse_variants(config.variant, ctx, model=config.model):
        if variant.kind == "original":  # the original is what gets rewritten, not a method
            continue
        rewriter = make_rewriter(pool, variant, demonstrations=config.demonstrations, exclude_texts=texts,
                                 max_new_tokens=config.max_new_tokens, seed=config.seed)
        if rewriter is not None:
            ctx.note(f"rewrites made by variant '{variant.name}'")
            return rewriter, variant
    raise InputError("none of the variants can rewrite here; add zero-shot", field="variant")


def variant_outputs(pool: ModelPool, variant: VariantSpec, texts: Sequence[str], config: ExperimentConfig, *,
                    template: str | None = None, demonstrations: str | None = None,
                    chunk: bool = False) -> list[str] | None:
    """What one variant makes of the texts (methods, jobs): the texts themselves for 'original', else its
    rewrites; None (with a note) when the variant cannot be built here."""
    if variant.kind == "original":
        return list(texts)
    rewriter = make_rewriter(pool, variant, template=template, demonstrations=demonstrations, exclude_texts=texts,
                             max_new_tokens=config.max_new_tokens, seed=config.seed, chunk=chunk)
    if rewriter is None:
        return None
    results = rewriter.rewrite(list(texts), batch_size=config.batch_size, progress=config.progress)
    # Empty rewrites stay empty: they are the method's failures, not the unchanged text.
    return [r.rewrite for r in results]


def subsample(items: list[Any], limit: int | None, seed: int) -> list[Any]:
    """A seeded random subset of `limit` items, kept in their original order."""
    if not limit or limit >= len(items):
        return list(items)
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


class OutputScorer:
    """Scores texts (toxicity, bias, perplexity) and original->rewrite pairs (retention, similarity).

    Scorers are built on first use; the perplexity LM is the run's base model (one reference LM
    for every variant, so perplexities are comparable).
    """

    def __init__(self, pool: ModelPool, *, perplexity: bool = True, bias: bool = True) -> None:
        from srllm.scorers import ScorerSet

        self.pool, self.use_perplexity, self.use_bias = pool, perplexity, bias
        self.scorers = ScorerSet(["toxicity", "judge", "bias", "retention", "perplexity"], progress=None,
                                 factories={"perplexity": self._perplexity})
        self._unavailable: set[str] = set()

    def _perplexity(self) -> Any:
        base = self.pool.base()
        return get_scorer("perplexity", model=base.model, tokenizer=base.tokenizer)

    def _get(self, name: str) -> Any | None:
        """The scorer, loaded (perplexity loads on its first call); None, noted once, when it cannot load."""
        from srllm.errors import SrllmError

        if name in self._unavailable:
            return None
        scorer = self.scorers[name]
        if name != "perplexity":
            try:
                self.scorers.load([name])
            except SrllmError as exc:  # e.g. the bias head is not trained in this install
                self.pool.ctx.note(f"scorer '{name}' unavailable: {exc}")
                self._unavailable.add(name)
                return None
        return scorer

    def single(self, texts: Sequence[str]) -> list[dict[str, float]]:
        rows = [dict() for _ in texts]
        toxicity = self._get("toxicity")
        if toxicity is not None:
            for row, score in zip(rows, toxicity.score(list(texts)), strict=True):
                row.update(toxicity=score["toxic"], toxicity_max=score["max"], toxic_flag=score["toxic_flag"])
        judge = self._get("judge")  # beside the independent Jigsaw scorer, which the paper's tables keep
        if judge is not None:
            for row, score in zip(rows, judge.score(list(texts)), strict=True):
                row.update(judge=score["harm"], judge_toxic=score["toxic"], judge_stereotype=score["stereotype"])
        if self.use_bias:
            bias = self._get("bias")
            if bias is not None:
                for row, score in zip(rows, bias.score(list(texts)), strict=True):
                    row.update(bias=score["bias"], bias_flag=score.get("bias_flag", math.nan))
        if self.use_perplexity:
            for row, score in zip(rows, self._get("perplexity").score(list(texts)), strict=True):
                row["perplexity"] = score["perplexity"]
        return rows

    def pairs(self, sources: Sequence[str], targets: Sequence[str],
              biased_words: Sequence[Sequence[str]] | None = None) -> list[dict[str, float]]:
        retention = self._get("retention")
        rows = [dict() for _ in sources]
        if retention is None:
            return rows
        scores = retention.score_pairs(list(sources), list(targets), biased_words)
        for row, score in zip(rows, scores, strict=True):
            row.update(retention=score["retention"], retained=score["retained"], similarity=score["similarity"])
        return rows


def get_scorer(name: str, **kwargs: Any) -> Any:
    from srllm.scorers import get_scorer as lookup

    return lookup(name, **kwargs)


def median(values: Sequence[float]) -> float:
    clean = sorted(float(v) for v in values if v is not None and not math.isnan(float(v)))
    if not clean:
        return math.nan
    mid = len(clean) // 2
    return clean[mid] if len(clean) % 2 else (clean[mid - 1] + clean[mid]) / 2
