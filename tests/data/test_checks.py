"""Bad input is reported with file, line and field; each quality check and the safe repairs."""

from __future__ import annotations

from pathlib import Path

import pytest

from srllm.data import CHECKS, CheckContext, CMDRecord, fix_records, load_records, read_records, run_checks
from srllm.errors import InputError
from srllm.text.meta import find_meta, strip_meta


def _findings(records: list[CMDRecord], name: str, **ctx: object) -> list:
    (result,) = run_checks(records, CheckContext(**ctx), only=[name])  # type: ignore[arg-type]
    return result.findings


def _ids(findings: list) -> list[str]:
    return [f.record_id for f in findings]


@pytest.fixture
def cmd(fixtures: Path) -> list[CMDRecord]:
    return read_records(fixtures / "cmd.jsonl")


def test_every_bad_record_is_reported_with_file_line_and_field(fixtures: Path) -> None:
    result = load_records(fixtures / "bad.jsonl")
    found = {(p.line, p.field) for p in result.problems}
    assert found == {(2, "text"), (3, "labels.toxicity"), (5, "rewrite"), (6, "biased_words")}
    assert all(p.path.endswith("bad.jsonl") for p in result.problems)
    assert [r.id for r in result.records] == ["b1", "b3"]  # b3 kept without its bad label
    text = str(next(p for p in result.problems if p.line == 5))
    assert "bad.jsonl, line 5, field 'rewrite'" in text and "--map" not in text  # library wording
    assert "mapping" in text


def test_first_bad_record_raises_input_error_not_a_traceback(fixtures: Path) -> None:
    with pytest.raises(InputError) as info:
        read_records(fixtures / "bad.jsonl")
    assert (info.value.line, info.value.field) == (2, "text")
    assert "bad.jsonl" in str(info.value) and "line 2" in str(info.value)


def test_malformed_json_names_the_line(fixtures: Path) -> None:
    with pytest.raises(InputError, match=r"bad_json\.jsonl, line 2: malformed JSON"):
        read_records(fixtures / "bad_json.jsonl")


