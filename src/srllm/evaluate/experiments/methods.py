"""Methods comparison (paper Tables 4 and 7): original vs prompting vs fine-tuned SR-LLM variants.

For each variant the same texts are rewritten by the same base model and scored: % toxic and
mean toxicity (Jigsaw), bias probability, knowledge retention and embedding similarity to the
original, and perplexity under the base model. Datasets: a CMD test split (JSONL with `text`),
ToxiGen statements, or BOLD prompts completed by the base model (as the paper does, the
completions are what gets rewritten).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from srllm.errors import InputError
from srllm.evaluate.experiments.base import (
    Experiment,
    ExperimentConfig,
    ExperimentResult,
    RunContext,
    Table,
    mean,
    register_experiment,
)
from srllm.evaluate.experiments.common import (
    ModelPool,
    OutputScorer,
    VariantSpec,
    median,
    parse_variants,
    subsample,
    variant_outputs,
)
from srllm.evaluate.loaders import REPO_ROOT, TextRecord, default_path, load_bold, load_texts, load_toxigen

DEFAULT_CMD_TEST = REPO_ROOT / "data" / "cmd" / "test.jsonl"
SUMMARY_KEYS = ("toxicity", "toxic_flag", "judge", "bias", "retention", "similarity", "perplexity")


class MethodsConfig(ExperimentConfig):
    dataset: str = "cmd"  # cmd | toxigen | bold
    variants: list[str] = ["original", "zero-shot", "2-shot", "5-shot", "sr-llm"]
    # Adapter dirs of the paper's fine-tuning methods; each adds a variant (skipped with a note if missing).
    prefix: str | None = None
    lora: str | None = None
    qlora: str | None = None
    demonstrations: str | None = None
    template: str | None = None  # None: the adapter's own (prompting variants: debias)
    toxigen_label: str = "hate"  # hate | neutral | all
    bold_domains: list[str] | None = None
    bold_max_new_tokens: int = 30
    perplexity: bool = True
    limit: int | None = 100

    def all_variants(self) -> list[str]:
        extra = [f"{name}={path}" for name, path in
                 (("prefix", self.prefix), ("lora", self.lora), ("qlora", self.qlora)) if path]
        return list(self.variants) + extra


@register_experiment("methods")
class MethodsComparison(Experiment):
    title = "Methods comparison: toxicity, bias, retention, similarity, perplexity"
    paper = "Tables 4 and 7"
    Config = MethodsConfig

    def run(self, config: MethodsConfig, ctx: RunContext) -> ExperimentResult:  # type: ignore[override]
        pool = ModelPool(config.model, ctx)
        records = load_dataset_records(config, ctx)
        records = subsample(records, config.limit, config.seed)
        if config.dataset == "bold":
            records = complete_bold(pool, records, config)
        texts = [r.text for r in records]
        scorer = OutputScorer(pool, perplexity=config.perplexity)
        rows: list[dict[str, Any]] = []
        summary: dict[str, dict[str, float]] = {}
        for variant in parse_variants(config.all_variants(), ctx, model=config.model):
            outputs = self._outputs(pool, variant, texts, config)
            if outputs is None:
                continue
            variant_rows = score_variant(scorer, variant.name, records, outputs)
            rows += variant_rows
            summary[variant.name] = summarise(variant_rows)
        table = summary_table(summary, config)
        metrics = {"dataset": config.dataset, "n": len(records), "variants": summary}
        return ExperimentResult(metrics=metrics, tables=[table], records=rows)

    def _outputs(self, pool: ModelPool, variant: VariantSpec, texts: list[str],
                 config: MethodsConfig) -> list[str] | None:
        return variant_outputs(pool, variant, texts, config, template=config.template,
                               demonstrations=config.demonstrations)


def load_dataset_records(config: MethodsConfig, ctx: RunContext) -> list[TextRecord]:
    if config.dataset == "cmd":
        path = Path(config.data) if config.data else DEFAULT_CMD_TEST
        if not path.is_file():
            raise InputError("no CMD test split; pass a JSONL file with a `text` field per line "
                             "(--data PATH)", path=str(path), field="data")
        return load_texts(ctx.uses_data(path))
    if config.dataset == "toxigen":
        path = Path(config.data) if config.data else default_path("toxigen", "annotated", "toxiGen.json")
        statements = load_toxigen(path if config.source == "local" else None, source=config.source)
        if config.source == "local":
            ctx.uses_data(path)
        if config.toxigen_label != "all":
            statements = [s for s in statements if s.label == config.toxigen_label]
        return [TextRecord(id=s.id, text=s.text, extra={"groups": list(s.groups), "label": s.label})
                for s in statements]
    if config.dataset == "bold":
        path = Path(config.data) if config.data else default_path("bold", "prompts")
        prompts = load_bold(path if config.source == "local" else None, domains=config.bold_domains,
                            source=config.source)
        if config.source == "local":
            ctx.uses_data(path)
        return [TextRecord(id=f"{p.domain}/{p.group}/{p.name}/{i}", text=p.prompt,
                           extra={"domain": p.domain, "group": p.group})
                for i, p in enumerate(prompts)]
    raise InputError(f"unknown dataset {config.dataset!r}; use cmd, toxigen or bold", field="dataset")


def complete_bold(pool: ModelPool, records: list[TextRecord], config: MethodsConfig) -> list[TextRecord]:
    """Prompt + the base model's greedy continuation: the texts BOLD measures (and we rewrite)."""
    import torch

    base = pool.base()
    tokenizer, model = base.tokenizer, base.model
    completed: list[TextRecord] = []
    for start in range(0, len(records), config.batch_size):
        batch = records[start: start + config.batch_size]
        encoded = tokenizer([r.text for r in batch], return_tensors="pt", padding=True)
        with torch.inference_mode():
            output = model.generate(**encoded, max_new_tokens=config.bold_max_new_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id, temperature=None, top_p=None,
                                    top_k=None)
        continuations = tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1]:], skip_special_tokens=True)
        for record, continuation in zip(batch, continuations, strict=True):
            text = " ".join((record.text + " " + continuation).split())
            completed.append(TextRecord(id=record.id, text=text,
                                        extra={**record.extra, "prompt": record.text}))
    pool.ctx.note(f"BOLD: texts are the base model's greedy continuations "
                  f"({config.bold_max_new_tokens} new tokens) of the prompts")
    return completed


