"""Statistics for the paper's comparisons: t-tests with effect sizes, bootstrap CIs and CLEN.

SR-LLM (arXiv 2404.01399) Section 4.4 reports a style shift with a one-sample t-test; we add the
paired test on the same texts and Cohen's d, because a p-value alone says nothing about size.
The tests are scipy's; this module only packages their output with the effect size. Fleiss'
kappa lives in srllm.data.agreement.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# A sentence ends at . ! ? (possibly repeated) followed by space or the end; newlines end one too.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"\b\w[\w'-]*\b")


@dataclass(frozen=True)
class TTestResult:
    """One t-test with its effect size (Cohen's d) and a t-distribution to draw it against."""

    test: str
    n: int
    mean: float
    std: float
    t: float
    df: float
    p_value: float
    cohen_d: float
    popmean: float = 0.0
    alternative: str = "two-sided"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clean(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(list(values), dtype=np.float64)
    return array[~np.isnan(array)]


def cohen_d_one_sample(values: Sequence[float], popmean: float = 0.0) -> float:
    """(mean - popmean) / sample std (ddof=1); for a paired test pass the differences (d_z)."""
    data = _clean(values)
    if data.size < 2:
        return math.nan
    std = float(data.std(ddof=1))
    if std == 0.0:
        return math.nan if float(data.mean()) == popmean else math.copysign(math.inf, data.mean() - popmean)
    return float((data.mean() - popmean) / std)


def one_sample_ttest(values: Sequence[float], popmean: float = 0.0,
                     alternative: str = "two-sided") -> TTestResult:
    """scipy.stats.ttest_1samp plus Cohen's d."""
    from scipy import stats

    data = _clean(values)
    result = stats.ttest_1samp(data, popmean, alternative=alternative)
    return TTestResult(
        test="one-sample", n=int(data.size), mean=float(data.mean()) if data.size else math.nan,
        std=float(data.std(ddof=1)) if data.size > 1 else math.nan, t=float(result.statistic),
        df=float(result.df), p_value=float(result.pvalue), cohen_d=cohen_d_one_sample(data, popmean),
        popmean=popmean, alternative=alternative,
    )


def paired_ttest(before: Sequence[float], after: Sequence[float],
                 alternative: str = "two-sided") -> TTestResult:
    """scipy.stats.ttest_rel on (after - before); Cohen's d_z is the mean difference over its std."""
    from scipy import stats

    a = np.asarray(list(before), dtype=np.float64)
    b = np.asarray(list(after), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired test needs equal lengths, got {a.size} and {b.size}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    result = stats.ttest_rel(b, a, alternative=alternative)
    diff = b - a
    return TTestResult(
        test="paired", n=int(diff.size), mean=float(diff.mean()) if diff.size else math.nan,
        std=float(diff.std(ddof=1)) if diff.size > 1 else math.nan, t=float(result.statistic),
        df=float(result.df), p_value=float(result.pvalue), cohen_d=cohen_d_one_sample(diff),
        alternative=alternative,
    )


@dataclass(frozen=True)
class MeanCI:
    mean: float
    low: float
    high: float
    n: int
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bootstrap_mean_ci(values: Sequence[float], confidence: float = 0.95, n_resamples: int = 2000,
                      seed: int = 0) -> MeanCI:
    """Mean and its bootstrap CI (scipy.stats.bootstrap, BCa; percentile when BCa is degenerate)."""
    from scipy import stats

    data = _clean(values)
    if data.size == 0:
        return MeanCI(math.nan, math.nan, math.nan, 0, confidence)
    mean = float(data.mean())
    if data.size < 2 or float(data.std()) == 0.0:
        # Every resample has the same mean; scipy would warn and return NaN.
        return MeanCI(mean, mean, mean, int(data.size), confidence)
    rng = np.random.default_rng(seed)
    interval = stats.bootstrap((data,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                               method="BCa", random_state=rng).confidence_interval
    low, high = float(interval.low), float(interval.high)
    if math.isnan(low) or math.isnan(high):
        interval = stats.bootstrap((data,), np.mean, confidence_level=confidence,
                                   n_resamples=n_resamples, method="percentile",
                                   random_state=rng).confidence_interval
        low, high = float(interval.low), float(interval.high)
    return MeanCI(mean, low, high, int(data.size), confidence)


def split_sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


def sentence_lengths(text: str) -> list[int]:
    """Words per sentence (sentences without a word are skipped)."""
    return [n for n in (len(_WORD.findall(s)) for s in split_sentences(text)) if n > 0]


def length_entropy(lengths: Sequence[int]) -> float:
    """Shannon entropy (bits) of the empirical distribution of the given lengths."""
    counts = Counter(lengths)
    total = sum(counts.values())
    if total == 0:
        return 0.0
    probs = np.array([c / total for c in counts.values()])
    return float(-(probs * np.log2(probs)).sum())


def clen(texts: Sequence[str]) -> float:
    """CLEN: entropy of the sentence-length distribution over a corpus (bits).

    A style statistic used in the paper's style-shift analysis (Section 4.4): a rewrite that
    flattens or fragments sentences changes it even when its content is the same.
    """
    return length_entropy([n for text in texts for n in sentence_lengths(text)])
