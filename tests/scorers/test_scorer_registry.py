"""Registry mechanics, input checks and the clear errors of unconfigured scorers (no models loaded)."""

from __future__ import annotations

import pytest

from srllm.errors import InputError, ModelNotAvailableError, SrllmError
from srllm.scorers import ScorerNotConfiguredError, base, get_scorer, list_scorers
from srllm.scorers.retention import parse_judge_answer

BUILT_IN = {"toxicity", "profanity", "perspective", "openai-moderation", "detoxify", "sentiment",
            "similarity", "perplexity", "fluency", "retention", "bias"}


@pytest.fixture
def echo_scorer():
    """A throw-away scorer registered for one test, recording its batches."""

    @base.register_scorer("test-echo")
    class Echo(base.Scorer):
        batches: list[list[str]]

        def load(self) -> None:
            self.batches = []

        def _score_batch(self, texts):
            self.batches.append(texts)
            return [{"length": float(len(t))} for t in texts]

    yield Echo
    base.SCORERS.remove("test-echo")


def test_all_built_in_scorers_are_listed():
    assert BUILT_IN <= set(list_scorers())


def test_alias_resolves_to_the_same_class():
    assert type(get_scorer("jigsaw")) is type(get_scorer("toxicity"))


def test_unknown_scorer_names_the_choices():
    with pytest.raises(InputError, match="unknown scorer 'nope'.*toxicity"):
        get_scorer("nope")


def test_registering_a_name_twice_fails(echo_scorer):
    with pytest.raises(SrllmError, match="registered twice"):
        base.register_scorer("test-echo")(type("Other", (base.Scorer,), {}))


def test_batches_keep_order_and_size(echo_scorer):
    scorer = get_scorer("test-echo", batch_size=2, progress=True)
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]
    assert [r["length"] for r in scorer.score(texts)] == [1, 2, 3, 4, 5]
    assert [len(b) for b in scorer.batches] == [2, 2, 1]


def test_a_single_string_is_rejected(echo_scorer):
    with pytest.raises(InputError, match="single string"):
        get_scorer("test-echo").score("hello")


def test_non_string_items_are_rejected(echo_scorer):
    with pytest.raises(InputError, match="item 1 is int"):
        get_scorer("test-echo").score(["ok", 3])


def test_pair_lengths_must_match():
    with pytest.raises(InputError, match="2 sources but 1 targets"):
        get_scorer("similarity").score_pairs(["a", "b"], ["a"])


def test_pairwise_scorer_refuses_single_texts():
    with pytest.raises(SrllmError, match="pairwise"):
        get_scorer("retention").score(["a"])


def test_single_text_scorer_refuses_pairs():
    with pytest.raises(SrllmError, match="single texts"):
        get_scorer("sentiment").score_pairs(["a"], ["b"])


def test_perspective_without_key_says_which_variable(monkeypatch):
    monkeypatch.delenv("PERSPECTIVE_API_KEY", raising=False)
    with pytest.raises(ScorerNotConfiguredError, match="PERSPECTIVE_API_KEY"):
        get_scorer("perspective")


def test_openai_moderation_without_key_says_which_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ScorerNotConfiguredError, match="OPENAI_API_KEY"):
        get_scorer("openai-moderation")


def test_openai_moderation_base_url_is_configurable(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:9999/v1/")
    scorer = get_scorer("openai-moderation", api_key="k")
    assert scorer.base_url == "http://localhost:9999/v1"


def test_detoxify_without_package_or_checkpoint_is_explained(monkeypatch, tmp_path):
    monkeypatch.delenv("SRLLM_DETOXIFY_CHECKPOINT", raising=False)
    with pytest.raises(ScorerNotConfiguredError, match="detoxify|checkpoint"):
        get_scorer("detoxify", checkpoint=tmp_path / "missing.ckpt")


def test_retention_judge_without_endpoint_is_explained(monkeypatch):
    for name in ("SRLLM_JUDGE_BASE_URL", "OPENAI_BASE_URL", "SRLLM_JUDGE_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ScorerNotConfiguredError, match="SRLLM_JUDGE_BASE_URL"):
        get_scorer("retention", backend="llm-judge")


def test_retention_judge_accepts_a_local_endpoint_without_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("SRLLM_JUDGE_API_KEY", raising=False)
    scorer = get_scorer("retention", backend="llm-judge", judge={"base_url": "http://localhost:8000/v1"})
    assert scorer.judge.base_url == "http://localhost:8000/v1"


def test_unknown_retention_backend_is_rejected():
    with pytest.raises(InputError, match="backend"):
        get_scorer("retention", backend="magic")


def test_judge_answer_is_parsed_from_a_fenced_reply():
    reply = '```json\n{"facts": [{"fact": "Kevin owes $4,500", "verdict": "yes"}, {"fact": "x", "verdict": "no"}]}\n```'
    assert [f["verdict"] for f in parse_judge_answer(reply)] == ["yes", "no"]


def test_judge_answer_without_json_is_an_error():
    with pytest.raises(SrllmError, match="JSON"):
        parse_judge_answer("I think most facts are kept.")


def test_perplexity_needs_a_model():
    with pytest.raises(SrllmError, match="reference LM"):
        get_scorer("perplexity")


def test_missing_jigsaw_files_are_named(monkeypatch, tmp_path):
    monkeypatch.setenv("SRLLM_JIGSAW_DIR", str(tmp_path))
    with pytest.raises(ModelNotAvailableError, match="model.weights.h5"):
        get_scorer("toxicity").score(["hello"])


def test_bad_embedder_path_is_named(monkeypatch, tmp_path):
    from srllm.scorers.embeddings import embedder_path

    monkeypatch.setenv("SRLLM_EMBEDDER", str(tmp_path / "nowhere"))
    with pytest.raises(ModelNotAvailableError, match="SRLLM_EMBEDDER"):
        embedder_path()


def test_missing_bias_head_says_how_to_train(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="train_bias"):
        get_scorer("bias", head_path=tmp_path / "none.json").score(["x"])


def test_threshold_search_picks_the_middle_of_the_best_cuts():
    import numpy as np

    from srllm.scorers.calibrate_retention import _best_threshold

    values = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    labels = np.array([False, False, False, True, True, True])
    threshold, accuracy = _best_threshold(values, labels)
    assert accuracy == 1.0 and 0.3 < threshold < 0.7


def test_retention_halves_depend_only_on_the_original():
    from srllm.scorers.calibrate_retention import split_half

    row = {"original": "Kevin owes $4,500.", "rewrite": "a"}
    assert split_half(row) == split_half(dict(row, rewrite="b")) in (0, 1)
