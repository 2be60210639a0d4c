"""Style shift before/after rewriting (paper Section 4.4, Figure 3).

Measures, on the same texts before and after rewriting:
- CLEN, the entropy of the sentence-length distribution over the corpus, and words per sentence;
- attribute scores (default: Jigsaw toxicity, the bias head and the srllm judge's harm), per text.
Tests: the paper's one-sample t-test (rewritten scores against the originals' mean) and, since
the texts are paired, the paired t-test; both with Cohen's d and scipy's p-value. Figure: the
t-distribution with the observed statistics (Figure 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from srllm.errors import InputError
from srllm.evaluate.experiments.base import (
    Experiment,
    ExperimentResult,
    RunContext,
    Table,
    mean,
    register_experiment,
)
from srllm.evaluate.experiments.common import ModelPool, OneRewriterConfig, first_rewriter, subsample
from srllm.evaluate.loaders import load_texts
from srllm.evaluate.stats import clen, one_sample_ttest, paired_ttest, sentence_lengths


class StyleConfig(OneRewriterConfig):  # the variant rewrites unless the file has rewrites
    # Scorer names from srllm.scorers; each one's main score is tested.
    attributes: list[str] = ["toxicity", "bias", "judge"]
    rewrite_field: str = "rewrite"  # rows carrying this field are not rewritten again
    alpha: float = 0.05
    limit: int | None = 100


@register_experiment("style")
class StyleShift(Experiment):
    title = "Style shift: CLEN, attribute scores, t-tests"
    paper = "Section 4.4, Figure 3"
    Config = StyleConfig

    def run(self, config: StyleConfig, ctx: RunContext) -> ExperimentResult:  # type: ignore[override]
        if not config.data:
            raise InputError("the style experiment needs --data PATH (JSONL with `text`, optionally "
                             f"`{config.rewrite_field}`)", field="data")
        records = subsample(load_texts(ctx.uses_data(config.data)), config.limit, config.seed)
        before = [r.text for r in records]
        after = self._rewrites(records, config, ctx)
        rows: list[list[Any]] = []
        tests: dict[str, Any] = {}
        per_text = [{"id": r.id, "text": r.text, "output": a} for r, a in zip(records, after, strict=True)]
        # Words per sentence, per text: the paired view of CLEN.
        wps_before = [_words_per_sentence(t) for t in before]
        wps_after = [_words_per_sentence(t) for t in after]
        for row, b, a in zip(per_text, wps_before, wps_after, strict=True):
            row.update(words_per_sentence_before=b, words_per_sentence_after=a)
        tests["words_per_sentence"] = self._tests(wps_before, wps_after)
        for name in config.attributes:
            scores = _attribute_scores(name, before, after, ctx)
            if scores is None:
                continue
            key, b_scores, a_scores = scores
            for row, b, a in zip(per_text, b_scores, a_scores, strict=True):
                row.update({f"{name}_before": b, f"{name}_after": a})
            tests[name] = self._tests(b_scores, a_scores)
            tests[name]["key"] = key
        for name, result in tests.items():
            for kind in ("one_sample", "paired"):
                t = result[kind]
                rows.append([name, kind.replace("_", "-"), t["n"], result["mean_before"], result["mean_after"],
                             t["t"], t["df"], t["p_value"], t["cohen_d"],
                             "yes" if t["p_value"] < config.alpha else "no"])
        clen_before, clen_after = clen(before), clen([a for a in after if a.strip()])
        metrics = {"clen_before": clen_before, "clen_after": clen_after, "tests": tests, "n": len(records)}
        figure = self._figure(tests, config, ctx)
        tables = [
            Table("Style shift tests (after vs before)",
                  ["measure", "test", "n", "mean before", "mean after", "t", "df", "p", "Cohen's d",
                   f"p < {config.alpha}"], rows,
                  caption="one-sample: rewritten scores against the originals' mean (as in the paper); "
                          "paired: after - before on the same texts; Cohen's d = mean difference / its SD."),
            Table("CLEN (entropy of sentence lengths, bits)", ["corpus", "texts", "CLEN"],
                  [["before", len(before), clen_before], ["after", len(after), clen_after]]),
        ]
        return ExperimentResult(metrics=metrics, tables=tables, records=per_text,
                                figures={"t_distribution": figure} if figure else {})

    def _rewrites(self, records: list[Any], config: StyleConfig, ctx: RunContext) -> list[str]:
        given = [r.extra.get(config.rewrite_field) for r in records]
        if all(isinstance(g, str) for g in given):
            ctx.note(f"rewrites taken from the data file's `{config.rewrite_field}` field")
            return [str(g) for g in given]
        texts = [r.text for r in records]
        rewriter, _ = first_rewriter(ModelPool(config.model, ctx), config, texts)
        return [r.rewrite for r in rewriter.rewrite(texts, batch_size=config.batch_size, progress=config.progress)]

    @staticmethod
    def _tests(before: list[float], after: list[float]) -> dict[str, Any]:
        return {"mean_before": mean(before), "mean_after": mean(after),
                "one_sample": one_sample_ttest(after, popmean=mean(before)).to_dict(),
                "paired": paired_ttest(before, after).to_dict()}

    @staticmethod
    def _figure(tests: dict[str, Any], config: StyleConfig, ctx: RunContext) -> Path | None:
        from srllm.evaluate.experiments.plots import t_distribution

        marks = [(f"{name} (paired)", result["paired"]["t"], result["paired"]["df"])
                 for name, result in tests.items() if result["paired"]["n"] > 1]
        if not marks:
            return None
        return t_distribution(marks, ctx.figure_path("t_distribution"), alpha=config.alpha,
                              title="Style shift: paired t statistics against the t-distribution")


def _words_per_sentence(text: str) -> float:
    lengths = sentence_lengths(text)
    return sum(lengths) / len(lengths) if lengths else 0.0


def _attribute_scores(name: str, before: list[str], after: list[str],
                      ctx: RunContext) -> tuple[str, list[float], list[float]] | None:
    from srllm.errors import SrllmError
    from srllm.evaluate.experiments.common import get_scorer

    scorer = get_scorer(name)
    if scorer.pairwise:
        raise InputError(f"scorer '{name}' compares pairs; pick a single-text scorer", field="attributes")
    try:
        b = scorer.score(before)
        a = scorer.score([t if t.strip() else " " for t in after])
    except SrllmError as exc:
        ctx.note(f"attribute '{name}' skipped: {exc}")
        return None
    key = scorer.main_key
    return key, [s[key] for s in b], [s[key] for s in a]
