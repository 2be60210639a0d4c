"""`srllm report RUN_DIR...`: Markdown + one self-contained HTML page from experiment run dirs.

For each run: its tables (results.json), its figures, histograms of the per-item scores, bootstrap
95 % confidence intervals of each score's mean (scipy.stats.bootstrap over records.jsonl), its
notes and its metadata (model, adapter, data hashes, library versions). The HTML inlines its CSS
and embeds every PNG as base64, so it opens offline and can be mailed as one file.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from srllm.evaluate.experiments.base import Table
from srllm.evaluate.experiments.runner import load_run
from srllm.evaluate.stats import bootstrap_mean_ci

# Per-item scores worth a CI and a histogram, in display order.
SCORE_KEYS = ("toxicity", "toxic_flag", "bias", "retention", "similarity", "perplexity", "masculine", "feminine",
              "toxicity_before", "toxicity_after", "safety", "language")
HISTOGRAM_KEYS = ("toxicity", "bias", "retention", "similarity")


@dataclass
class RunSection:
    name: str
    title: str
    paper: str
    run_dir: Path
    tables: list[Table]
    figures: dict[str, Path]
    notes: list[str]
    metadata: dict[str, Any]
    extra_tables: list[Table] = field(default_factory=list)


def build_sections(run_dirs: list[Path], out_dir: Path, *, n_resamples: int = 2000) -> list[RunSection]:
    sections = []
    figures_dir = out_dir / "figures"
    for index, run_dir in enumerate(run_dirs):
        run = load_run(run_dir)
        results, metadata, records = run["results"], run["metadata"], run["records"]
        figures = {name: Path(run_dir) / rel for name, rel in results.get("figures", {}).items()
                   if (Path(run_dir) / rel).is_file()}
        prefix = f"{index + 1:02d}-{results['experiment']}"
        figures.update(score_histograms(records, figures_dir, prefix))
        section = RunSection(
            name=results["experiment"], title=results.get("title", results["experiment"]),
            paper=results.get("paper", ""), run_dir=Path(run_dir),
            tables=[Table.from_dict(t) for t in results.get("tables", [])], figures=figures,
            notes=results.get("notes", []), metadata=metadata,
        )
        ci_table = confidence_table(records, n_resamples=n_resamples)
        if ci_table is not None:
            section.extra_tables.append(ci_table)
        sections.append(section)
    return sections


def _group_key(record: dict[str, Any]) -> str:
    for key in ("variant", "group"):
        if key in record and isinstance(record[key], str):
            return record[key]
    return "all"


def confidence_table(records: list[dict[str, Any]], *, n_resamples: int = 2000) -> Table | None:
    """Mean and bootstrap 95 % CI of every per-item score, per variant (or group)."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        grouped[_group_key(record)].append(record)
    rows = []
    for group, items in grouped.items():
        for key in SCORE_KEYS:
            values = [float(r[key]) for r in items if isinstance(r.get(key), (int, float))]
            if not values:
                continue
            ci = bootstrap_mean_ci(values, n_resamples=n_resamples)
            rows.append([group, key, ci.n, ci.mean, ci.low, ci.high])
    if not rows:
        return None
    return Table("Bootstrap 95 % confidence intervals of the means", ["variant / group", "score", "n", "mean",
                                                                        "CI low", "CI high"], rows,
                 caption="scipy.stats.bootstrap (BCa, 2,000 resamples) over the run's per-item records.")


def score_histograms(records: list[dict[str, Any]], figures_dir: Path, prefix: str) -> dict[str, Path]:
    from srllm.evaluate.experiments.plots import histograms

    figures: dict[str, Path] = {}
    if not records:
        return figures
    figures_dir.mkdir(parents=True, exist_ok=True)
    for key in HISTOGRAM_KEYS:
        series: dict[str, list[float]] = defaultdict(list)
        for record in records:
            if isinstance(record.get(key), (int, float)):
                series[_group_key(record)].append(float(record[key]))
        if series:
            figures[f"{key} histogram"] = histograms(series, figures_dir / f"{prefix}-{key}.png",
                                                    title=f"{key} per variant", xlabel=key)
    before = [float(r["toxicity_before"]) for r in records if isinstance(r.get("toxicity_before"), (int, float))]
    after = [float(r["toxicity_after"]) for r in records if isinstance(r.get("toxicity_after"), (int, float))]
    if before and after:
        figures["toxicity histogram"] = histograms({"before": before, "after": after},
                                                   figures_dir / f"{prefix}-toxicity.png",
                                                   title="toxicity before and after", xlabel="toxicity")
    return figures


