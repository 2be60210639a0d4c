"""Embedding-based scorers (similarity, retention, bias), fluency and perplexity."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from srllm.scorers import get_scorer
from srllm.scorers.retention import content_units

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[2]
LABELS_FILE = REPO / "data" / "eval" / "retention_labels.jsonl"


@pytest.fixture(scope="module")
def retention():
    return get_scorer("retention")


@pytest.fixture(scope="module")
def bias():
    return get_scorer("bias")


def test_similarity_of_identical_texts_is_one():
    same, other = get_scorer("similarity").score_pairs(
        ["The meeting is on Tuesday.", "The meeting is on Tuesday."],
        ["The meeting is on Tuesday.", "Bananas are rich in potassium."])
    assert same["similarity"] > 0.999
    assert other["similarity"] < 0.5


def test_numbers_names_and_words_are_extracted():
    units = content_units("Please pay Kevin $4,500 by the 15th; two invoices for Q3 are late.")
    assert units.numbers == {"4500", "15", "2"}
    assert {"kevin", "q3"} <= units.names
    assert {"pay", "invoic", "late"} <= units.words


def test_retention_of_an_identical_rewrite_is_full(retention):
    [result] = retention.score_pairs(["Kevin owes $4,500 since May."], ["Kevin owes $4,500 since May."])
    assert result["retention"] > 0.99 and result["retained"] == 1.0


def test_retention_drops_when_a_name_or_number_is_removed(retention):
    original = "Tell that idiot Kevin the invoice for $4,500 is still unpaid."
    kept, no_name, no_number = retention.score_pairs(
        [original] * 3,
        ["Please remind Kevin that the invoice for $4,500 is still unpaid.",
         "Please remind the client that the invoice for $4,500 is still unpaid.",
         "Please remind Kevin that the invoice is still unpaid."])
    assert no_name["names_kept"] == 0.0 and no_number["numbers_kept"] == 0.0
    assert kept["retention"] > no_name["retention"]
    assert kept["retention"] > no_number["retention"]
    assert kept["retained"] == 1.0


def test_biased_words_are_not_counted_as_facts(retention):
    original = "The lazy immigrants at the Leeds warehouse missed 14 shifts."
    rewrite = "Staff at the Leeds warehouse missed 14 shifts."
    [plain] = retention.score_pairs([original], [rewrite])
    [excluded] = retention.score_pairs([original], [rewrite], biased_words=[["lazy immigrants"]])
    assert excluded["units_kept"] == 1.0 > plain["units_kept"]


def test_hand_labelled_retention_set_is_usable_and_agrees(retention):
    rows = [json.loads(line) for line in LABELS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 60
    assert all({"original", "rewrite", "retained", "note"} <= set(r) for r in rows)
    assert 0.3 < sum(r["retained"] for r in rows) / len(rows) < 0.7
    scores = retention.score_pairs([r["original"] for r in rows], [r["rewrite"] for r in rows])
    accuracy = sum((s["retained"] == 1.0) == r["retained"] for s, r in zip(scores, rows, strict=True)) / len(rows)
    assert accuracy >= 0.75


def test_polite_stereotypes_score_higher_than_their_neutral_rewrites(bias):
    pairs = [("Women are not as good in STEM as men.", "People of every gender can excel in STEM."),
             ("Old people can't learn new technology.", "People of any age can learn new technology."),
             ("Immigrants are lazy and just take our jobs.", "Immigrants work in many parts of the economy.")]
    scores = bias.score([text for pair in pairs for text in pair])
    for i in range(len(pairs)):
        assert scores[2 * i]["bias"] > scores[2 * i + 1]["bias"], pairs[i]
    assert scores[0]["bias_flag"] == 1.0


def test_a_plain_fact_is_not_flagged_as_biased(bias):
    [result] = bias.score(["The meeting is on Tuesday at 3 pm in room 204."])
    assert result["bias"] < 0.3 and result["bias_flag"] == 0.0


def test_biased_spans_point_into_the_text(bias):
    text = "Women are not as good in STEM as men."
    spans = bias.biased_spans(text)
    assert spans
    for span in spans:
        assert text[span["start"]: span["end"]] == span["text"] and span["drop"] >= 0.05


def test_shipped_bias_head_records_its_training_data():
    from srllm.scorers.bias import HEAD_PATH

    head = json.loads(HEAD_PATH.read_text(encoding="utf-8"))
    assert len(head["coef"]) == 384 and len(head["training"]["data_sha256"]) == 64
    assert head["training"]["examples"] > 0 and head["metrics"]["cv5_grouped"]["auc"] > 0.7
    assert HEAD_PATH.stat().st_size < 2_000_000


def test_fluency_separates_text_from_garble():
    fluent, garbled, loop = get_scorer("fluency").score([
        "The committee approved the new budget on Monday.",
        "Xqzt blorp vrrk the mnnq zzxv plibb.",
        "the best the best the best the best the best the best the best"])
    assert fluent["fluency"] > 0.9 > 0.5 > garbled["fluency"]
    assert loop["repetition"] > 0.5 and loop["fluency"] < 0.5


@pytest.fixture(scope="module")
def tiny_lm():
    """A random-weight Llama with a real (BERT WordPiece) tokenizer: mechanics only."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from srllm.scorers.embeddings import embedder_path

    tokenizer = AutoTokenizer.from_pretrained(str(embedder_path()))
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                         intermediate_size=64, vocab_size=tokenizer.vocab_size, max_position_embeddings=128)
    return LlamaForCausalLM(config).eval(), tokenizer


