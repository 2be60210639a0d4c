"""Benchmark loaders: the fixtures (same formats) always; the real shared files when present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srllm.errors import InputError, SrllmError
from srllm.evaluate.loaders import (
    TOXIGEN_GROUPS,
    load_bold,
    load_crows_pairs,
    load_stereoset,
    load_texts,
    load_toxigen,
    shared_data_dir,
)

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = shared_data_dir()
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} (../shared/data) is not present")


def test_stereoset_fixture_with_empty_and_filled_labels():
    items = load_stereoset(FIXTURES / "stereoset_mini.json")
    assert len(items) == 8
    assert {i.bias_type for i in items} == {"gender", "profession", "race", "religion"}
    first = items[0]
    assert first.sentence("stereotype").sentence == "The mother was caring."
    assert first.sentence("unrelated").labels == ()
    assert items[1].sentence("stereotype").labels == ("stereotype",) * 5
    # the options of item 1 are stored in reverse order; lookup is by gold label
    assert items[1].sentences[0].gold_label == "unrelated"


def test_stereoset_rejects_an_item_without_all_three_options(tmp_path):
    data = json.loads((FIXTURES / "stereoset_mini.json").read_text())
    data["data"]["intrasentence"][2]["sentences"][1]["gold_label"] = "stereotype"
    bad = tmp_path / "dev.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(InputError, match="one sentence per gold label"):
        load_stereoset(bad)


def test_missing_file_names_the_path_and_the_fix(tmp_path):
    with pytest.raises(InputError, match="--data PATH") as info:
        load_stereoset(tmp_path / "nope.json")
    assert "nope.json" in str(info.value)


def test_hub_source_fails_with_a_clear_sentence_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(SrllmError, match="--data PATH"):
        load_stereoset(source="hub")


def test_toxigen_annotated_fixture_normalises_group_names():
    statements = load_toxigen(FIXTURES / "toxigen_mini.json")
    assert len(statements) == 8
    groups = {g for s in statements for g in s.groups}
    assert "mental_disability" in groups and groups <= set(TOXIGEN_GROUPS)
    assert statements[2].groups == ("mexican", "latino")


def test_toxigen_demonstrations_folder_strips_dashes_and_duplicates():
    statements = load_toxigen(FIXTURES / "toxigen_demos")
    texts = [s.text for s in statements]
    assert "asians are all the same" in texts
    assert texts.count("muslims hate freedom") == 1
    assert {s.groups[0] for s in statements} == {"asian", "middle_eastern", "muslim"}
    assert {s.label for s in statements} == {"hate", "neutral"}


def test_bold_fixture_domains():
    prompts = load_bold(FIXTURES / "bold", domains=["gender", "race"])
    assert len(prompts) == 6
    assert prompts[0].domain == "gender" and prompts[0].group == "American_actresses"
    with pytest.raises(InputError, match="unknown BOLD domain"):
        load_bold(FIXTURES / "bold", domains=["sports"])
    with pytest.raises(InputError, match="missing"):
        load_bold(FIXTURES / "bold", domains=["profession"])


def test_crows_pairs_fixture():
    pairs = load_crows_pairs(FIXTURES / "crows_mini.csv")
    assert [p.bias_type for p in pairs] == ["socioeconomic", "gender"]
    assert pairs[0].sent_more == "Poor people are lazy."


def test_load_texts_reports_the_line_of_a_bad_record(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine"}\n{"id": 2}\n')
    with pytest.raises(InputError) as info:
        load_texts(path)
    assert info.value.line == 2 and info.value.field == "text"
    records = load_texts(FIXTURES / "cmd_mini.jsonl")
    assert records[0].reference and records[0].biased_words == ("Old people are useless",)


@needs_shared
def test_real_stereoset_dev_counts():
    items = load_stereoset(SHARED / "stereoset" / "dev.json")
    counts = {d: sum(i.bias_type == d for i in items) for d in ("race", "profession", "gender", "religion")}
    assert len(items) == 2106
    assert counts == {"race": 962, "profession": 810, "gender": 255, "religion": 79}
    assert len(load_stereoset(SHARED / "stereoset" / "dev.json", split="intersentence")) == 2123


@needs_shared
def test_real_official_subset_bare_list_with_annotator_labels():
    items = load_stereoset(SHARED / "stereoset" / "official-subset" / "religion_test.json")
    assert len(items) == 79
    assert len(items[0].sentences[0].labels) == 5


@needs_shared
def test_real_toxigen_bold_crows():
    statements = load_toxigen()
    assert len(statements) == 6514
    assert {g for s in statements for g in s.groups} == set(TOXIGEN_GROUPS)
    assert not any("_x000D_" in s.text for s in statements)
    demos = load_toxigen(SHARED / "toxigen" / "demonstrations")
    assert {"bisexual", "immigrant", "lgbtq"} <= {s.groups[0] for s in demos}
    assert len(load_bold(domains=["gender"])) > 3000
    assert len(load_crows_pairs()) == 1508
