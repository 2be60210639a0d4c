"""Each experiment command end to end on small fixtures with a tiny random model, plus the pieces
they rest on (variants, gender-coded terms, review sheets)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from srllm.errors import InputError
from srllm.evaluate.experiments import build_config, list_experiments, run_experiment
from srllm.evaluate.experiments.base import RunContext
from srllm.evaluate.experiments.common import parse_variant, parse_variants
from srllm.evaluate.experiments.jobs import GenderCodedLexicon, lexicon_path

FIXTURES = Path(__file__).parent / "fixtures"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
FAST = {"max_new_tokens": 6, "batch_size": 4}


@pytest.fixture(scope="module")
def tiny_dir(tiny_llama_dir: Path) -> Path:
    """The shared tiny random Llama (tests/conftest.py) with the default model's tokenizer."""
    return tiny_llama_dir


def _results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def test_registry_lists_every_paper_experiment():
    names = {e.name for e in list_experiments()}
    assert {"methods", "toxigen-groups", "stereoset", "style", "jobs", "human-export", "human-import"} <= names
    with pytest.raises(InputError, match="options of 'stereoset'"):
        build_config("stereoset", {"nonsense": 1})


def test_variant_names(tmp_path):
    assert parse_variant("5-shot", "smollm2-135m-instruct").k_shot == 5
    assert parse_variant("original", "x").kind == "original"
    skipped = parse_variant(f"lora={tmp_path / 'missing'}", "smollm2-135m-instruct")
    assert isinstance(skipped, str) and "lora" in skipped
    with pytest.raises(InputError, match="unknown variant"):
        parse_variant("best-one", "x")
    ctx = RunContext(tmp_path)
    assert [v.name for v in parse_variants(["original", f"prefix={tmp_path}"], ctx, model="x")] == ["original"]
    assert "prefix" in ctx.notes[0]


def test_gender_coded_terms_follow_gender_decoder():
    lexicon = GenderCodedLexicon.load()
    terms = lexicon.coded_terms("We need a competitive, aggressive leader; self-confident and co-operative. "
                                "SharePoint skills. Shark tank!")
    assert sorted(terms.masculine) == ["aggressive", "competitive", "leader", "self-confident"]
    assert terms.feminine == ("co-operative",)
    assert terms.coding == "masculine-coded"  # 1 - 4 = -3: "strongly" starts below -3
    # hyphenated words that do not start with a coded stem are split at the hyphen
    assert lexicon.coded_terms("a well-supported, data-driven team").masculine == ("driven",)
    assert lexicon.coded_terms("nothing here").coding == "empty"
    data = json.loads(lexicon_path().read_text())
    assert "Gaucher" in data["citation"] and "MIT" in data["license"]


def test_methods_experiment_end_to_end(tiny_dir, tmp_path):
    run = run_experiment("methods", {
        "model": str(tiny_dir), "data": str(FIXTURES / "cmd_mini.jsonl"), "limit": 3,
        "variants": ["original", "zero-shot", "2-shot", "sr-llm"], "lora": str(tmp_path / "no-adapter"),
        "demonstrations": str(FIXTURES / "demonstrations_mini.jsonl"), **FAST,
    }, out_dir=tmp_path / "run")
    results = _results(run)
    variants = results["metrics"]["variants"]
    assert list(variants) == ["original", "zero-shot", "2-shot"]
    for name, summary in variants.items():
        assert summary["n"] == 3
        assert 0 <= summary["pct_toxic"] <= 100
        if name == "original":
            assert summary["perplexity_median"] > 1000  # a random model over a 49k vocabulary
        else:  # a random model's rewrites may clean up to nothing: counted, scored as no retention
            assert 0 <= summary["retention"] <= 1 and 0 <= summary["empty_outputs"] <= 3
    notes = " ".join(results["notes"])
    assert "sr-llm" in notes and "lora" in notes
    records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    assert len(records) == 9 and {"toxicity", "bias", "perplexity"} <= set(records[0])
    table = (run / "tables.md").read_text()
    assert "| original | 3 |" in table and "% toxic" in table


def test_methods_on_bold_generates_then_rewrites(tiny_dir, tmp_path):
    run = run_experiment("methods", {
        "model": str(tiny_dir), "dataset": "bold", "data": str(FIXTURES / "bold"), "bold_domains": ["race"],
        "bold_max_new_tokens": 5, "variants": ["original", "zero-shot"], "perplexity": False, **FAST,
    }, out_dir=tmp_path / "bold")
    records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    originals = [r for r in records if r["variant"] == "original"]
    assert len(originals) == 2 and originals[0]["domain"] == "race"
    assert all(len(r["text"]) > len("Lee Ho is an Asian American chef") for r in originals)


def test_methods_on_toxigen_keeps_hate_statements(tiny_dir, tmp_path):
    run = run_experiment("methods", {
        "model": str(tiny_dir), "dataset": "toxigen", "data": str(FIXTURES / "toxigen_mini.json"),
        "variants": ["original"], "perplexity": False, **FAST,
    }, out_dir=tmp_path / "tox")
    assert _results(run)["metrics"]["n"] == 5


def test_toxigen_groups_experiment(tiny_dir, tmp_path):
    run = run_experiment("toxigen-groups", {
        "model": str(tiny_dir), "data": str(FIXTURES / "toxigen_mini.json"), "label": "all", "limit": 2, **FAST,
    }, out_dir=tmp_path / "groups")
    results = _results(run)
    groups = results["metrics"]["groups"]
    assert groups["latino"]["n"] == 2 and groups["mental_disability"]["n"] == 1
    assert results["metrics"]["variant"] == "zero-shot"  # no adapter for the tiny model
    assert (run / results["figures"]["toxicity_by_group"]).stat().st_size > 1000
    assert "| all (unique statements) |" in (run / "tables.md").read_text()
    # The judge's column beside Jigsaw: ToxiGen's hate statements score as harm before any rewrite.
    assert "judge harm before" in (run / "tables.md").read_text()
    assert 0 < results["metrics"]["overall"]["judge_before"] <= 1