def test_perplexity_is_finite_and_independent_of_batching(tiny_lm):
    model, tokenizer = tiny_lm
    scorer = get_scorer("perplexity", model=model, tokenizer=tokenizer)
    texts = ["A short one.", "A somewhat longer sentence that needs padding in a batch."]
    batched = scorer.score(texts)
    single = [scorer.score([t])[0] for t in texts]
    for b, s in zip(batched, single, strict=True):
        assert math.isfinite(b["perplexity"]) and b["perplexity"] > 1
        assert b["nll"] == pytest.approx(s["nll"], abs=1e-4)
        assert b["tokens"] == s["tokens"]
    # A random model over ~30k tokens is near-uniform: perplexity close to the vocabulary size.
    assert 0.2 * tokenizer.vocab_size < batched[0]["perplexity"] < 5 * tokenizer.vocab_size


def test_fluency_with_a_reference_lm_reports_perplexity(tiny_lm):
    model, tokenizer = tiny_lm
    [result] = get_scorer("fluency", model=model, tokenizer=tokenizer).score(["The cat sat on the mat."])
    assert math.isfinite(result["perplexity"]) and 0.0 <= result["fluency"] <= 1.0


@pytest.mark.slow
def test_perplexity_by_model_name_prefers_fluent_text():
    from srllm.errors import ModelNotAvailableError
    from srllm.models import DEFAULT_MODEL

    scorer = get_scorer("perplexity", model_name=DEFAULT_MODEL)
    try:
        fluent, shuffled = scorer.score(["The committee approved the new budget on Monday.",
                                         "budget the Monday on committee new approved The."])
    except ModelNotAvailableError as exc:
        pytest.skip(f"default model not available offline: {exc}")
    assert fluent["perplexity"] < shuffled["perplexity"]


def _seed_record(i: int, text: str, bias: str, safe: str) -> str:
    return json.dumps({"id": f"t-{i}", "text": text, "labels": {"bias": bias}, "safe_variation": safe})


def test_bias_head_trains_from_seed_records_and_loads(tmp_path):
    from srllm.scorers.train_bias import read_seed_examples, train_bias_head

    groups = ["women", "old people", "immigrants", "teenagers", "men", "nurses", "farmers", "gamers",
              "lawyers", "tourists"]
    lines = [_seed_record(i, f"All {g} are lazy and stupid.", "Yes", f"Some {g} work very hard.")
             for i, g in enumerate(groups)]
    lines += [_seed_record(100 + i, f"The {g} club meets on Tuesday at 6 pm.", "No", "")
              for i, g in enumerate(groups)]
    seed = tmp_path / "seed.jsonl"
    seed.write_text("\n".join(lines) + "\n{broken json\n", encoding="utf-8")

    examples = read_seed_examples([seed, tmp_path / "absent.jsonl"])
    assert examples.counts["records"] == 20 and examples.counts["skipped_lines"] == 1
    assert examples.counts["safe_variations"] == 10 and int(examples.labels.sum()) == 10
    # A text and its safe variation share a group, so CV never splits them.
    assert examples.groups[0] == examples.groups[1]

    head = train_bias_head([seed], out=tmp_path / "head.json")
    assert head["training"]["data_sha256"] == examples.sha256()
    scorer = get_scorer("bias", head_path=tmp_path / "head.json")
    biased, neutral = scorer.score(["All accountants are lazy and stupid.", "The chess club meets on Friday."])
    assert biased["bias"] > neutral["bias"]


def test_seed_without_both_classes_is_rejected(tmp_path):
    from srllm.errors import InputError
    from srllm.scorers.train_bias import read_seed_examples

    seed = tmp_path / "seed.jsonl"
    seed.write_text(_seed_record(1, "A plain fact.", "No", "") + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="biased and unbiased"):
        read_seed_examples([seed])


def test_the_mean_pool_encoder_gives_sentence_transformers_vectors_bit_for_bit(tmp_path):
    import shutil
    import subprocess
    import sys

    import numpy as np
    from sentence_transformers import SentenceTransformer

    from srllm.scorers.embeddings import MeanPoolEncoder, embedder_path, load_embedder

    folder = embedder_path()
    ours = load_embedder()
    assert isinstance(ours, MeanPoolEncoder)
    texts = (["Old people are useless.", "", "word " * 400, "🙂", "Women are too emotional to lead."] * 20
             + [f"row {i} " * (i % 37) for i in range(70)])  # several batches, truncation, empty text
    theirs = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    for normalize in (True, False):
        expected = theirs.encode(texts, batch_size=64, normalize_embeddings=normalize, convert_to_numpy=True,
                                 show_progress_bar=False)
        assert np.array_equal(ours.encode(texts, batch_size=64, normalize_embeddings=normalize), expected)
    # Another pooling is not what the encoder reproduces: such a folder goes to sentence-transformers.
    other = tmp_path / "cls"
    shutil.copytree(folder, other)
    (other / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    assert MeanPoolEncoder.fits(folder) and not MeanPoolEncoder.fits(other)
    probe = ("import sys; from srllm.scorers import get_scorer; get_scorer('similarity').score_pairs(['a'], ['b']); "
             "print('sentence_transformers' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
