"""Statistics: t-tests and Cohen's d against scipy and hand formulas, bootstrap CIs, CLEN."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from srllm.evaluate.stats import (
    bootstrap_mean_ci,
    clen,
    cohen_d_one_sample,
    length_entropy,
    one_sample_ttest,
    paired_ttest,
    sentence_lengths,
)

SAMPLE = [0.12, -0.4, 0.33, 0.9, 0.05, 0.61, -0.2, 0.47, 0.28, 0.15]
BEFORE = [0.9, 0.8, 0.75, 0.6, 0.95, 0.4, 0.7, 0.85]
AFTER = [0.2, 0.35, 0.1, 0.5, 0.3, 0.45, 0.15, 0.25]


def test_one_sample_ttest_matches_scipy_and_the_formula():
    result = one_sample_ttest(SAMPLE, popmean=0.1)
    reference = stats.ttest_1samp(SAMPLE, 0.1)
    assert result.t == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.df == len(SAMPLE) - 1
    data = np.array(SAMPLE)
    by_hand = (data.mean() - 0.1) / (data.std(ddof=1) / math.sqrt(len(data)))
    assert result.t == pytest.approx(by_hand)
    assert result.cohen_d == pytest.approx((data.mean() - 0.1) / data.std(ddof=1))
    # t = d * sqrt(n) for a one-sample test
    assert result.t == pytest.approx(result.cohen_d * math.sqrt(len(data)))


def test_paired_ttest_matches_scipy_and_is_the_one_sample_test_of_differences():
    result = paired_ttest(BEFORE, AFTER)
    reference = stats.ttest_rel(AFTER, BEFORE)
    assert result.t == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)
    diff = np.array(AFTER) - np.array(BEFORE)
    assert result.mean == pytest.approx(diff.mean())
    assert result.cohen_d == pytest.approx(diff.mean() / diff.std(ddof=1))
    assert result.t < 0 and result.p_value < 0.01
    one = one_sample_ttest(diff)
    assert one.t == pytest.approx(result.t) and one.p_value == pytest.approx(result.p_value)


def test_paired_ttest_rejects_unequal_lengths():
    with pytest.raises(ValueError):
        paired_ttest([1.0, 2.0], [1.0])


def test_paired_ttest_drops_pairs_with_a_missing_value():
    result = paired_ttest([1.0, 2.0, math.nan, 4.0], [1.5, 2.0, 3.0, 5.0])
    assert result.n == 3


def test_cohen_d_of_a_constant_sample_is_undefined_or_infinite():
    assert math.isnan(cohen_d_one_sample([0.5, 0.5, 0.5], popmean=0.5))
    assert cohen_d_one_sample([0.5, 0.5, 0.5], popmean=0.0) == math.inf


def test_bootstrap_ci_contains_the_mean_and_is_reproducible():
    values = np.random.default_rng(1).normal(2.0, 1.0, size=60)
    ci = bootstrap_mean_ci(values, seed=3)
    assert ci.low < ci.mean < ci.high
    assert ci.mean == pytest.approx(values.mean())
    assert bootstrap_mean_ci(values, seed=3) == ci
    # ~ mean +- 1.96 sd/sqrt(n)
    half = 1.96 * values.std(ddof=1) / math.sqrt(values.size)
    assert ci.high - ci.low == pytest.approx(2 * half, rel=0.25)


def test_bootstrap_ci_of_constant_or_tiny_samples():
    assert bootstrap_mean_ci([1.0, 1.0, 1.0]).low == 1.0
    assert bootstrap_mean_ci([2.0]).high == 2.0
    assert bootstrap_mean_ci([]).n == 0


def test_sentence_lengths_and_clen():
    assert sentence_lengths("One two three. Four five! Six?") == [3, 2, 1]
    assert length_entropy([3, 3, 3]) == 0.0
    assert length_entropy([1, 2]) == pytest.approx(1.0)
    assert length_entropy([1, 2, 3, 4]) == pytest.approx(2.0)
    # lengths 2, 2, 4, 1 -> p = (1/2, 1/4, 1/4) -> 1.5 bits
    assert clen(["A b. C d.", "E f g h. I."]) == pytest.approx(1.5)
    assert clen([]) == 0.0
