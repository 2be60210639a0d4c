"""Fleiss' kappa against a hand-computed example, and the paper's interpretation bands."""

from __future__ import annotations

import math

import pytest

from srllm.data import CMDRecord, fleiss_kappa, interpret_kappa, label_agreement, ratings_table
from srllm.errors import InputError

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories.
WIKIPEDIA = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def test_wikipedia_worked_example() -> None:
    # P_bar = 0.378, P_e = 0.213 -> kappa = (0.378 - 0.213) / (1 - 0.213) = 0.210
    kappa = fleiss_kappa(WIKIPEDIA)
    assert kappa == pytest.approx(0.2099, abs=1e-4)
    assert interpret_kappa(kappa) == "fair"


def test_small_hand_computed_example() -> None:
    # 3 items, 2 raters, 2 categories: agree, agree, disagree.
    # P_i = 1, 1, 0 -> P_bar = 2/3; p = (3/6, 3/6) -> P_e = 1/2; kappa = (2/3 - 1/2) / (1/2) = 1/3
    table, cats = ratings_table([["Yes", "Yes"], ["No", "No"], ["Yes", "No"]])
    assert cats == ["No", "Yes"]
    assert fleiss_kappa(table) == pytest.approx(1 / 3)


@pytest.mark.parametrize("kappa, band", [
    (-0.1, "poor"), (0.0, "slight"), (0.2, "slight"), (0.21, "fair"), (0.4, "fair"), (0.41, "moderate"),
    (0.6, "moderate"), (0.61, "substantial"), (0.8, "substantial"), (0.81, "almost perfect"),
    (1.0, "almost perfect"),
])
def test_landis_koch_bands(kappa: float, band: str) -> None:
    assert interpret_kappa(kappa) == band


def test_one_category_only_is_undefined() -> None:
    assert math.isnan(fleiss_kappa([[3, 0], [3, 0]]))
    assert interpret_kappa(float("nan")) == "undefined"


def test_unequal_rater_counts_are_a_user_error() -> None:
    with pytest.raises(InputError, match="item 2 has 2 ratings"):
        fleiss_kappa([[1, 2], [1, 1]])


def test_label_agreement_groups_records_by_id() -> None:
    rows = [("a", "Yes", "Yes", "Yes"), ("b", "No", "No", "No"), ("c", "Yes", "No", "Yes"), ("d", "No", "No", "No")]
    records = [CMDRecord(id=item, text=f"text {item}", labels={"bias": value}, annotator=f"ann{k}")
               for item, *values in rows for k, value in enumerate(values)]
    (bias,) = label_agreement(records)
    table, _ = ratings_table([list(values) for _, *values in rows], ["Yes", "No"])
    assert bias.label == "bias" and bias.items == 4 and bias.raters == 3
    assert bias.kappa == pytest.approx(fleiss_kappa(table))
