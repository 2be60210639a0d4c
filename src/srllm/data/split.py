"""Deterministic train/dev/test split, stratified on the labels, with no text in two splits.

The paper splits CMD 70/10/20 (13,999 / 1,999 / 4,001 of 19,999; Section 2.1). scikit-learn's
splitters either stratify (train_test_split, which fails on strata of one) or group
(GroupShuffleSplit, which ignores labels), not both, so the allocation is done here.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

from srllm.data.schema import CMDRecord, normalize_text
from srllm.errors import InputError

DEFAULT_RATIOS: dict[str, float] = {"train": 0.7, "dev": 0.1, "test": 0.2}
RARE = ("<rare>",)


def _order(key: str, seed: int) -> str:
    # Hash order instead of a shuffle: a group's place depends on its own text and the seed only,
    # so adding records elsewhere in the file does not reshuffle everything.
    return hashlib.sha256(f"{seed}\x00{key}".encode()).hexdigest()


def _check_ratios(ratios: dict[str, float]) -> dict[str, float]:
    if not ratios or any(v < 0 for v in ratios.values()) or sum(ratios.values()) <= 0:
        raise InputError(f"split ratios {ratios} must be non-negative and not all zero", field="ratios")
    total = sum(ratios.values())
    return {k: v / total for k, v in ratios.items()}


def split_records(
    records: Sequence[CMDRecord],
    ratios: dict[str, float] | None = None,
    *,
    seed: int = 0,
    stratify: bool = True,
    min_stratum: int | None = None,
) -> dict[str, list[CMDRecord]]:
    """Split records into named parts; identical normalized texts always land in the same part.

    Strata are label combinations; those smaller than `min_stratum` (default: enough records to
    give the smallest part one) are pooled into one stratum so tiny label combinations still split.
    """
    fractions = _check_ratios(dict(ratios or DEFAULT_RATIOS))
    groups: dict[str, list[CMDRecord]] = defaultdict(list)
    for record in records:
        groups[normalize_text(record.text)].append(record)

    smallest = min((f for f in fractions.values() if f > 0), default=1.0)
    threshold = min_stratum if min_stratum is not None else max(2, round(1 / smallest))
    strata: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for key, members in groups.items():
        strata[members[0].labels.key() if stratify else RARE].append(key)
    pooled: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for stratum, keys in strata.items():
        size = sum(len(groups[k]) for k in keys)
        pooled[stratum if size >= threshold else RARE].extend(keys)

    parts: dict[str, list[CMDRecord]] = {name: [] for name in fractions}
    totals = dict.fromkeys(fractions, 0)
    for stratum in sorted(pooled):
        keys = sorted(pooled[stratum], key=lambda k: _order(k, seed))
        placed = dict.fromkeys(fractions, 0)
        size = 0
        for key in keys:
            size += len(groups[key])
            # Give the group to the part furthest below its share of this stratum (ties: the
            # part furthest below its share overall, then declaration order).
            name = max(fractions, key=lambda n: (fractions[n] * size - placed[n],
                                                 fractions[n] * (sum(totals.values()) + 1) - totals[n]))
            placed[name] += len(groups[key])
            totals[name] += len(groups[key])
            parts[name].extend(groups[key])
    position = {id(record): i for i, record in enumerate(records)}
    # Input order inside each part keeps the output easy to compare with the source file.
    return {name: sorted(part, key=lambda r: position[id(r)]) for name, part in parts.items()}
