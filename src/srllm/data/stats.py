"""Dataset statistics as in the paper's Appendix: label distributions (Table 12), lengths
(Table 11), Flesch reading ease by sentiment (Figure 6) and normalized edit distance between
original and safe variation (Table 13). Written as Markdown + JSON + PNG plots.
"""

from __future__ import annotations

import functools
import json
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from srllm.data.checks import is_placeholder
from srllm.data.schema import LABEL_NAMES, LABEL_VALUES, CMDRecord
from srllm.text.writers import atomic_open

MISSING = "(missing)"
UNLABELED = "(unlabeled)"


def _summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "mean": statistics.fmean(values),
            "std": statistics.pstdev(values) if len(values) > 1 else 0.0,
            "min": float(min(values)), "median": float(statistics.median(values)), "max": float(max(values))}


def _pairs(records: Sequence[CMDRecord]) -> list[tuple[CMDRecord, str]]:
    return [(r, r.safe_variation) for r in records if not is_placeholder(r.safe_variation)]  # type: ignore[misc]


def label_distribution(records: Sequence[CMDRecord]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name in LABEL_NAMES:
        counts = Counter(getattr(r.labels, name) or MISSING for r in records)
        ordered = [v for v in (*LABEL_VALUES[name], MISSING) if counts.get(v)]
        out[name] = {value: counts[value] for value in ordered}
    return out


def length_stats(records: Sequence[CMDRecord]) -> dict[str, dict[str, dict[str, float]]]:
    rewrites = [rewrite for _, rewrite in _pairs(records)]
    texts = {"text": [r.text for r in records], "safe_variation": rewrites}
    return {column: {"chars": _summary([len(t) for t in values]),
                     "words": _summary([len(t.split()) for t in values])}
            for column, values in texts.items()}


@functools.cache
def syllable_source() -> str:
    """'cmudict' when NLTK's CMU dictionary is installed, else 'pyphen' (hyphenation-based)."""
    import nltk

    try:
        nltk.data.find("corpora/cmudict")
        return "cmudict"
    except LookupError:
        return "pyphen"


_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


def flesch_reading_ease(text: str) -> float:
    """Flesch reading ease; textstat's when it can count syllables offline.

    textstat 0.7.13 downloads NLTK's cmudict on first use and fails offline; without it,
    syllables are counted with pyphen exactly as textstat's own fallback does, and the
    formula is Flesch's (206.835 - 1.015 words/sentence - 84.6 syllables/word).
    """
    import textstat

    if syllable_source() == "cmudict":
        return float(textstat.flesch_reading_ease(text))
    words = _WORD.findall(text.lower())
    if not words:
        return 0.0
    sentences = max(1, textstat.sentence_count(text))
    syllables = sum(len(_pyphen().positions(word)) + 1 for word in words)
    return 206.835 - 1.015 * len(words) / sentences - 84.6 * syllables / len(words)


@functools.cache
def _pyphen() -> Any:
    from pyphen import Pyphen

    return Pyphen(lang="en_US")


def flesch_by_sentiment(records: Sequence[CMDRecord]) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"text": [], "safe_variation": []})
    for r in records:
        group = groups[r.labels.sentiment or UNLABELED]
        group["text"].append(flesch_reading_ease(r.text))
        if not is_placeholder(r.safe_variation):
            group["safe_variation"].append(flesch_reading_ease(r.safe_variation or ""))
    order = [*LABEL_VALUES["sentiment"], UNLABELED]
    return {name: {column: _summary(values) for column, values in groups[name].items()}
            for name in order if name in groups}


def edit_distances(records: Sequence[CMDRecord]) -> dict[str, list[float]]:
    """Normalized Levenshtein distance (0 = same, 1 = nothing shared), over characters and words."""
    from rapidfuzz.distance import Levenshtein

    chars, words = [], []
    for record, rewrite in _pairs(records):
        chars.append(Levenshtein.normalized_distance(record.text, rewrite))
        words.append(Levenshtein.normalized_distance(record.text.split(), rewrite.split()))
    return {"chars": chars, "words": words}


def compute_stats(records: Sequence[CMDRecord]) -> dict[str, Any]:
    """All statistics as one JSON-ready dict."""
    distances = edit_distances(records)
    return {
        "records": len(records),
        "with_safe_variation": len(_pairs(records)),
        "labels": label_distribution(records),
        "lengths": length_stats(records),
        "flesch_by_sentiment": flesch_by_sentiment(records),
        "flesch_syllables": syllable_source(),
        "edit_distance": {unit: _summary(values) for unit, values in distances.items()},
        "aspects": dict(Counter(r.aspect for r in records if r.aspect).most_common()),
        "target_groups": dict(Counter(g for r in records for g in r.target_groups).most_common()),
        "other_columns": categorical_meta(records),
    }


def categorical_meta(records: Sequence[CMDRecord], max_values: int = 12) -> dict[str, dict[str, int]]:
    """Distributions of imported columns with few distinct values (e.g. the SR-LLM CSV's bias degree)."""
    values: dict[str, Counter[str]] = defaultdict(Counter)
    for r in records:
        for key, value in r.meta.items():
            if isinstance(value, str):
                values[key][value] += 1
    return {key: dict(counts.most_common()) for key, counts in values.items() if len(counts) <= max_values}


