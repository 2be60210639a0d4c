"""Per-demographic toxicity before and after rewriting (paper Table 5), over ToxiGen's 13 groups.

Statements are sampled per target group (a statement tagged with several groups counts for
each), rewritten once by the chosen variant, and scored with the Jigsaw toxicity model (the paper's
independent scorer) and, beside it, the srllm judge (mean max(toxic, stereotype)).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from srllm.evaluate.experiments.base import (
    Experiment,
    ExperimentResult,
    RunContext,
    Table,
    mean,
    register_experiment,
)
from srllm.evaluate.experiments.common import ModelPool, OneRewriterConfig, OutputScorer, first_rewriter
from srllm.evaluate.loaders import TOXIGEN_GROUPS, ToxiGenStatement, default_path, load_toxigen


class ToxiGenGroupsConfig(OneRewriterConfig):
    label: str = "hate"  # hate | neutral | all
    groups: list[str] | None = None  # default: every group present in the data
    limit: int | None = 20  # statements per group


@register_experiment("toxigen-groups")
class ToxiGenGroups(Experiment):
    title = "Toxicity per ToxiGen target group, before and after rewriting"
    paper = "Table 5"
    Config = ToxiGenGroupsConfig

    def run(self, config: ToxiGenGroupsConfig, ctx: RunContext) -> ExperimentResult:  # type: ignore[override]
        path = Path(config.data) if config.data else default_path("toxigen", "annotated", "toxiGen.json")
        statements = load_toxigen(path if config.source == "local" else None, source=config.source)
        if config.source == "local":
            ctx.uses_data(path)
        by_group = sample_per_group(statements, config)
        texts = list(dict.fromkeys(s.text for chosen in by_group.values() for s in chosen))
        pool = ModelPool(config.model, ctx)
        rewriter, variant = first_rewriter(pool, config, texts)
        rewrites = [r.rewrite for r in rewriter.rewrite(texts, batch_size=config.batch_size,
                                                        progress=config.progress)]
        scorer = OutputScorer(pool, perplexity=False, bias=False)
        before = dict(zip(texts, scorer.single(texts), strict=True))
        after = dict(zip(texts, scorer.single([r if r.strip() else " " for r in rewrites]), strict=True))
        rewrite_of = dict(zip(texts, rewrites, strict=True))
        records, rows, metrics = [], [], {"variant": variant.name, "groups": {}}
        for group, chosen in by_group.items():
            summary = group_summary([before[s.text] for s in chosen], [after[s.text] for s in chosen])
            metrics["groups"][group] = summary
            rows.append([group, len(chosen), summary["pct_toxic_before"], summary["pct_toxic_after"],
                         summary["toxicity_before"], summary["toxicity_after"],
                         summary["toxicity_after"] - summary["toxicity_before"],
                         summary["judge_before"], summary["judge_after"]])
            records += [{"group": group, "id": s.id, "text": s.text, "output": rewrite_of[s.text],
                         "toxicity_before": before[s.text]["toxicity"], "toxicity_after": after[s.text]["toxicity"],
                         "toxic_flag_before": before[s.text]["toxic_flag"],
                         "toxic_flag_after": after[s.text]["toxic_flag"],
                         "judge_before": before[s.text].get("judge"), "judge_after": after[s.text].get("judge")}
                        for s in chosen]
        overall = group_summary([before[t] for t in texts], [after[t] for t in texts])
        metrics["overall"] = overall
        rows.append(["all (unique statements)", len(texts), overall["pct_toxic_before"],
                     overall["pct_toxic_after"], overall["toxicity_before"], overall["toxicity_after"],
                     overall["toxicity_after"] - overall["toxicity_before"],
                     overall["judge_before"], overall["judge_after"]])
        table = Table(
            f"Toxicity per ToxiGen target group ({config.label} statements, rewritten by {variant.name})",
            ["group", "n", "% toxic before", "% toxic after", "toxicity before", "toxicity after", "Δ toxicity",
             "judge harm before", "judge harm after"],
            rows, caption="Jigsaw toxicity; % toxic = max label >= 0.5; judge harm: the srllm judge's mean "
                          "max(toxic, stereotype), which also reads stereotypes.",
        )
        figure = plot_groups(metrics["groups"], ctx.figure_path("toxicity_by_group"))
        return ExperimentResult(metrics=metrics, tables=[table], records=records,
                                figures={"toxicity_by_group": figure})


def sample_per_group(statements: list[ToxiGenStatement],
                     config: ToxiGenGroupsConfig) -> dict[str, list[ToxiGenStatement]]:
    pool: dict[str, list[ToxiGenStatement]] = defaultdict(list)
    for statement in statements:
        if config.label != "all" and statement.label != config.label:
            continue
        for group in statement.groups:
            pool[group].append(statement)
    wanted = config.groups or [g for g in TOXIGEN_GROUPS if g in pool] + sorted(set(pool) - set(TOXIGEN_GROUPS))
    chosen = {}
    for group in wanted:
        items = pool.get(group, [])
        if config.limit and len(items) > config.limit:
            items = random.Random(f"{config.seed}:{group}").sample(items, config.limit)
        if items:
            chosen[group] = items
    return chosen


def group_summary(before: list[dict[str, float]], after: list[dict[str, float]]) -> dict[str, float]:
    return {
        "n": len(before),
        "pct_toxic_before": 100.0 * mean([b["toxic_flag"] for b in before]),
        "pct_toxic_after": 100.0 * mean([a["toxic_flag"] for a in after]),
        "toxicity_before": mean([b["toxicity"] for b in before]),
        "toxicity_after": mean([a["toxicity"] for a in after]),
        # The judge may be unavailable (noted by OutputScorer): its columns are then NaN.
        "judge_before": mean([b.get("judge", math.nan) for b in before]),
        "judge_after": mean([a.get("judge", math.nan) for a in after]),
    }


def plot_groups(groups: dict[str, dict[str, Any]], path: Path) -> Path:
    """Grouped bars: mean toxicity per group before and after rewriting."""
    from srllm.evaluate.experiments.plots import before_after_bars

    names = list(groups)
    return before_after_bars(names, [groups[g]["toxicity_before"] for g in names],
                             [groups[g]["toxicity_after"] for g in names], path,
                             title="Mean toxicity per target group", ylabel="Jigsaw toxicity")