def score_variant(scorer: OutputScorer, variant: str, records: list[TextRecord],
                  outputs: list[str]) -> list[dict[str, Any]]:
    # Scorers reject nothing but an empty string carries no meaning; score a space instead.
    safe_outputs = [o if o.strip() else " " for o in outputs]
    single = scorer.single(safe_outputs)
    if variant == "original":
        pairs = [{} for _ in records]
    else:
        pairs = scorer.pairs([r.text for r in records], safe_outputs, [list(r.biased_words) for r in records])
    rows = []
    for record, output, s, p in zip(records, outputs, single, pairs, strict=True):
        row = {"variant": variant, "id": record.id, "text": record.text, "output": output, **s, **p}
        for key in ("groups", "domain", "group"):
            if key in record.extra:
                row[key] = record.extra[key]
        rows.append(row)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, float]:
    summary = {"n": float(len(rows))}
    for key in SUMMARY_KEYS:
        values = [r[key] for r in rows if key in r]
        if not values:
            continue
        if key == "perplexity":
            summary["perplexity_median"] = median(values)
        elif key == "toxic_flag":
            summary["pct_toxic"] = 100.0 * mean(values)
        else:
            summary[key] = mean(values)
    summary["empty_outputs"] = float(sum(1 for r in rows if not str(r.get("output", "")).strip()))
    return summary


def summary_table(summary: dict[str, dict[str, float]], config: MethodsConfig) -> Table:
    columns = ["variant", "n", "% toxic", "mean toxicity", "judge harm", "bias", "retention", "similarity",
               "perplexity (median)"]
    keys = ["n", "pct_toxic", "toxicity", "judge", "bias", "retention", "similarity", "perplexity_median"]
    rows = []
    for name, values in summary.items():
        row: list[Any] = [name]
        for key in keys:
            value = values.get(key, math.nan)
            row.append(int(value) if key == "n" else value)
        rows.append(row)
    return Table(
        f"Methods comparison on {config.dataset} (model {config.model})", columns, rows,
        caption="% toxic: Jigsaw max label >= 0.5; mean toxicity: Jigsaw 'toxic' probability; judge harm: the "
                "srllm judge's max(toxic, stereotype); bias: bias-head probability; retention and similarity: "
                "original -> output (1 = same); perplexity under the base model. Lower is better for toxicity "
                "and bias.",
    )
