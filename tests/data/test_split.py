"""Splits: deterministic, proportional, stratified, and no (normalized) text in two splits."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from srllm.data import CMDRecord, normalize_text, split_records
from srllm.errors import InputError


def _records(n: int, seed: int = 1) -> list[CMDRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        labels = {"bias": rng.choice(["Yes", "No"]), "toxicity": rng.choice(["No", "Mild", "High"])}
        out.append(CMDRecord(id=f"r{i}", text=f"text number {i}", labels=labels, safe_variation=f"safe {i}"))
    return out


def _ids(parts: dict[str, list[CMDRecord]]) -> dict[str, list[str]]:
    return {name: [r.id for r in part] for name, part in parts.items()}


def test_default_is_70_10_20_and_covers_every_record() -> None:
    records = _records(2000)
    parts = split_records(records)
    assert list(parts) == ["train", "dev", "test"]
    sizes = {name: len(part) for name, part in parts.items()}
    assert sum(sizes.values()) == 2000
    assert abs(sizes["train"] - 1400) <= 6 and abs(sizes["dev"] - 200) <= 6 and abs(sizes["test"] - 400) <= 6
    assert sorted(r.id for p in parts.values() for r in p) == sorted(r.id for r in records)


def test_same_seed_same_split_other_seed_other_split() -> None:
    records = _records(300)
    assert _ids(split_records(records, seed=7)) == _ids(split_records(records, seed=7))
    assert _ids(split_records(records, seed=7)) != _ids(split_records(records, seed=8))
    # Input order does not change where a record goes.
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    assert {k: sorted(v) for k, v in _ids(split_records(shuffled, seed=7)).items()} == \
        {k: sorted(v) for k, v in _ids(split_records(records, seed=7)).items()}


def test_identical_normalized_texts_never_cross_splits() -> None:
    records = _records(200)
    records += [CMDRecord(id=f"dup{i}", text=f"TEXT number {i}!", safe_variation="x") for i in range(0, 200, 3)]
    parts = split_records(records, seed=0)
    where: dict[str, set[str]] = {}
    for name, part in parts.items():
        for r in part:
            where.setdefault(normalize_text(r.text), set()).add(name)
    assert all(len(names) == 1 for names in where.values())


def test_stratified_label_proportions() -> None:
    records = _records(3000)
    parts = split_records(records, seed=0)
    overall = Counter(r.labels.key() for r in records)
    test = Counter(r.labels.key() for r in parts["test"])
    for key, count in overall.items():
        assert abs(test[key] / len(parts["test"]) - count / len(records)) < 0.01


def test_tiny_strata_are_pooled_and_still_split() -> None:
    records = [CMDRecord(id=f"t{i}", text=f"tiny {i}", labels={"harm": h})
               for i, h in enumerate(["Low", "Medium", "High", "Low", "Medium", "High", "Low", "Low", "Low", "Low"])]
    parts = split_records(records, {"train": 0.8, "test": 0.2}, seed=0)
    assert (len(parts["train"]), len(parts["test"])) == (8, 2)


def test_bad_ratios_are_user_errors() -> None:
    with pytest.raises(InputError, match="ratios"):
        split_records(_records(5), {"train": -1.0, "test": 1.0})