# ------------------------------------------------------------------------------------- Markdown
def render_markdown(sections: list[RunSection], out_dir: Path) -> str:
    lines = ["# srllm evaluation report", "", f"Generated {_now()} from {len(sections)} run(s).", ""]
    for section in sections:
        lines += [f"## {section.title}" + (f" (paper: {section.paper})" if section.paper else ""), "",
                  f"Run dir: `{section.run_dir}`", ""]
        for table in section.tables + section.extra_tables:
            lines.append(table.to_markdown())
        for name, path in section.figures.items():
            lines += [f"![{name}]({_relative(path, out_dir)})", ""]
        if section.notes:
            lines += ["Notes:", ""] + [f"- {note}" for note in section.notes] + [""]
        lines += ["<details><summary>Metadata</summary>", "", "```json",
                  json.dumps(section.metadata, indent=2), "```", "", "</details>", ""]
    return "\n".join(lines)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(Path(path).resolve())


# ----------------------------------------------------------------------------------------- HTML
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;line-height:1.45;padding:0 1rem}
h1{border-bottom:2px solid #4c72b0;padding-bottom:.3rem}h2{margin-top:2.5rem;color:#4c72b0}
table{border-collapse:collapse;margin:.8rem 0 1.6rem;font-size:.92rem}
th,td{border:1px solid #ccc;padding:.3rem .6rem}th{background:#eef2f8;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}caption{caption-side:top;text-align:left;
font-weight:600;padding:.3rem 0}p.caption{color:#555;font-size:.88rem;margin:-.4rem 0 .6rem}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{color:#555;font-size:.85rem}
pre{background:#f6f8fa;padding:.8rem;overflow:auto;font-size:.8rem}.notes li{color:#7a4d00}
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>srllm evaluation report</title>
<style>{{ css }}</style></head><body>
<h1>srllm evaluation report</h1>
<p>Generated {{ generated }} from {{ sections|length }} run(s).</p>
{% for s in sections %}
<section>
<h2>{{ s.title }}{% if s.paper %} <small>(paper: {{ s.paper }})</small>{% endif %}</h2>
<p>Run dir: <code>{{ s.run_dir }}</code></p>
{% for t in s.tables %}
<table><caption>{{ t.title }}</caption>
<thead><tr>{% for c in t.columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in t.rows %}<tr>{% for v in row %}<td{% if v is number %} class="num"{% endif %}>{{ fmt(v) }}</td>
{% endfor %}</tr>{% endfor %}</tbody></table>
{% if t.caption %}<p class="caption">{{ t.caption }}</p>{% endif %}
{% endfor %}
{% for name, data in s.images %}
<figure><img alt="{{ name }}" src="data:image/png;base64,{{ data }}"><figcaption>{{ name }}</figcaption></figure>
{% endfor %}
{% if s.notes %}<h3>Notes</h3><ul class="notes">{% for n in s.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
<details><summary>Metadata</summary><pre>{{ s.metadata }}</pre></details>
</section>
{% endfor %}
</body></html>
"""


def render_html(sections: list[RunSection]) -> str:
    from jinja2 import Environment

    from srllm.evaluate.experiments.base import format_cell

    env = Environment(autoescape=True)
    template = env.from_string(PAGE)
    views = [{
        "title": s.title, "paper": s.paper, "run_dir": str(s.run_dir), "notes": s.notes,
        "tables": s.tables + s.extra_tables,
        "images": [(name, base64.b64encode(Path(p).read_bytes()).decode("ascii")) for name, p in s.figures.items()],
        "metadata": json.dumps(s.metadata, indent=2),
    } for s in sections]
    return template.render(css=CSS, sections=views, generated=_now(), fmt=format_cell)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def write_report(run_dirs: list[str | Path], out_dir: str | Path, *, n_resamples: int = 2000) -> tuple[Path, Path]:
    """Write report.md and report.html (plus figures/ for the Markdown) into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections = build_sections([Path(p) for p in run_dirs], out, n_resamples=n_resamples)
    markdown_path, html_path = out / "report.md", out / "report.html"
    markdown_path.write_text(render_markdown(sections, out), encoding="utf-8")
    html_path.write_text(render_html(sections), encoding="utf-8")
    return markdown_path, html_path

