"""The experiments' and the report's figures (matplotlib, Agg backend, PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    return plt


def before_after_bars(labels: Sequence[str], before: Sequence[float], after: Sequence[float], path: Path, *,
                      title: str, ylabel: str) -> Path:
    plt = _pyplot()
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(labels) + 2), 4.0))
    ax.bar(x - 0.2, before, width=0.4, label="before", color="#c44e52")
    ax.bar(x + 0.2, after, width=0.4, label="after", color="#4c72b0")
    ax.set_xticks(x, labels, rotation=40, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def t_distribution(tests: Sequence[tuple[str, float, float]], path: Path, *, alpha: float = 0.05,
                   title: str = "t-distribution and observed statistics") -> Path:
    """The t density for each test's df with its observed t marked and the two-sided rejection region.

    `tests`: (label, t, df). Drawn for the first test's df; others are marked on the same axis
    (their df differ little when they share a sample).
    """
    from scipy import stats

    plt = _pyplot()
    df = max(1.0, float(tests[0][2]))
    finite = [abs(t) for _, t, _ in tests if np.isfinite(t)]
    span = max([4.0] + [v * 1.15 for v in finite])
    x = np.linspace(-span, span, 600)
    y = stats.t.pdf(x, df)
    critical = float(stats.t.ppf(1 - alpha / 2, df))
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    ax.plot(x, y, color="black", label=f"t(df={df:g})")
    for side in (x <= -critical, x >= critical):
        ax.fill_between(x[side], y[side], color="#c44e52", alpha=0.3)
    ax.plot([], [], color="#c44e52", alpha=0.3, linewidth=8, label=f"rejection region, α={alpha}")
    colors = ["#4c72b0", "#55a868", "#8172b2", "#ccb974"]
    for index, (label, t, _) in enumerate(tests):
        if np.isfinite(t):
            shown = float(np.clip(t, -span, span))
            ax.axvline(shown, color=colors[index % len(colors)], linestyle="--", label=f"{label}: t={t:.2f}")
    ax.set_xlabel("t")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def histograms(series: dict[str, Sequence[float]], path: Path, *, title: str, xlabel: str,
               bins: int = 20) -> Path:
    """Overlaid histograms (one per variant) of one score."""
    plt = _pyplot()
    clean = {k: np.asarray([v for v in vals if v is not None and np.isfinite(v)], dtype=float)
             for k, vals in series.items()}
    clean = {k: v for k, v in clean.items() if v.size}
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    if clean:
        low = min(float(v.min()) for v in clean.values())
        high = max(float(v.max()) for v in clean.values())
        edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
        for name, values in clean.items():
            ax.hist(values, bins=edges, alpha=0.5, label=f"{name} (n={values.size})")
        ax.legend(fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("texts")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
