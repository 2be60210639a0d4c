"""Inter-annotator agreement: Fleiss' kappa with the Landis & Koch bands (paper Appendix A, Table 10).

statsmodels is not a dependency, so the formula (Fleiss 1971) is written out here; it is pinned
by a test against the worked example in Wikipedia's "Fleiss' kappa" article (kappa = 0.210).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from srllm.data.schema import LABEL_NAMES, LABEL_VALUES, CMDRecord
from srllm.errors import InputError

# Upper bounds of the Landis & Koch (1977) bands, as the paper's Table 10 lists them.
KAPPA_BANDS: tuple[tuple[float, str], ...] = (
    (0.0, "poor"), (0.20, "slight"), (0.40, "fair"), (0.60, "moderate"), (0.80, "substantial"),
    (1.0, "almost perfect"),
)


def interpret_kappa(kappa: float) -> str:
    """'poor' (< 0), 'slight' (0.01-0.20), 'fair', 'moderate', 'substantial', 'almost perfect' (0.81-1)."""
    if math.isnan(kappa):
        return "undefined"
    if kappa < 0:
        return "poor"
    value = round(kappa, 2)  # the bands are stated to two decimals
    return next((name for upper, name in KAPPA_BANDS[1:] if value <= upper), "almost perfect")


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float:
    """Fleiss' kappa from an items x categories table of rating counts (same raters per item).

    NaN when every rating falls in one category (chance agreement is 1, kappa undefined).
    """
    rows = [list(map(int, row)) for row in table]
    if not rows or not rows[0]:
        raise InputError("needs at least one item and one category", field="table")
    raters = sum(rows[0])
    if raters < 2:
        raise InputError("needs at least two ratings per item", field="table")
    for number, row in enumerate(rows, start=1):
        if sum(row) != raters or any(v < 0 for v in row):
            raise InputError(f"item {number} has {sum(row)} ratings, others have {raters}; "
                             "Fleiss' kappa needs the same number of raters per item", field="table")
    items = len(rows)
    shares = [sum(row[j] for row in rows) / (items * raters) for j in range(len(rows[0]))]
    per_item = [(sum(v * v for v in row) - raters) / (raters * (raters - 1)) for row in rows]
    observed = sum(per_item) / items
    chance = sum(p * p for p in shares)
    if math.isclose(chance, 1.0):
        return float("nan")
    return (observed - chance) / (1 - chance)


def ratings_table(ratings: Sequence[Sequence[str]], categories: Sequence[str] | None = None
                  ) -> tuple[list[list[int]], list[str]]:
    """Per-item lists of category labels -> (counts table, category order)."""
    cats = list(categories) if categories else sorted({c for item in ratings for c in item})
    index = {c: i for i, c in enumerate(cats)}
    table = []
    for item in ratings:
        row = [0] * len(cats)
        for value in item:
            if value not in index:
                raise InputError(f"rating '{value}' is not one of {cats}", field="ratings")
            row[index[value]] += 1
        table.append(row)
    return table, cats


@dataclass(frozen=True)
class Agreement:
    label: str
    kappa: float
    band: str
    items: int
    raters: int
    skipped: int  # items without the common number of ratings


def label_agreement(records: Sequence[CMDRecord]) -> list[Agreement]:
    """Fleiss' kappa per label over records that share an id (one record per annotator)."""
    by_id: dict[str, list[CMDRecord]] = defaultdict(list)
    for record in records:
        by_id[record.id].append(record)
    results = []
    for name in LABEL_NAMES:
        ratings = [[getattr(r.labels, name) for r in group] for group in by_id.values()]
        ratings = [[v for v in item if v] for item in ratings]
        sizes = Counter(len(item) for item in ratings if len(item) >= 2)
        if not sizes:
            continue
        raters = sizes.most_common(1)[0][0]
        usable = [item for item in ratings if len(item) == raters]
        table, _ = ratings_table(usable, LABEL_VALUES[name])
        kappa = fleiss_kappa(table)
        results.append(Agreement(name, kappa, interpret_kappa(kappa), len(usable), raters,
                                 len(ratings) - len(usable)))
    return results