def test_csv_row_with_wrong_field_count_names_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('text,safe_variation\n"two\nlines",ok\nthree,fields,here\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"line 4.*3 fields but the header has 2"):
        read_records(path)


def test_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"id": "a", "text": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_records(path)


def test_empty_rewrite_and_placeholders(cmd: list[CMDRecord]) -> None:
    extra = [CMDRecord(id="n", text="No rewrite yet.")]
    assert _ids(_findings(cmd + extra, "empty_rewrite")) == ["c7", "n"]


def test_identical_rewrite_only_when_not_labeled_safe(cmd: list[CMDRecord]) -> None:
    # c2 is labeled unbiased and non-toxic, so returning it unchanged is right; c6 is biased.
    assert _ids(_findings(cmd, "identical_rewrite")) == ["c6"]


def test_meta_leak_found_and_located(cmd: list[CMDRecord]) -> None:
    (finding,) = _findings(cmd, "meta_leak")
    assert finding.record_id == "c3" and finding.field == "safe_variation"
    assert finding.where.endswith("cmd.jsonl:3")
    assert "Here is the rewritten text:" in finding.message


@pytest.mark.parametrize("leaked, clean", [
    # The two real variants in the SR-LLM repository's train_500.csv:
    ('I suggest the following rephrased debiased output for the given input: "We should meet halfway."',
     "We should meet halfway."),
    ('I have rephrased the statement to remove any bias or personal opinion. The modified statement is '
     'as follows: "Facts matter here."', "Facts matter here."),
    ("Sure! Here's a more neutral version of the sentence: They arrived late.", "They arrived late."),
    ("Rewritten text: They arrived late.", "They arrived late."),
    ("They arrived late.\n\nNote: I removed the insult.", "They arrived late."),
    ("They arrived late. (Note: I replaced the slur.)", "They arrived late."),
    ("The debiased version is as follows: they arrived late.", "they arrived late."),
])
def test_leak_variants_are_stripped(leaked: str, clean: str) -> None:
    assert find_meta(leaked)
    assert strip_meta(leaked) == clean


@pytest.mark.parametrize("fine", [
    "Here is the thing: the bus was late.",
    "I have visited the valley and the cats are a problem.",
    "I apologize for the delay in posting your letter.",
    'She said "no" and left.',
])
def test_ordinary_rewrites_are_not_leaks(fine: str) -> None:
    assert find_meta(fine) == []
    assert strip_meta(fine) == fine


def test_note_that_is_in_the_original_is_content_not_a_leak() -> None:
    original = "We need two idiots for the night shift.\nNote: the office closes at 5."
    rewrite = "We need two people for the night shift.\nNote: the office closes at 5."
    assert find_meta(rewrite, original) == []
    assert strip_meta(rewrite, original) == rewrite
    assert find_meta(rewrite)  # without the original it looks like a trailing note


def test_refusal_is_reported_but_not_repaired() -> None:
    text = "I'm sorry, but I cannot rewrite this text."
    assert [leak.kind for leak in find_meta(text)] == ["refusal"]
    assert strip_meta(text) == text


def test_wrapped_rewrite_quotes_unless_the_original_is_quoted() -> None:
    records = [CMDRecord(id="q1", text="You fool.", safe_variation='"You are mistaken."'),
               CMDRecord(id="q2", text='"Quoted," he said.', safe_variation='"Quoted," he said kindly."'),
               CMDRecord(id="q3", text="Hi.", safe_variation="\n\nHello.  ")]
    assert _ids(_findings(records, "wrapped_rewrite")) == ["q1", "q3"]


def test_long_rewrite(cmd: list[CMDRecord]) -> None:
    (finding,) = _findings(cmd, "long_rewrite")
    assert finding.record_id == "c4" and "chars vs 20 in the original" in finding.message
    assert _findings(cmd, "long_rewrite", max_length_ratio=20.0) == []


def test_duplicate_ids_and_texts(cmd: list[CMDRecord]) -> None:
    assert _ids(_findings(cmd, "duplicate_id")) == ["c1"]
    dups = _findings(cmd, "duplicate_text")
    # c5 differs only in punctuation; the second c1 is an exact duplicate.
    assert sorted(_ids(dups)) == ["c1", "c5"]
    assert any("exact duplicate" in f.message for f in dups)


def test_duplicate_rewrite_canned_answers(cmd: list[CMDRecord]) -> None:
    assert _ids(_findings(cmd, "duplicate_rewrite")) == ["c9"]


def test_split_leak() -> None:
    train = [CMDRecord(id="a", text="Same text here."), CMDRecord(id="b", text="Only train.")]
    test = [CMDRecord(id="c", text="same text, here!")]
    (finding,) = _findings(train + test, "split_leak", splits={"train": train, "test": test})
    assert finding.record_id == "c" and "'test' and in 'train'" in finding.message


def test_label_values_outside_schema(fixtures: Path) -> None:
    result = load_records(fixtures / "bad.jsonl")
    (finding,) = _findings(result.records, "label_values", problems=result.problems)
    assert finding.where.endswith("bad.jsonl:3") and finding.field == "labels.toxicity"


def test_label_spellings_are_normalized_but_never_guessed() -> None:
    record = CMDRecord(id="x", text="t", labels={"bias": "yes", "toxicity": "HIGH", "harm": "medium"})
    assert (record.labels.bias, record.labels.toxicity, record.labels.harm) == ("Yes", "High", "Medium")
    with pytest.raises(ValueError, match="'Medium' is not an allowed toxicity value"):
        CMDRecord(id="x", text="t", labels={"toxicity": "Medium"})


def test_fix_strips_leaks_drops_exact_duplicates_and_reports(cmd: list[CMDRecord]) -> None:
    fixed, changes = fix_records(cmd)
    actions = sorted((c.record_id, c.action) for c in changes)
    assert actions == [("c1", "drop_duplicate"), ("c3", "strip_meta")]
    assert len(fixed) == len(cmd) - 1
    c3 = next(r for r in fixed if r.id == "c3")
    assert c3.safe_variation == "Towns change as new residents, including immigrants, arrive."
    assert c3.where().endswith("cmd.jsonl:3")  # origin survives the repair
    assert cmd[2].safe_variation.startswith("Here is")  # the input records are untouched
    assert _findings(fixed, "meta_leak") == []


def test_fix_can_drop_placeholder_rewrites(cmd: list[CMDRecord]) -> None:
    fixed, changes = fix_records(cmd, drop_empty=True)
    assert "c7" not in {r.id for r in fixed}
    assert ("c7", "drop_empty") in {(c.record_id, c.action) for c in changes}


def test_real_srllm_csv_leaks_and_duplicates(srllm_train: Path) -> None:
    records = read_records(srllm_train)
    results = {r.name: r for r in run_checks(records)}
    leaks = results["meta_leak"].findings
    assert sorted(f.where.rsplit(":", 1)[1] for f in leaks) == ["10", "419"]
    assert results["empty_rewrite"].count == 7  # TOREMOVE placeholders
    assert results["duplicate_rewrite"].count == 2
    fixed, _ = fix_records(records)
    assert not run_checks(fixed, only=["meta_leak"])[0].findings


def test_registry_has_every_check() -> None:
    assert set(CHECKS) == {"empty_rewrite", "identical_rewrite", "meta_leak", "wrapped_rewrite",
                           "long_rewrite", "duplicate_id", "duplicate_text", "duplicate_rewrite",
                           "split_leak", "label_values"}
