"""StereoSet scoring: the official per-term averaging on a hand-computed example, ICAT, the batched
likelihoods against one-at-a-time scoring, and the experiment end to end on a tiny random model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from srllm.evaluate.experiments.stereoset import (
    score_items,
    sentence_log_likelihoods,
    stereoset_icat,
    stereoset_metrics,
    stereoset_report,
)
from srllm.evaluate.loaders import StereoSetItem, StereoSetSentence, load_stereoset

FIXTURES = Path(__file__).parent / "fixtures"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _item(index: int, target: str, domain: str, pro: float, anti: float, unrelated: float,
          scores: dict[str, float]) -> StereoSetItem:
    sentences = []
    for label, value in (("stereotype", pro), ("anti-stereotype", anti), ("unrelated", unrelated)):
        sid = f"{index}-{label}"
        scores[sid] = value
        sentences.append(StereoSetSentence(sid, f"{target} {label}", label))
    return StereoSetItem(str(index), target, domain, f"{target} BLANK", tuple(sentences))


def test_official_scores_on_a_hand_computed_example():
    scores: dict[str, float] = {}
    items = [
        _item(1, "A", "gender", -1.0, -2.0, -3.0, scores),   # pro; both related -> 2
        _item(2, "A", "gender", -2.0, -1.0, -1.5, scores),   # anti; only anti > unrelated -> 1
        _item(3, "B", "race", -1.0, -1.0, -0.5, scores),     # tie counts as anti; none related
    ]
    # term A: SS = 50, LMS = 3 / 4 * 100 = 75; term B: SS = 0, LMS = 0
    # means over terms: LMS = 37.5, SS = 25, ICAT = 37.5 * min(25, 75) / 50 = 18.75
    overall = stereoset_metrics(items, scores)
    assert overall["count"] == 3 and overall["terms"] == 2
    assert overall["lms"] == pytest.approx(37.5)
    assert overall["ss"] == pytest.approx(25.0)
    assert overall["icat"] == pytest.approx(18.75)
    report = stereoset_report(items, scores)
    assert set(report) == {"gender", "race", "overall"}
    assert report["gender"]["ss"] == pytest.approx(50.0) and report["gender"]["lms"] == pytest.approx(75.0)
    assert report["gender"]["icat"] == pytest.approx(75.0)
    assert report["race"]["icat"] == pytest.approx(0.0)


def test_icat_formula():
    assert stereoset_icat(100.0, 50.0) == pytest.approx(100.0)
    assert stereoset_icat(100.0, 100.0) == pytest.approx(0.0)
    assert stereoset_icat(90.0, 60.0) == pytest.approx(90.0 * 40.0 / 50.0)
    assert stereoset_icat(80.0, 30.0) == pytest.approx(80.0 * 30.0 / 50.0)


@pytest.fixture(scope="module")
def tiny_dir(tiny_llama_dir: Path) -> Path:
    """The shared tiny random Llama (tests/conftest.py) with the default model's tokenizer."""
    return tiny_llama_dir


@pytest.fixture(scope="module")
def tiny(tiny_dir: Path):
    from srllm.models import load_causal_lm

    return load_causal_lm(str(tiny_dir))


def _one_at_a_time(model, tokenizer, sentence: str) -> float:
    import torch

    from srllm.evaluate.experiments.stereoset import start_token_id

    ids = torch.tensor([[start_token_id(tokenizer)] + tokenizer(sentence, add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        logprobs = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
    return float(logprobs.gather(-1, ids[0, 1:].unsqueeze(-1)).mean())


def test_batched_likelihoods_equal_unbatched_ones(tiny):
    sentences = ["The nurse was male.", "Short.", "The chess player was a very good hispanic player.", "Short."]
    batched = sentence_log_likelihoods(tiny.model, tiny.tokenizer, sentences, batch_size=3)
    for sentence, value in zip(sentences, batched, strict=True):
        assert value == pytest.approx(_one_at_a_time(tiny.model, tiny.tokenizer, sentence), abs=1e-4)


def test_shared_prefix_scoring_equals_sentence_scoring(tiny):
    items = load_stereoset(FIXTURES / "stereoset_mini.json")
    shared = score_items(tiny.model, tiny.tokenizer, items, batch_size=6)
    sentences = [s for item in items for s in item.sentences]
    plain = sentence_log_likelihoods(tiny.model, tiny.tokenizer, [s.sentence for s in sentences])
    for sentence, value in zip(sentences, plain, strict=True):
        assert shared[sentence.id] == pytest.approx(value, abs=1e-4)


def test_stereoset_experiment_end_to_end(tiny_dir, tmp_path):
    from srllm.evaluate.experiments import run_experiment

    run = run_experiment("stereoset", {"model": str(tiny_dir), "data": str(FIXTURES / "stereoset_mini.json"),
                                       "variants": ["base", "sr-llm"]}, out_dir=tmp_path / "run")
    results = json.loads((run / "results.json").read_text())
    overall = results["metrics"]["variants"]["base"]["overall"]
    assert overall["count"] == 8
    assert 0 <= overall["lms"] <= 100 and 0 <= overall["ss"] <= 100
    assert overall["icat"] == pytest.approx(stereoset_icat(overall["lms"], overall["ss"]))
    # no adapter is shipped for a tiny local model: the sr-llm variant is skipped with a note
    assert any("sr-llm" in note for note in results["notes"])
    metadata = json.loads((run / "metadata.json").read_text())
    assert metadata["data_files"][0]["sha256"] and metadata["libraries"]["torch"]
    assert metadata["models"][0]["name"] == str(tiny_dir)
    predictions = json.loads((run / "predictions_base.json").read_text())
    assert len(predictions["intrasentence"]) == 24
    assert "| base | overall | 8 |" in (run / "tables.md").read_text()
