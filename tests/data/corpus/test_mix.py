"""The training-corpus builder: weights, caps, licenses, held-out slices, leakage gate, generators."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from srllm.cli.build_train import build_train as build_train_command
from srllm.data import CMDRecord, normalize_text, read_records
from srllm.data.corpus.heldout import EvalText, paradetox_eval_slice
from srllm.data.corpus.leakage import LeakageError, LeakageIndex
from srllm.data.corpus.mix import build_train, detokenize, manifest_path, parse_mix, take
from srllm.data.corpus.targeted import GENERATORS, generate, load_template_set
from srllm.errors import InputError

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared" / "data"
SYLLABLES = ["ka", "lo", "mi", "ten", "ru", "sa", "vo", "pe", "dan", "ji", "no", "bu", "zel", "ha", "qui", "tor"]


def _texts(prefix: str, n: int) -> list[str]:
    # Made-up words, different in every record, so no two fixtures are near-duplicates of each other.
    rng = random.Random(prefix)
    words = lambda: " ".join("".join(rng.sample(SYLLABLES, 3)) for _ in range(10))  # noqa: E731
    return [f"{prefix} {i} {words()}" for i in range(n)]


def _cmd_file(path: Path, prefix: str, n: int, **fields: Any) -> Path:
    rows = [{"id": f"{prefix}-{i}", "text": t, "safe_variation": f"Rewrite of {t}", **fields}
            for i, t in enumerate(_texts(prefix, n))]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _paradetox_file(path: Path, n: int) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["toxic", "neutral1", "neutral2", "neutral3"])
        for i, text in enumerate(_texts("damn toxic", n)):
            writer.writerow([text.lower() + " , idiot .", f"Polite version {i} of item {i * 13}.", "", ""])
    return path


def _mix(tmp_path: Path, sources: list[dict[str, Any]], evals: list[dict[str, Any]] | None = None,
         seed: int = 0) -> Path:
    path = tmp_path / "mix.json"
    path.write_text(json.dumps({"seed": seed, "root": ".", "sources": sources, "eval": evals or []}),
                    encoding="utf-8")
    return path


def _counts(out: Path) -> dict[str, Any]:
    return json.loads(manifest_path(out).read_text(encoding="utf-8"))


# ---- weights, caps, licenses -----------------------------------------------------------------

def test_weights_and_caps_give_the_declared_counts(tmp_path: Path) -> None:
    _cmd_file(tmp_path / "a.jsonl", "a", 20)
    _cmd_file(tmp_path / "b.jsonl", "b", 10)
    _cmd_file(tmp_path / "c.jsonl", "c", 30)
    mix = _mix(tmp_path, [
        {"name": "a", "type": "cmd", "paths": ["a.jsonl"], "weight": 0.5, "license": "A-license"},
        {"name": "b", "type": "cmd", "paths": ["b.jsonl"], "weight": 2, "cap": 15, "license": "B-license"},
        {"name": "c", "type": "cmd", "paths": ["c.jsonl"], "weight": 1, "cap": 5, "license": "C-license"},
    ])
    out = tmp_path / "out" / "train.jsonl"
    build_train(mix, out)
    manifest = _counts(out)
    assert manifest["counts"]["by_source"] == {"a": 10, "b": 15, "c": 5}
    assert manifest["counts"]["total"] == 30 == len(read_records(out))
    taken = {s["name"]: (s["available"], s["taken"]) for s in manifest["sources"]}
    assert taken == {"a": (20, 10), "b": (10, 15), "c": (30, 5)}
    assert manifest["licenses"] == {"a": "A-license", "b": "B-license", "c": "C-license"}
    assert all(f["sha256"] for s in manifest["sources"] for f in s["files"])


def test_weight_above_one_repeats_every_record_with_its_own_id() -> None:
    pool = [CMDRecord(id=f"r{i}", text=f"text {i}", safe_variation="s") for i in range(4)]
    out = take(pool, 2.5, None, seed=0, source="x")
    assert len(out) == 10 and len({r.id for r in out}) == 10
    assert {r.id for r in out if "~" not in r.id} == {f"r{i}" for i in range(4)}
    assert take(pool, 2.5, 6, seed=0, source="x") == out[:6]
    assert take(pool, 0, None, seed=0, source="x") == []


def test_sample_depends_on_seed_not_on_file_order() -> None:
    pool = [CMDRecord(id=f"r{i}", text=f"text {i}", safe_variation="s") for i in range(50)]
    first = {r.id for r in take(pool, 0.2, None, seed=3, source="x")}
    assert first == {r.id for r in take(pool[::-1], 0.2, None, seed=3, source="x")}
    assert first != {r.id for r in take(pool, 0.2, None, seed=4, source="x")}


def test_output_is_shuffled_deterministically(tmp_path: Path) -> None:
    _cmd_file(tmp_path / "a.jsonl", "a", 30)
    mix = _mix(tmp_path, [{"name": "a", "type": "cmd", "paths": ["a.jsonl"]}])
    build_train(mix, tmp_path / "one.jsonl")
    build_train(mix, tmp_path / "two.jsonl")
    build_train(mix, tmp_path / "three.jsonl", seed=1)
    one = (tmp_path / "one.jsonl").read_bytes()
    assert one == (tmp_path / "two.jsonl").read_bytes()
    ids = [r.id for r in read_records(tmp_path / "one.jsonl")]
    assert ids != sorted(ids) and ids != [r.id for r in read_records(tmp_path / "three.jsonl")]


def test_opt_in_source_is_left_out_unless_included(tmp_path: Path) -> None:
    csv_path = tmp_path / "train_500.csv"
    with open(csv_path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["biased_text", "dimension", "biased_words", "aspect", "label", "debiased_text"])
        writer.writerow(["Old people can't use phones.", "age", "['Old people']", "ageism", "Highly Biased",
                         "Here is the rewritten text: Some people need help with phones."])
        writer.writerow(["Old people can't use phones.", "age", "['Old people']", "ageism", "Highly Biased",
                         "Some people need help with phones."])
        writer.writerow(["Girls are bad at chess.", "gender", "['Girls']", "sexism", "Highly Biased", "TOREMOVE"])
        writer.writerow(["Men never listen.", "gender", "['Men']", "sexism", "Slightly Biased",
                         "Some people don't listen."])
    _cmd_file(tmp_path / "own.jsonl", "own", 5)
    mix = _mix(tmp_path, [
        {"name": "own", "type": "cmd", "paths": ["own.jsonl"], "license": "Apache-2.0"},
        {"name": "sr-llm", "type": "sr-llm", "paths": ["train_500.csv"], "enabled": False,
         "license": "none stated; research use only"},
    ])
    out = tmp_path / "train.jsonl"
    build_train(mix, out)
    manifest = _counts(out)
    assert manifest["counts"]["by_source"] == {"own": 5}
    assert {s["name"]: s["status"] for s in manifest["sources"]} == {"own": "used", "sr-llm": "disabled"}
    assert "sr-llm" not in manifest["licenses"]

    build_train(mix, out, include=["sr-llm"])
    manifest = _counts(out)
    assert manifest["licenses"]["sr-llm"] == "none stated; research use only"
    srllm = {r.text: r.safe_variation for r in read_records(out) if r.source == "sr-llm"}
    # Leaked meta text stripped, then the now-identical duplicate and the TOREMOVE row dropped.
    assert srllm == {"Old people can't use phones.": "Some people need help with phones.",
                     "Men never listen.": "Some people don't listen."}
    summary = next(s for s in manifest["sources"] if s["name"] == "sr-llm")
    assert summary["dropped"] == {"drop_empty": 1, "drop_duplicate": 1}

    with pytest.raises(InputError, match="unknown source"):
        build_train(mix, out, include=["nope"])


def test_missing_optional_source_is_skipped_and_required_one_fails(tmp_path: Path) -> None:
    _cmd_file(tmp_path / "own.jsonl", "own", 3)
    sources = [{"name": "own", "type": "cmd", "paths": ["own.jsonl"]},
               {"name": "gone", "type": "paradetox", "paths": ["absent.tsv"]}]
    evals = [{"name": "toxigen", "kind": "toxigen", "path": "absent.json"}]
    out = tmp_path / "train.jsonl"
    build_train(_mix(tmp_path, sources, evals), out)
    manifest = _counts(out)
    assert {s["name"]: s["status"] for s in manifest["sources"]} == {"own": "used", "gone": "skipped"}
    assert manifest["leakage"]["skipped"] == ["toxigen"]
    sources[1]["required"] = True
    with pytest.raises(InputError, match="required"):
        build_train(_mix(tmp_path, sources, evals), out)


def test_bad_mix_declarations_are_user_errors() -> None:
    with pytest.raises(InputError, match="unknown source type"):
        parse_mix({"sources": [{"name": "x", "type": "nope"}]})
    with pytest.raises(InputError, match="weight"):
        parse_mix({"sources": [{"name": "x", "type": "cmd", "weight": -1}]})
    with pytest.raises(InputError, match="unique"):
        parse_mix({"sources": [{"name": "x", "type": "cmd"}, {"name": "x", "type": "cmd"}]})


# ---- held-out parts --------------------------------------------------------------------------

def test_seed_test_split_is_held_out_and_written(tmp_path: Path) -> None:
    _cmd_file(tmp_path / "seed.jsonl", "s", 40, labels={"bias": "Yes"})
    mix = _mix(tmp_path, [{"name": "seed", "type": "cmd", "paths": ["seed.jsonl"], "holdout": "test"}])
    out = tmp_path / "mix" / "train.jsonl"
    build_train(mix, out)
    held = read_records(tmp_path / "mix" / "eval" / "seed_test.jsonl")
    trained = read_records(out)
    assert len(held) == 8 and len(trained) == 32
    assert not {normalize_text(r.text) for r in held} & {normalize_text(r.text) for r in trained}
    assert _counts(out)["leakage"]["passed"]


def test_paradetox_eval_slice_is_hash_based_and_never_trained(tmp_path: Path) -> None:
    tsv = _paradetox_file(tmp_path / "paradetox.tsv", 60)
    slice_ = paradetox_eval_slice(tsv, n=10)
    assert len(slice_) == 10
    lines = tsv.read_text(encoding="utf-8").splitlines()
    (tmp_path / "reversed.tsv").write_text("\n".join([lines[0], *lines[1:][::-1]]) + "\n", encoding="utf-8")
    assert {r.text for r in paradetox_eval_slice(tmp_path / "reversed.tsv", n=10)} == {r.text for r in slice_}

    mix = _mix(tmp_path, [{"name": "paradetox", "type": "paradetox", "paths": ["paradetox.tsv"],
                           "eval_slice": 10, "cap": 30, "license": "CC0-1.0"}])
    out = tmp_path / "train.jsonl"
    build_train(mix, out)
    trained = read_records(out)
    assert len(trained) == 30
    held = {normalize_text(r.text) for r in slice_}
    assert not held & {normalize_text(r.text) for r in trained}
    written = json.loads((tmp_path / "eval" / "paradetox_eval_slice.json").read_text(encoding="utf-8"))
    assert [item["id"] for item in written["items"]] == [r.id for r in slice_]
    # Space-tokenized ParaDetox text is joined back up.
    assert all(" ," not in r.text and r.text[0].isupper() for r in trained)


def test_detokenize() -> None:
    assert detokenize("i do n't know , man .") == "I don't know, man."
    assert detokenize("what is wrong with you people ?") == "What is wrong with you people?"


# ---- the leakage gate ------------------------------------------------------------------------

def _leaky_setup(tmp_path: Path) -> Path:
    own = _cmd_file(tmp_path / "own.jsonl", "own", 12)
    bench = [{"id": 1, "text": "Everyone from the northern valley is lazy and steals from their employers at night."},
             {"id": 2, "text": "A completely unrelated evaluation sentence about weather in the mountains today."}]
    (tmp_path / "toxigen.json").write_text(json.dumps(bench), encoding="utf-8")
    rows = own.read_text(encoding="utf-8").splitlines()
    planted = {"id": "planted-exact", "text": "EVERYONE from the northern valley is lazy, and steals from their "
               "employers at night!!", "safe_variation": "People live in the northern valley."}
    near = {"id": "planted-near", "text": "Rewrite please", "safe_variation": "a completely unrelated evaluation "
            "sentence about the weather in mountains today, honestly"}
    own.write_text("\n".join([*rows, json.dumps(planted), json.dumps(near)]) + "\n", encoding="utf-8")
    return _mix(tmp_path, [{"name": "own", "type": "cmd", "paths": ["own.jsonl"]}],
                [{"name": "toxigen", "kind": "toxigen", "path": "toxigen.json"}])


def test_leakage_fails_the_build_with_a_report(tmp_path: Path) -> None:
    mix = _leaky_setup(tmp_path)
    out = tmp_path / "train.jsonl"
    with pytest.raises(LeakageError, match="2 evaluation texts found in training"):
        build_train(mix, out)
    assert not out.exists()
    report = json.loads((tmp_path / "train.leaks.json").read_text(encoding="utf-8"))
    assert not report["passed"]
    assert {(e["train_id"], e["eval_ref"]) for e in report["examples"]} == {("planted-exact", "id 1"),
                                                                            ("planted-near", "id 2")}


def test_leakage_drop_removes_the_records_and_lists_them(tmp_path: Path) -> None:
    mix = _leaky_setup(tmp_path)
    out = tmp_path / "train.jsonl"
    result = build_train(mix, out, on_leak="drop")
    assert {r.id for r in read_records(out)} == {f"own-{i}" for i in range(12)}
    assert result.dropped_for_leakage == ["planted-exact", "planted-near"]
    leakage = _counts(out)["leakage"]
    assert leakage["on_leak_dropped"] == ["planted-exact", "planted-near"]
    assert leakage["passed"] and leakage["result"] == "passed after dropping 2 leaking records"


def test_dev_fraction_splits_without_shared_text(tmp_path: Path) -> None:
    _cmd_file(tmp_path / "a.jsonl", "a", 40)
    mix = _mix(tmp_path, [{"name": "a", "type": "cmd", "paths": ["a.jsonl"], "weight": 2}])
    out = tmp_path / "train.jsonl"
    build_train(mix, out, dev_fraction=0.25)
    train, dev = read_records(out), read_records(tmp_path / "dev.jsonl")
    assert len(train) + len(dev) == 80 and 10 <= len(dev) <= 30
    assert not {normalize_text(r.text) for r in train} & {normalize_text(r.text) for r in dev}
    assert _counts(out)["counts"]["dev"] == len(dev)


def test_cli_builds_and_exits_1_on_leak(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("build-train")(build_train_command)
    app.command("other")(lambda: None)  # two commands keep typer from collapsing the group
    runner = CliRunner()
    mix = _leaky_setup(tmp_path)
    out = tmp_path / "train.jsonl"
    result = runner.invoke(app, ["build-train", "--mix", str(mix), "--out", str(out)])
    assert result.exit_code == 1 and not out.exists()
    result = runner.invoke(app, ["build-train", "--mix", str(mix), "--out", str(out), "--on-leak", "drop",
                                 "--dev-fraction", "0.2"])
    assert result.exit_code == 0, result.output
    assert out.exists() and (tmp_path / "dev.jsonl").exists()
    result = runner.invoke(app, ["build-train", "--mix", str(tmp_path / "none.json"), "--out", str(out)])
    assert result.exit_code == 2


# ---- targeted generators ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_generators_give_unique_pairs_that_keep_names_and_numbers(kind: str) -> None:
    records = generate(kind, 150, seed=0)
    assert len(records) == 150
    assert len({normalize_text(r.text) for r in records}) == 150
    assert len({r.id for r in records}) == 150
    for record in records:
        assert record.meta["kind"] == kind and record.safe_variation
        for value in record.meta["keep"]:
            assert value in record.text and value in record.safe_variation, (value, record)
    if kind == "benign":
        assert all(r.safe_variation == r.text for r in records)
    if kind in ("insult", "stereotype"):
        assert all(r.safe_variation != r.text for r in records)


def test_generators_are_deterministic_and_capped() -> None:
    assert [r.text for r in generate("insult", 20, seed=1)] == [r.text for r in generate("insult", 20, seed=1)]
    assert [r.text for r in generate("insult", 20, seed=1)] != [r.text for r in generate("insult", 20, seed=2)]
    assert len(generate("stereotype", 7)) == 7


@pytest.mark.parametrize("kind", ["stereotype", "job"])
def test_outputs_are_not_near_duplicates_of_each_other(kind: str) -> None:
    records = generate(kind, 200, seed=0)
    index = LeakageIndex(EvalText(kind, r.id, r.text) for r in records)
    assert all([e.ref for e, _, _ in index.query(r.text)] == [r.id] for r in records)
    # Names, places and numbers vary too.
    assert len({tuple(r.meta["keep"]) for r in records}) > 170


def test_insult_rewrites_drop_the_insult_words() -> None:
    insults = {v for v in load_template_set("insult").slots["insult_noun"] if isinstance(v, str)}
    for record in generate("insult", 200, seed=0):
        assert not any(re.search(rf"\b{re.escape(word)}\b", record.safe_variation, re.I) for word in insults)


def test_instruction_pairs_do_not_obey_the_instruction() -> None:
    instructions = load_template_set("instruction").raw["instructions"]
    for record in generate("instruction", 100, seed=0):
        # The rewrite rewrites the text around the instruction and drops the instruction (the default
        # mix sets keep_instruction: false), never the obeyed answer.
        heads = [i.split("{")[0][:25] for i in instructions]
        assert record.safe_variation.strip("'\" .") not in {"APPROVED", "OK"}
        assert any(head in record.text for head in heads)
        assert not any(head in record.safe_variation for head in heads)
        assert len(record.safe_variation) >= 15


def test_job_wording_follows_the_gender_coded_stems() -> None:
    stems_dir = SHARED / "gender-coded"
    if not stems_dir.exists():
        pytest.skip(f"the gender-coded stems are not at {stems_dir} (../shared is absent)")
    masculine = stems_dir.joinpath("masculine.txt").read_text(encoding="utf-8").split()
    slots = load_template_set("job").slots
    for slot in ("adj_m", "verb_m"):
        for value in slots[slot]:
            if "stem" in value:
                assert value["stem"] in masculine
                assert any(w.startswith(value["stem"]) for w in re.split(r"[\s-]+", value["text"].lower())) or \
                    value["text"].lower().startswith(value["stem"])
            replacement = re.split(r"[\s]+", value["safe"].lower())
            assert not any(w.startswith(s) for w in replacement for s in masculine), value


def test_a_template_that_drops_a_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "common.json").write_text(json.dumps({"slots": {"name": ["Ama", "Li"]}}), encoding="utf-8")
    (tmp_path / "insult.json").write_text(json.dumps({"templates": [{"text": "{name} is an idiot.",
                                                                     "safe": "Someone is here."}]}),
                                          encoding="utf-8")
    with pytest.raises(InputError, match="drops"):
        generate("insult", 3, directory=tmp_path)


# ---- the real default mix --------------------------------------------------------------------

def test_default_mix_builds_from_the_shared_data(tmp_path: Path) -> None:
    if not (SHARED / "paradetox" / "paradetox.tsv").exists():
        pytest.skip(f"ParaDetox is not at {SHARED / 'paradetox'} (../shared is absent)")
    out = tmp_path / "train.jsonl"
    result = build_train(REPO / "data" / "mix.json", out, on_leak="drop")
    manifest = _counts(out)
    assert manifest["licenses"] == {"seed": "Apache-2.0 (srllm's own data)",
                                    "targeted": "Apache-2.0 (srllm's own data)", "paradetox": "CC0-1.0"}
    assert set(manifest["counts"]["by_kind"]) >= {"benign", "instruction", "job", "stereotype", "insult"}
    assert manifest["counts"]["by_source"]["paradetox"] <= 2000
    assert "sr-llm" not in manifest["counts"]["by_source"]
    checked = {s["name"] for s in manifest["leakage"]["sources"] if s["status"] == "checked"}
    assert {"seed-heldout", "paradetox-heldout"} <= checked
    slice_ids = {r.id for r in paradetox_eval_slice(SHARED / "paradetox" / "paradetox.tsv")}
    assert not slice_ids & {r.id for r in result.train}
    assert out.stat().st_size < 5_000_000
