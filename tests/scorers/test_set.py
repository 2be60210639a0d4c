"""ScorerSet: the one cache of built scorers behind the guard, the service and the experiments."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from srllm.errors import InputError
from srllm.scorers import ScorerNotConfiguredError, ScorerSet, base


@pytest.fixture
def counted() -> Iterator[dict[str, int]]:
    """Two throw-away scorers (one pairwise) registered for one test; `loads` counts their model loads."""
    loads = {"single": 0, "pair": 0}

    @base.register_scorer("test-single")
    class Single(base.Scorer):
        main_key = "length"

        def load(self) -> None:
            loads["single"] += 1

        def _score_batch(self, texts):
            return [{"length": float(len(t)), "other": 0.0} for t in texts]

    @base.register_scorer("test-pair")
    class Pair(base.Scorer):
        pairwise = True

        def load(self) -> None:
            loads["pair"] += 1

        def _score_pair_batch(self, sources, targets):
            return [{"test-pair": float(s == t)} for s, t in zip(sources, targets, strict=True)]

    yield loads
    base.SCORERS.remove("test-single")
    base.SCORERS.remove("test-pair")


def test_an_unknown_name_fails_when_the_set_is_made() -> None:
    with pytest.raises(InputError, match="unknown scorer 'profanty'.*did you mean 'profanity'"):
        ScorerSet(["toxicity", "profanty"])


def test_each_scorer_is_built_and_loaded_once_for_every_caller(counted: dict[str, int]) -> None:
    scorers = ScorerSet(["test-single", "test-pair"])
    got: list[base.Scorer] = []
    threads = [threading.Thread(target=lambda: got.append(scorers["test-single"])) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(scorer) for scorer in got}) == 1
    assert counted == {"single": 0, "pair": 0} and not scorers.built  # building loads nothing
    scorers.load().load()
    assert counted == {"single": 1, "pair": 1} and scorers.built
    scorers.load(warm_up=True)
    assert counted == {"single": 1, "pair": 1}


def test_scores_per_text_by_name_with_pairwise_against_the_originals(counted: dict[str, int]) -> None:
    scorers = ScorerSet(["test-single", "test-pair"])
    rows = scorers.score(["ab", "c"], ["test-single", "test-pair"], originals=["ab", "x"])
    assert rows == [{"test-single": {"length": 2.0, "other": 0.0}, "test-pair": {"test-pair": 1.0}},
                    {"test-single": {"length": 1.0, "other": 0.0}, "test-pair": {"test-pair": 0.0}}]
    assert scorers.is_pairwise("test-pair") and not scorers.is_pairwise("test-single")
    assert scorers.main_value("test-single", rows[0]["test-single"]) == 2.0
    assert scorers.main_value("test-pair", rows[0]["test-pair"]) == 1.0  # no main key: the scorer's name
    with pytest.raises(KeyError, match="not in this set"):
        scorers["profanity"]


def test_a_scorer_that_cannot_load_raises_its_own_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERSPECTIVE_API_KEY", raising=False)
    with pytest.raises(ScorerNotConfiguredError):
        ScorerSet(["perspective"]).load()


def test_a_factory_builds_a_scorer_that_needs_arguments(counted: dict[str, int]) -> None:
    built = []

    def factory() -> base.Scorer:
        built.append(base.get_scorer("test-single", batch_size=1))
        return built[-1]

    scorers = ScorerSet(["test-single"], factories={"test-single": factory})
    assert scorers["test-single"] is scorers["test-single"] is built[0] and len(built) == 1
    assert scorers["test-single"].batch_size == 1
