"""Local toxicity (Jigsaw port), profanity and sentiment on known inputs."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from srllm.scorers import get_scorer
from srllm.scorers.jigsaw import LABELS, MAXLEN, _TokenizerUnpickler

TOXIC = "You are a complete idiot and I hate you."
BENIGN = "Thank you for the helpful edit, I appreciate it."
# Outputs of the original Keras model (toxic-comment-classifier 0.3.0 with TensorFlow 2.21),
# recorded once; the torch port must reproduce them without TensorFlow.
KERAS_REFERENCE = {
    TOXIC: (0.993188, 0.181762, 0.841229, 0.033847, 0.887308, 0.158101),
    BENIGN: (0.002608, 8e-06, 0.000621, 1.4e-05, 0.00057, 5.7e-05),
    "I will kill you and your family.": (0.797015, 0.109353, 0.231161, 0.237254, 0.445034, 0.175528),
}


@pytest.fixture(scope="module")
def toxicity():
    scorer = get_scorer("toxicity")
    scorer.score(["warm up"])
    return scorer


def test_port_matches_the_keras_model(toxicity):
    texts = list(KERAS_REFERENCE)
    got = toxicity.probabilities(texts)
    assert np.abs(got - np.array([KERAS_REFERENCE[t] for t in texts])).max() < 1e-5


def test_toxic_and_benign_separate(toxicity):
    toxic, benign = toxicity.score([TOXIC, BENIGN])
    assert set(LABELS) <= set(toxic)
    assert toxic["toxic"] > 0.9 and benign["toxic"] < 0.05
    assert toxic["toxic_flag"] == 1.0 and benign["toxic_flag"] == 0.0


def test_batched_equals_one_by_one(toxicity):
    texts = [TOXIC, BENIGN, "", "Shut up, moron."]
    batched = toxicity.probabilities(texts)
    single = np.vstack([toxicity.probabilities([t]) for t in texts])
    assert np.allclose(batched, single, atol=1e-6)


def test_tokenizer_pads_and_truncates_at_the_front_like_keras(toxicity):
    tok = toxicity.tokenizer
    ids = tok.encode(["the cat", " ".join(["idiot"] + ["the"] * (MAXLEN + 5))])
    assert ids.shape == (2, MAXLEN)
    assert ids[0, :-2].sum() == 0 and ids[0, -1] == tok.word_index["cat"]
    # keras' pad_sequences(truncating="pre") drops the first words of a long text.
    assert tok.word_index["idiot"] not in ids[1]


def test_tokenizer_unpickler_refuses_other_globals():
    import os

    payload = pickle.dumps(os.getcwd)
    import io

    with pytest.raises(pickle.UnpicklingError, match="unexpected global"):
        _TokenizerUnpickler(io.BytesIO(payload)).load()


def test_profanity_separates():
    scores = get_scorer("profanity").score(["you are a fucking idiot", "have a nice day"])
    assert scores[0]["profanity"] > 0.8 > 0.2 > scores[1]["profanity"]
    assert scores[0]["profanity_flag"] == 1.0


def test_sentiment_signs():
    good, bad = get_scorer("sentiment").score(["I love this, it is wonderful!", "This is awful and I hate it."])
    assert good["compound"] > 0.5 and bad["compound"] < -0.5
    assert set(good) == {"compound", "pos", "neu", "neg"}
