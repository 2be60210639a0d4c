"""Every importer and reader format, field mapping, and writing back (round trips)."""

from __future__ import annotations

from pathlib import Path

import pytest

from srllm.data import CMDRecord, load_records, read_records, write_records
from srllm.data.importers import IMPORTERS, parse_list
from srllm.errors import InputError


def test_paper_json_maps_every_field(fixtures: Path) -> None:
    result = load_records(fixtures / "paper.json")
    assert result.importer == "paper-json"
    first = result.records[0]
    assert first.text.startswith("Women are too emotional")
    assert first.labels.model_dump() == {"bias": "Yes", "toxicity": "Mild", "sentiment": "Negative",
                                         "harm": "Medium"}
    assert first.target_groups == ["Women"]
    assert first.biased_words == ["too emotional"]
    assert first.safe_variation.startswith("Leadership ability")
    assert result.records[1].target_groups == []  # "None" means no group
    # A comma-separated WORDS_OR_PHRASES string becomes a list.
    assert result.records[2].biased_words == ["should not be allowed", "old people"]


def test_paper_json_bad_label_is_reported_with_item_and_field(fixtures: Path) -> None:
    result = load_records(fixtures / "paper.json")
    assert len(result.records) == 3  # the record is kept, the bad label dropped
    assert result.records[2].labels.toxicity is None
    (problem,) = result.problems
    assert (problem.line, problem.field, problem.unit) == (3, "labels.toxicity", "item")
    assert "Extreme" in problem.message and "No, Mild, High" in problem.message
    with pytest.raises(InputError, match=r"paper\.json.*item 3.*labels\.toxicity"):
        read_records(fixtures / "paper.json")


def test_srllm_repository_csv(fixtures: Path) -> None:
    result = load_records(fixtures / "srllm_repo.csv")
    assert result.importer == "srllm-csv" and not result.problems
    records = result.records
    assert [r.meta["label"] for r in records][:2] == ["Slightly Biased", "Highly Biased"]
    assert all(r.labels.bias == "Yes" for r in records)
    assert records[0].biased_words == ["ghetto"]
    assert records[1].biased_words == ["fashion", "requiring everyone"]
    assert records[1].aspect == "Religious"
    assert "\n" in records[1].text  # a quoted field spanning two lines
    # Line numbers as a person counts them: the multi-line row starts on line 3, so the next is on 5.
    assert [r.origin[1] for r in records] == [2, 3, 5, 6]
    assert records[2].meta["comments"] == "remove ?"


def test_biased_words_parse_safely_without_eval() -> None:
    assert parse_list("['a', \"b c\"]", "biased_words") == ["a", "b c"]
    assert parse_list("[]", "biased_words") == []
    with pytest.raises(ValueError, match="does not parse"):
        parse_list("[__import__('os').system('echo hi')]", "biased_words")


def test_real_srllm_train_csv(srllm_train: Path) -> None:
    result = load_records(srllm_train)
    assert (result.importer, result.rows, len(result.records), result.problems) == ("srllm-csv", 434, 434, [])
    by_id = {r.id: r for r in result.records}
    assert by_id["train_500-10"].safe_variation.startswith("I suggest the following rephrased")


def test_paradetox_tsv_first_paraphrase_and_alternatives(fixtures: Path) -> None:
    records = read_records(fixtures / "paradetox.tsv")
    assert [r.safe_variation for r in records] == [
        "he was brave too!", "This person wrote a whole essay", "Please be quiet."]
    assert records[1].text == "this idiot wrote\na whole essay"
    assert records[2].meta["alternatives"] == ["Please stop talking.", "Could you be quiet, please?"]
    assert [r.origin[1] for r in records] == [2, 3, 5]


def test_paradetox_pairs_importer(fixtures: Path) -> None:
    records = read_records(fixtures / "paradetox.tsv", importer="paradetox-pairs")
    assert len(records) == 6
    assert len({r.id for r in records}) == 6


def test_real_paradetox(paradetox: Path) -> None:
    result = load_records(paradetox)
    assert (result.rows, len(result.records), result.problems) == (11927, 11927, [])
    pairs = 0
    for r in result.records:
        pairs += 1 + len(r.meta.get("alternatives", []))
    assert pairs == 19743  # the count its SOURCE.txt states


def test_two_column_pairs(fixtures: Path) -> None:
    result = load_records(fixtures / "pairs.csv")
    assert result.importer == "pairs"
    assert result.records[0].text == "Those people are all lazy, typical."
    assert result.records[1].safe_variation == "Some drivers in this city have trouble parking."


def test_field_mapping_renames_and_keeps_the_rest_in_meta(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("comment,rewrite,tox,notes\nYou are dumb,You are mistaken,mild,n1\n", encoding="utf-8")
    (record,) = read_records(path, mapping={"comment": "text", "rewrite": "safe_variation",
                                            "tox": "labels.toxicity"})
    assert (record.text, record.safe_variation, record.labels.toxicity) == (
        "You are dumb", "You are mistaken", "Mild")
    assert record.meta == {"notes": "n1"}


def test_unknown_columns_without_mapping_name_the_column(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("comment,rewrite,extra\na,b,c\n", encoding="utf-8")
    with pytest.raises(InputError, match="cannot tell the format from its columns"):
        read_records(path)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_write_then_read_round_trip(tmp_path: Path, fixtures: Path, suffix: str) -> None:
    records = load_records(fixtures / "paper.json").records
    records[0].meta["note"] = "kept"
    out = write_records(records, tmp_path / f"out{suffix}")
    again = read_records(out)
    assert [r.model_dump() for r in again] == [r.model_dump() for r in records]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # atomic write cleaned up


def test_write_is_atomic_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n", encoding="utf-8")

    class Boom(CMDRecord):
        def model_dump(self, **kwargs: object) -> dict:  # type: ignore[override]
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_records([Boom(id="x", text="t")], target)
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_saved_hf_dataset_directory(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    rows = {"comment": ["You idiot", "Nice day"], "rewrite": ["I disagree", "Nice day"]}
    DatasetDict({"train": Dataset.from_dict(rows)}).save_to_disk(str(tmp_path / "ds"))
    records = read_records(tmp_path / "ds", mapping={"comment": "text", "rewrite": "safe_variation"})
    assert [r.text for r in records] == ["You idiot", "Nice day"]
    assert records[0].origin == (str(tmp_path / "ds"), 1)


def test_hub_id_offline_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="cannot load the hub dataset 'nobody/no-such-dataset'"):
        read_records("nobody/no-such-dataset")


def test_registry_lists_the_formats_users_hold() -> None:
    assert {"cmd", "paper-json", "srllm-csv", "paradetox", "paradetox-pairs", "pairs"} <= set(IMPORTERS)


def test_mapping_keeps_cmd_named_columns(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"id": "j1", "title": "Dev", "text": "Young rockstar wanted.", "safe_variation": "Developer '
                    'wanted.", "company": "Acme"}\n', encoding="utf-8")
    (record,) = read_records(path, mapping={"title": "meta.title"})
    assert record.text == "Young rockstar wanted." and record.meta == {"title": "Dev", "company": "Acme"}