# ---- Markdown ------------------------------------------------------------------------------

def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _summary_row(label: str, s: dict[str, float]) -> list[Any]:
    return [label, s["n"], *(s.get(k, "-") for k in ("mean", "std", "min", "median", "max"))]


def render_markdown(stats: dict[str, Any], title: str = "Dataset statistics") -> str:
    total = stats["records"] or 1
    lines = [f"# {title}", "", f"Records: {stats['records']}; with a safe variation: "
             f"{stats['with_safe_variation']}.", "", "## Label distribution (paper Table 12)", ""]
    rows = [[name, value, count, 100.0 * count / total]
            for name, counts in stats["labels"].items() for value, count in counts.items()]
    lines += _table(["label", "value", "count", "%"], rows)
    lines += ["## Lengths (paper Table 11)", ""]
    rows = [_summary_row(f"{column} ({unit})", s)
            for column, units in stats["lengths"].items() for unit, s in units.items()]
    lines += _table(["", "n", "mean", "std", "min", "median", "max"], rows)
    lines += ["## Flesch reading ease by sentiment (paper Figure 6)", ""]
    rows = [[sentiment, column, s["n"], s.get("mean", "-"), s.get("std", "-")]
            for sentiment, columns in stats["flesch_by_sentiment"].items() for column, s in columns.items()]
    lines += _table(["sentiment", "column", "n", "mean", "std"], rows)
    lines += ["## Normalized edit distance, original -> safe variation (paper Table 13)", ""]
    rows = [_summary_row(unit, s) for unit, s in stats["edit_distance"].items()]
    lines += _table(["unit", "n", "mean", "std", "min", "median", "max"], rows)
    for column, counts in stats["other_columns"].items():
        lines += [f"## Column '{column}'", ""]
        lines += _table(["value", "count", "%"], [[v, c, 100.0 * c / total] for v, c in counts.items()])
    for key, title in (("aspects", "Aspects"), ("target_groups", "Target groups")):
        if stats[key]:
            lines += [f"## {title}", ""]
            lines += _table([key.rstrip("s"), "count"], [[a, c] for a, c in stats[key].items()])
    return "\n".join(lines)


# ---- plots ---------------------------------------------------------------------------------

def _plots(records: Sequence[CMDRecord], stats: dict[str, Any], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers and CI
    import matplotlib.pyplot as plt

    paths: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = out_dir / name
        fig.tight_layout()
        with atomic_open(path, "wb") as handle:
            fig.savefig(handle, format="png", dpi=100)
        plt.close(fig)
        paths.append(path)

    fig, axes = plt.subplots(1, len(LABEL_NAMES), figsize=(4 * len(LABEL_NAMES), 3.2))
    for ax, (name, counts) in zip(axes, stats["labels"].items(), strict=True):
        ax.bar(list(counts), list(counts.values()), color="#4c72b0")
        ax.set_title(name)
        ax.tick_params(axis="x", rotation=30)
    save(fig, "labels.png")

    pairs = _pairs(records)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, unit, measure in ((axes[0], "characters", len), (axes[1], "words", lambda t: len(t.split()))):
        ax.hist([measure(r.text) for r in records], bins=30, alpha=0.6, label="original")
        ax.hist([measure(t) for _, t in pairs], bins=30, alpha=0.6, label="safe variation")
        ax.set_xlabel(unit)
        ax.legend()
    save(fig, "lengths.png")

    by_sentiment: dict[str, list[float]] = defaultdict(list)
    for r in records:
        by_sentiment[r.labels.sentiment or UNLABELED].append(flesch_reading_ease(r.text))
    fig, ax = plt.subplots(figsize=(6, 3.2))
    names = [n for n in (*LABEL_VALUES["sentiment"], UNLABELED) if n in by_sentiment]
    ax.boxplot([by_sentiment[n] for n in names], tick_labels=names)
    ax.set_ylabel("Flesch reading ease (original)")
    save(fig, "flesch_by_sentiment.png")

    distances = edit_distances(records)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(distances["chars"], bins=20, range=(0, 1), alpha=0.6, label="characters")
    ax.hist(distances["words"], bins=20, range=(0, 1), alpha=0.6, label="words")
    ax.set_xlabel("normalized edit distance, original -> safe variation")
    ax.legend()
    save(fig, "edit_distance.png")
    return paths


def write_stats(records: Sequence[CMDRecord], out_dir: str | Path, *, title: str = "Dataset statistics",
                plots: bool = True) -> dict[str, Path]:
    """Write stats.md, stats.json and (by default) PNG plots into out_dir; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats = compute_stats(records)
    written = {"markdown": out / "stats.md", "json": out / "stats.json"}
    with atomic_open(written["markdown"]) as handle:
        handle.write(render_markdown(stats, title))
    with atomic_open(written["json"]) as handle:
        json.dump(stats, handle, indent=2, ensure_ascii=False)
    if plots:
        for path in _plots(records, stats, out):
            written[path.stem] = path
    return written