def test_style_experiment_with_given_rewrites(tmp_path):
    run = run_experiment("style", {"data": str(FIXTURES / "style_mini.jsonl"), "attributes": ["toxicity"]},
                         out_dir=tmp_path / "style")
    results = _results(run)
    tests = results["metrics"]["tests"]
    from scipy import stats

    records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    before = [r["toxicity_before"] for r in records]
    after = [r["toxicity_after"] for r in records]
    assert tests["toxicity"]["paired"]["t"] == pytest.approx(stats.ttest_rel(after, before).statistic)
    assert tests["toxicity"]["one_sample"]["p_value"] == pytest.approx(
        stats.ttest_1samp(after, sum(before) / len(before)).pvalue)
    assert tests["toxicity"]["paired"]["mean"] < 0  # the rewrites drop the insults
    assert results["metrics"]["clen_before"] > 0
    assert (run / "figures" / "t_distribution.png").stat().st_size > 1000


def test_style_experiment_tests_the_judge_by_default(tmp_path):
    run = run_experiment("style", {"data": str(FIXTURES / "style_mini.jsonl")}, out_dir=tmp_path / "style-judge")
    judge = _results(run)["metrics"]["tests"]["judge"]
    assert judge["key"] == "harm" and judge["mean_after"] < judge["mean_before"]  # the rewrites drop the insults


def test_style_experiment_rewrites_when_the_file_has_none(tiny_dir, tmp_path):
    run = run_experiment("style", {"model": str(tiny_dir), "data": str(FIXTURES / "cmd_mini.jsonl"),
                                   "attributes": ["toxicity"], **FAST}, out_dir=tmp_path / "style2")
    assert any("zero-shot" in note for note in _results(run)["notes"])


def test_jobs_experiment(tiny_dir, tmp_path):
    run = run_experiment("jobs", {"model": str(tiny_dir), "data": str(FIXTURES / "jobs_mini.jsonl"), **FAST},
                         out_dir=tmp_path / "jobs")
    variants = _results(run)["metrics"]["variants"]
    assert set(variants) == {"original", "reference", "zero-shot"}
    # j1: competitive aggressive dominant(x2: stems "domina" and "dominan", each (word, stem) counts, as in
    # Gender Decoder) leader self-confident; j3: analyst ("analy")
    assert variants["original"]["masculine"] == pytest.approx(7 / 3)
    assert variants["reference"]["masculine"] < variants["original"]["masculine"]
    assert 0 < variants["reference"]["similarity"] <= 1
    assert 0 <= variants["original"]["judge"] <= 1 and "judge harm" in (run / "tables.md").read_text()


def test_human_review_round_trip(tiny_dir, tmp_path):
    methods = run_experiment("methods", {
        "model": str(tiny_dir), "data": str(FIXTURES / "cmd_mini.jsonl"), "variants": ["original", "zero-shot"],
        "perplexity": False, **FAST,
    }, out_dir=tmp_path / "methods")
    # a reference column as a third "variant" so each item has two candidates
    export = run_experiment("human-export", {"data": str(methods), "seed": 1}, out_dir=tmp_path / "export")
    key = json.loads((export / "review_key.json").read_text())
    assert key["variants"] == ["zero-shot"]
    sheet = list(csv.DictReader(open(export / "review_sheet.csv", encoding="utf-8")))
    assert len(sheet) == 4 and {"safety", "language", "rater"} <= set(sheet[0])
    assert "zero-shot" not in (export / "review_sheet.csv").read_text()  # blind
    tasks = json.loads((export / "labelstudio_tasks.json").read_text())
    assert tasks[0]["data"]["candidate"] == "A"
    filled = []
    for rater, offset in (("r1", 0), ("r2", 0), ("r3", 1)):
        path = tmp_path / f"{rater}.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(sheet[0]))
            writer.writeheader()
            for index, row in enumerate(sheet):
                writer.writerow({**row, "safety": 4 + (index + offset) % 2, "language": 3, "rater": rater})
        filled.append(str(path))
    imported = run_experiment("human-import", {"ratings": filled, "key": str(export / "review_key.json")},
                              out_dir=tmp_path / "import")
    metrics = _results(imported)["metrics"]
    assert metrics["raters"] == 3 and metrics["ratings"] == 12
    assert metrics["variants"]["zero-shot"]["safety"]["mean"] == pytest.approx(54 / 12)
    from srllm.data.agreement import fleiss_kappa

    # per candidate: safety votes (4, 4, 5) or (5, 5, 4) over categories 1..5
    expected = fleiss_kappa([[0, 0, 0, 2, 1], [0, 0, 0, 1, 2], [0, 0, 0, 2, 1], [0, 0, 0, 1, 2]])
    assert metrics["kappa"]["safety"]["kappa"] == pytest.approx(expected)
    assert metrics["kappa"]["safety"]["subjects"] == 4


def test_human_import_rejects_out_of_scale_ratings(tmp_path):
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"variants": ["a"], "key": {"1": {"A": "a"}}}))
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("item,candidate,original,rewrite,safety,language,rater,comment\n1,A,x,y,9,3,r1,\n")
    with pytest.raises(InputError, match="from 1 to 5") as info:
        run_experiment("human-import", {"ratings": [str(sheet)], "key": str(key)}, out_dir=tmp_path / "run")
    assert info.value.line == 2 and info.value.field == "safety"
